#!/usr/bin/env bash
# A run survives its processes (issue 10 items 1-2): `ef21 aggregator` + two `ef21 worker`s with
# --state-dir on loopback, breast-cancer (683 clients), norm-ef21-sgdm with minibatches (momentum
# v_i only the workers hold).
#  - aggregator killed during a checkpoint write: EF21_TEST_CHECKPOINT_KILL=3 makes it SIGKILL
#    itself halfway through its third checkpoint (checkpoint.bin.tmp half written); restarted with
#    the same flags it resumes from the second checkpoint with the same run id;
#  - aggregator kill -9 at a seeded random round, restarted again;
#  - the workers reattach by themselves (never restarted, exit 0), and metrics.csv columns 1-9
#    equal `ef21 simulate`'s byte for byte;
#  - all of this with --downlink=delta: the hosts keep x and g themselves and advance them from
#    each round's delta; every resumed aggregator resynchronizes them (x and g as checkpointed) on
#    reattach and then sends deltas again (ef21_downlink_messages_total{kind} of the last one: a
#    resync per host, deltas, no dense x) — a replica left off by a single bit would change the
#    gradients and the rows;
#  - the finished run stays served: health SERVING after the last round, exit 0 on SIGTERM; an
#    aggregator started on the finished directory serves it (a worker attaching is told the run is
#    over and exits 0) and changes no file;
#  - worker kill -9 at a seeded random round (norm-ef21-sgdm --batch=4, ef14 with
#    --downlink=delta), restarted with the same --state-dir: equal to the simulation; without
#    --state-dir the momentum is rebuilt by policy and the run differs (the test would see a
#    state-dir that did nothing);
#  - partial participation (--participation=0.5): a worker kill -9 with --state-dir and an
#    aggregator kill -9 resumed from its checkpoint (with --downlink=delta) both end equal to the
#    simulation;
#  - refusals: another configuration in --out (names what differs), a directory with rows and no
#    checkpoint, simulate into an existing run directory without --overwrite — each exits non-zero
#    and changes no file; --overwrite replaces.
# Waits poll files in bounded loops of builtins (no fork per poll); nothing relies on a fixed sleep.
# Usage: federation_resume_test.sh <ef21-binary> <source-dir>
set -euo pipefail
bin=$1
src=$2
source "$src/tools/lib/e2e.sh"
source "$src/tools/lib/federation.sh"
e2e_workdir
metrics_port_of() { has_line "$1" '^metrics on port ([0-9]+)$' && mport=${BASH_REMATCH[1]}; }
# ef21_downlink_messages_total{kind="$2"} of the aggregator whose /metrics is on port $1 (plain
# HTTP/1.0 over bash's /dev/tcp).
downlink_messages() {
  local line
  ( exec 3<> "/dev/tcp/127.0.0.1/$1" &&
    printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
    while IFS= read -r -t 5 line <&3; do
      line=${line%$'\r'}
      case $line in "ef21_downlink_messages_total{kind=\"$2\"} "*) line=${line##* }; echo "${line%.*}" ;; esac
    done ) 2>/dev/null || true
}
digest() { cat "$@" | md5sum | cut -d' ' -f1; }

########################################## aggregator: kill -9 during a checkpoint write, then at a random round
RANDOM=3407  # the seed of the choices below
rounds=1500
every=$((30 + RANDOM % 40))
kill_round=$((4 * every + 100 + RANDOM % 600))
flags=("${problem[@]}" --algorithm=norm-ef21-sgdm --k=1 --rounds=$rounds --downlink=delta)
agg_flags=("${flags[@]}" --out="$work/run" --checkpoint-every=$every --checkpoint-seconds=0)
"$bin" simulate "${flags[@]}" --out="$work/sim" > /dev/null
started=$SECONDS
workers=()
ok=1
if EF21_TEST_CHECKPOINT_KILL=3 start_aggregator "$work/a1" "${agg_flags[@]}"; then
  start_worker 0 "$work/w0.log" --state-dir="$work/state"
  start_worker 1 "$work/w1.log" --state-dir="$work/state"
  wait_exit "$agg" 60
  count_rows "$work/run/metrics.csv"
  tmp_size=$(stat -c %s "$work/run/checkpoint.bin.tmp" 2>/dev/null || echo 0)
  size=$(stat -c %s "$work/run/checkpoint.bin" 2>/dev/null || echo 0)
  if [ "$rc" = 137 ] && [ "$tmp_size" -gt 0 ] && [ "$tmp_size" -lt "$size" ]; then
    pass "aggregator killed itself (SIGKILL) halfway through checkpoint 3 at $nrows rows: checkpoint.bin.tmp $tmp_size of $size bytes"
  else
    fail "the checkpoint-write kill: exit $rc, checkpoint.bin.tmp $tmp_size bytes, checkpoint.bin $size: $(tail -n 2 "$work/a1.err")"
    ok=0
  fi
  AGG_PORT=$port start_aggregator "$work/a2" "${agg_flags[@]}" || ok=0
  if [ $ok = 1 ] && has_line "$work/a2.out" "resumed at round $every\)$"; then
    pass "restarted: $match"
  else
    fail "restart after the checkpoint-write kill did not resume at round $every: $(cat "$work/a2.out") $(tail -n 2 "$work/a2.err")"
    ok=0
  fi
  if [ $ok = 1 ] && wait_for 120 rows_at_least "$work/run/metrics.csv" "$kill_round"; then
    kill -9 "$agg"
    wait "$agg" 2>/dev/null || true
    count_rows "$work/run/metrics.csv"
    killed_at=$nrows
    AGG_PORT=$port start_aggregator "$work/a3" "${agg_flags[@]}" --metrics-listen=127.0.0.1:0 || ok=0
    if [ $ok = 1 ] && has_line "$work/a3.out" "resumed at round [0-9]+\)$"; then
      pass "aggregator kill -9 at $killed_at rows (target $kill_round); $match"
    else
      fail "the restart after kill -9 at $killed_at rows did not resume: $(cat "$work/a3.out") $(tail -n 2 "$work/a3.err")"
      ok=0
    fi
  else
    fail "round $kill_round never reached after the first restart: $(tail -n 2 "$work/a2.err") $(tail -n 1 "$work/w0.log")"
    ok=0
  fi
  for i in 0 1; do
    wait_exit "${workers[$i]}" 120
    if [ "$rc" != 0 ]; then
      fail "worker $i exit $rc: $(tail -n 2 "$work/w$i.log")"
      ok=0
    fi
  done
  ids=()
  for a in a1 a2 a3; do
    has_line "$work/$a.out" '^run ([0-9a-f]+):' && ids+=("${BASH_REMATCH[1]}")
  done
  if [ ${#ids[@]} = 3 ] && [ "${ids[0]}" = "${ids[1]}" ] && [ "${ids[1]}" = "${ids[2]}" ]; then
    pass "one run id across three aggregators: ${ids[0]}; both workers reattached by themselves and exit 0"
  else
    fail "run ids ${ids[*]}"
  fi
  count_rows "$work/run/metrics.csv"
  if [ "$nrows" = $((rounds + 1)) ] && same_metrics "$work/sim/metrics.csv" "$work/run/metrics.csv"; then
    pass "$rounds rounds (checkpoint every $every): metrics.csv columns 1-9 equal the simulation ($((SECONDS - started)) s)"
  else
    fail "metrics.csv ($nrows rows) differs from the simulation:"
    diff <(cut -d, -f1-9 "$work/sim/metrics.csv") <(cut -d, -f1-9 "$work/run/metrics.csv") | head -n 6 || true
  fi

  # The last resumed aggregator resynchronized both hosts, then sent only deltas.
  mport=
  metrics_port_of "$work/a3.out" || true
  resync=$(downlink_messages "$mport" resync)
  delta=$(downlink_messages "$mport" delta)
  dense=$(downlink_messages "$mport" dense)
  if [ -n "$mport" ] && [ "${resync:-0}" -ge 2 ] && [ "${delta:-0}" -gt 0 ] && [ "${dense:-x}" = 0 ]; then
    pass "--downlink=delta across the resume: the resumed aggregator sent $resync resyncs, $delta deltas, $dense dense"
  else
    fail "the resumed aggregator's RoundStarts: metrics port '${mport}', resync '${resync:-}', delta '${delta:-}', dense '${dense:-}'"
  fi

  # The finished run stays served until SIGTERM.
  if has_line "$work/a3.out" "complete; serving it until SIGTERM" &&
     "$bin" health --target=127.0.0.1:"$port" > /dev/null 2>&1; then
    pass "the finished run is still served: health SERVING"
  else
    fail "the finished run is not served: $(tail -n 2 "$work/a3.out") $(tail -n 2 "$work/a3.err")"
  fi
  kill -TERM "$agg"
  wait_exit "$agg" 30
  [ "$rc" = 0 ] && pass "SIGTERM: the serving aggregator exits 0" || fail "SIGTERM: the serving aggregator exit $rc"

  # Started again on the finished directory: serves it, changes nothing.
  before=$(digest "$work/run/metrics.csv" "$work/run/summary.json" "$work/run/checkpoint.bin" "$work/run/config.json")
  if AGG_PORT=$port start_aggregator "$work/a4" "${agg_flags[@]}" &&
     wait_for 30 has_line "$work/a4.out" "serving it until SIGTERM"; then
    start_worker 0 "$work/w0-late.log" --state-dir="$work/state"
    wait_exit "${workers[0]}" 30
    late_rc=$rc
    kill -TERM "$agg"
    wait_exit "$agg" 30
    after=$(digest "$work/run/metrics.csv" "$work/run/summary.json" "$work/run/checkpoint.bin" "$work/run/config.json")
    if [ "$late_rc" = 0 ] && [ "$rc" = 0 ] && [ "$before" = "$after" ] &&
       has_line "$work/a4.out" "complete: serving the finished run"; then
      pass "an aggregator started on the finished run serves it ($match); a late worker exits 0; no file changed"
    else
      fail "restart on the finished run: late worker $late_rc, aggregator $rc, files $before -> $after: $(cat "$work/a4.out") $(tail -n 2 "$work/w0-late.log")"
    fi
  else
    fail "an aggregator on the finished run: $(cat "$work/a4.out" 2>/dev/null) $(tail -n 2 "$work/a4.err")"
  fi
else
  ok=0
fi

########################################## worker kill -9 at a seeded random round
# tools/lib/federation.sh's worker_crash (the default mode: the aggregator keeps g_i).
for algorithm in "--algorithm=norm-ef21-sgdm --k=1" "--algorithm=ef14 --k=1 --downlink=delta"; do
  read -r -a alg <<< "$algorithm"
  name=${alg[0]#--algorithm=}
  worker_crash "$name-state" yes "${alg[@]}"
  if [ "$equal" = 1 ]; then
    pass "$name: worker kill -9 at $killed rows, restarted with its --state-dir: equal to the simulation"
  else
    fail "$name: worker kill -9 at $killed rows with --state-dir: differs from the simulation"
  fi
done
worker_crash "norm-ef21-sgdm-nostate" no --algorithm=norm-ef21-sgdm --k=1
if [ "$equal" = 0 ] && [ "$w1rc" = 0 ] &&
   grep -q "no longer bit-identical" "$work/norm-ef21-sgdm-nostate/w1b.log"; then
  pass "control: without --state-dir the restarted worker's momentum is rebuilt by policy (it says so) and the run differs"
else
  fail "control: without --state-dir: restarted worker exit '$w1rc', equal '$equal' (the kill did not bite?): $(tail -n 2 "$work/norm-ef21-sgdm-nostate/w1b.log")"
fi

########################################## partial participation (EF21-PP, --participation=0.5)
# The draw is a function of (seed, client, round): a resumed aggregator and a restarted worker
# recompute who takes part, and absent clients' kept g_i and v_i survive the kills.
pp=(--algorithm=norm-ef21-sgdm --k=1 --participation=0.5 --stepsize=constant --gamma=0.01 --eta=0.5)
worker_crash "pp-state" yes "${pp[@]}"
if [ "$equal" = 1 ]; then
  pass "partial participation: worker kill -9 at $killed rows, restarted with its --state-dir: equal to the simulation"
else
  fail "partial participation: worker kill -9 at $killed rows with --state-dir: differs from the simulation"
fi
pp_dir=$work/pp-agg
mkdir -p "$pp_dir"
pp_flags=("${problem[@]}" "${pp[@]}" --rounds=500 --downlink=delta)
pp_kill=$((100 + RANDOM % 300))
"$bin" simulate "${pp_flags[@]}" --out="$pp_dir/sim" > /dev/null
if start_aggregator "$pp_dir/a1" "${pp_flags[@]}" --out="$pp_dir/run" --checkpoint-every=40 \
     --checkpoint-seconds=0 --exit-when-complete; then
  workers=()
  start_worker 0 "$pp_dir/w0.log" --state-dir="$pp_dir/state"
  start_worker 1 "$pp_dir/w1.log" --state-dir="$pp_dir/state"
  if wait_for 60 rows_at_least "$pp_dir/run/metrics.csv" "$pp_kill"; then
    kill -9 "$agg"
    wait "$agg" 2>/dev/null || true
    count_rows "$pp_dir/run/metrics.csv"
    pp_killed=$nrows
    if AGG_PORT=$port start_aggregator "$pp_dir/a2" "${pp_flags[@]}" --out="$pp_dir/run" \
         --checkpoint-every=40 --checkpoint-seconds=0 --exit-when-complete; then
      bad=0
      for i in 0 1; do
        wait_exit "${workers[$i]}" 120
        [ "$rc" = 0 ] || { bad=1; fail "partial participation: worker $i exit $rc: $(tail -n 2 "$pp_dir/w$i.log")"; }
      done
      wait_exit "$agg" 60
      [ "$rc" = 0 ] || { bad=1; fail "partial participation: resumed aggregator exit $rc: $(tail -n 2 "$pp_dir/a2.err")"; }
      if [ $bad = 0 ] && has_line "$pp_dir/a2.out" "resumed at round [0-9]+\)$" &&
         same_metrics "$pp_dir/sim/metrics.csv" "$pp_dir/run/metrics.csv"; then
        pass "partial participation: aggregator kill -9 at $pp_killed rows, $match: equal to the simulation"
      else
        fail "partial participation: aggregator kill -9 at $pp_killed rows: resumed run differs from the simulation"
        diff <(cut -d, -f1-9 "$pp_dir/sim/metrics.csv") <(cut -d, -f1-9 "$pp_dir/run/metrics.csv") | head -n 4 || true
      fi
    fi
  else
    fail "partial participation: round $pp_kill never reached: $(tail -n 2 "$pp_dir/a1.err")"
  fi
fi

########################################## refusals
agg_flags=("${flags[@]}" --out="$work/run")
before=$(digest "$work/run"/*)
rc=0
"$bin" aggregator --insecure --listen=127.0.0.1:0 --clients=$n "${problem[@]}" --algorithm=norm-ef21-sgdm --k=1 \
  --downlink=delta --rounds=$((rounds + 1)) --out="$work/run" > "$work/r1.out" 2> "$work/r1.err" || rc=$?
if [ $rc != 0 ] && grep -q "another configuration (rounds: $rounds there, $((rounds + 1)) here)" "$work/r1.err" &&
   [ "$(digest "$work/run"/*)" = "$before" ]; then
  pass "another configuration in --out refused (exit $rc), nothing changed: $(head -c 200 "$work/r1.err")"
else
  fail "another configuration in --out: exit $rc: $(cat "$work/r1.err")"
fi
before=$(digest "$work/sim"/*)
rc=0
"$bin" aggregator --insecure --listen=127.0.0.1:0 --clients=$n "${flags[@]}" --out="$work/sim" > "$work/r2.out" 2> "$work/r2.err" || rc=$?
if [ $rc != 0 ] && grep -q "already holds a run" "$work/r2.err" && [ "$(digest "$work/sim"/*)" = "$before" ]; then
  pass "an aggregator on simulate's directory (rows, no checkpoint) refused (exit $rc)"
else
  fail "an aggregator on simulate's directory: exit $rc: $(cat "$work/r2.err")"
fi
rc=0
"$bin" simulate "${flags[@]}" --out="$work/sim" > "$work/r3.out" 2> "$work/r3.err" || rc=$?
if [ $rc != 0 ] && grep -q -- "--overwrite" "$work/r3.err" && [ "$(digest "$work/sim"/*)" = "$before" ]; then
  pass "simulate into an existing run directory refused (exit $rc): $(cat "$work/r3.err")"
else
  fail "simulate into an existing run directory: exit $rc: $(cat "$work/r3.err")"
fi
rc=0
"$bin" simulate "${problem[@]}" --algorithm=norm-ef21 --rounds=10 --out="$work/sim" --overwrite > /dev/null 2> "$work/r4.err" || rc=$?
count_rows "$work/sim/metrics.csv"
if [ $rc = 0 ] && [ "$nrows" = 11 ]; then
  pass "simulate --overwrite replaces the run"
else
  fail "simulate --overwrite: exit $rc, $nrows rows: $(cat "$work/r4.err")"
fi

e2e_summary
