# The loopback federation that the resume e2e tests (tests/e2e/federation_resume_test.sh,
# worker_state_resume_test.sh) kill and restart: breast-cancer with one client per row (683
# clients), minibatches of 4, two `ef21 worker` processes for clients 0-340 and 341-682, plaintext.
# Usage: source "$src/tools/lib/federation.sh"   (after tools/lib/e2e.sh; needs $bin and $src)
problem=(--problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=row --batch=4)
n=683
ranges=(0-340 341-682)

start_aggregator() {  # LOG FLAGS...: sets $agg and $port (the port given by AGG_PORT, or a free one)
  local log=$1
  shift
  "$bin" aggregator --insecure --listen=127.0.0.1:"${AGG_PORT:-0}" --clients=$n "$@" > "$log.out" 2> "$log.err" &
  agg=$!
  if ! wait_for 30 find_port "$log.out" listening; then
    fail "aggregator $log did not print 'listening on': $(tail -n 2 "$log.err")"
    return 1
  fi
}
start_worker() {  # I LOG EXTRA...: sets workers[I]
  local i=$1 log=$2
  shift 2
  "$bin" worker --insecure --aggregator=127.0.0.1:"$port" --client-ids="${ranges[$i]}" "${problem[@]}" \
    --connect-timeout-seconds=60 "$@" > "$log" 2>&1 &
  workers[$i]=$!
}

# worker_crash NAME STATE FLAGS...: `ef21 simulate` and a federation of FLAGS (plus --rounds=600;
# the aggregator also gets $CRASH_AGG_FLAGS) in $work/NAME; worker 1 is killed with kill -9 once
# metrics.csv has a seeded random number of rows (50-449, drawn from $RANDOM) and restarted.
# STATE says which worker processes get --state-dir=$work/NAME/state: yes (all), no (none), lost
# (all but the restarted one). Every process must exit 0 — but with STATE lost the restarted
# worker's status is only recorded, and the others are killed once it exits; with STATE yes the
# restarted worker must not rebuild any state by policy ("no longer bit-identical") and, under
# --client-state=worker, must say it rebuilt g_i from its --state-dir. Each failure is reported
# with e2e.sh's fail. Sets $equal (1 when metrics.csv columns 1-9 equal simulate's and nothing
# failed), $killed (rows at the kill) and $w1rc (the restarted worker's exit status).
worker_crash() {
  local name=$1 state=$2
  shift 2
  local flags=("${problem[@]}" "$@" --rounds=600)
  local dir=$work/$name kill_at=$((50 + RANDOM % 400)) first=() again=() agg_extra=() worker_mode=0
  read -r -a agg_extra <<< "${CRASH_AGG_FLAGS:-}"
  case " $* " in *" --client-state=worker "*) worker_mode=1 ;; esac
  [ "$state" = no ] || first=(--state-dir="$dir/state")
  [ "$state" = yes ] && again=(--state-dir="$dir/state")
  mkdir -p "$dir"
  equal=0
  killed=
  w1rc=
  "$bin" simulate "${flags[@]}" --out="$dir/sim" > /dev/null
  start_aggregator "$dir/agg" "${flags[@]}" "${agg_extra[@]}" --out="$dir/run" \
    --exit-when-complete || return 0
  workers=()
  start_worker 0 "$dir/w0.log" "${first[@]}"
  start_worker 1 "$dir/w1.log" "${first[@]}"
  if ! wait_for 60 rows_at_least "$dir/run/metrics.csv" "$kill_at"; then
    fail "$name: round $kill_at never reached: $(tail -n 2 "$dir/agg.err" "$dir/w1.log")"
    return 0
  fi
  kill -9 "${workers[1]}"
  wait "${workers[1]}" 2>/dev/null || true
  count_rows "$dir/run/metrics.csv"
  killed=$nrows
  start_worker 1 "$dir/w1b.log" "${again[@]}"
  wait_exit "${workers[1]}" 120
  w1rc=$rc
  if [ "$state" = lost ]; then
    kill -9 "$agg" "${workers[0]}" 2>/dev/null || true
    wait "$agg" "${workers[0]}" 2>/dev/null || true
    return 0
  fi
  local bad=0
  [ "$w1rc" = 0 ] || { bad=1; fail "$name: restarted worker exit $w1rc: $(tail -n 3 "$dir/w1b.log")"; }
  wait_exit "${workers[0]}" 120
  [ "$rc" = 0 ] || { bad=1; fail "$name: worker 0 exit $rc: $(tail -n 2 "$dir/w0.log")"; }
  wait_exit "$agg" 60
  [ "$rc" = 0 ] || { bad=1; fail "$name: aggregator exit $rc: $(tail -n 2 "$dir/agg.err")"; }
  if [ "$state" = yes ]; then
    if grep -q "no longer bit-identical" "$dir/w1b.log"; then
      bad=1
      fail "$name: the restarted worker rebuilt state by policy: $(grep -m1 "no longer" "$dir/w1b.log")"
    fi
    if [ $worker_mode = 1 ] && ! grep -q "rebuilt from --state-dir" "$dir/w1b.log"; then
      bad=1
      fail "$name: the restarted worker did not say it rebuilt g_i from its --state-dir: $(tail -n 2 "$dir/w1b.log")"
    fi
  fi
  [ $bad = 0 ] && same_metrics "$dir/sim/metrics.csv" "$dir/run/metrics.csv" && equal=1
  return 0
}
