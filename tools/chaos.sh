#!/usr/bin/env bash
# Chaos, end to end (issue 10 item 9): one seeded scenario of failures against a real federation on
# loopback — `ef21 aggregator` behind tools/tcp_proxy.py, two `ef21 worker`s with --state-dir
# reaching it only through the proxy, breast-cancer (683 clients), norm-ef21-sgdm --batch=4 (momentum
# the workers alone hold). At seeded rounds, in a seeded order:
#   worker kill -9 (and restart), aggregator kill -9 (and restart on the same port and --out),
#   connection reset of every stream (proxy SIGUSR1), SIGSTOP of a worker for a while, then SIGCONT,
#   and a hostile client (tests/e2e/hostile_client.py: no credentials, no data) that squats the ids
#   of a worker it just killed with -9 (Attach as them, over and over, while the owner restarts) and
#   floods the aggregator for 3 s: malformed messages, updates it never attached for, 20 MB
#   messages (cap 404 kB), streams held silent. None of it may be accepted.
# The run must finish with every process exiting 0 and metrics.csv columns 1-9 byte-identical to
# `ef21 simulate`'s. Odd seeds run --downlink=delta (hosts advance their own x and g from each
# round's exact delta; every reattach is a resync), even seeds the default --downlink=auto;
# --downlink=MODE sets it for every scenario. --client-state=worker runs the federation with g_i
# kept only by the workers (the aggregator holds a state hash per client): every restarted worker
# then rebuilds its clients from its --state-dir, and every resumed aggregator's older checkpoint
# is met by workers going back to it from theirs.
#
#   tools/chaos.sh [--seed=N] [--rounds=R] [--soak-seconds=S] [--downlink=MODE]
#                  [--client-state=MODE] [--bin=build/bin/ef21]
#
# With --soak-seconds, scenarios with seeds N, N+1, ... run until S seconds have passed (a 10-minute
# soak: --soak-seconds=600). Exit 0 when every scenario passed. tests/e2e/chaos_test.sh runs one short
# scenario in the test suite.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
bin=$src/build/bin/ef21
seed=1
rounds=2500
soak=0
downlink=
client_state=aggregator
for arg in "$@"; do
  case $arg in
    --seed=*) seed=${arg#*=} ;;
    --rounds=*) rounds=${arg#*=} ;;
    --soak-seconds=*) soak=${arg#*=} ;;
    --bin=*) bin=${arg#*=} ;;
    --downlink=*) downlink=${arg#*=} ;;
    --client-state=*) client_state=${arg#*=} ;;
    *) echo "chaos.sh: unknown argument $arg (expected --seed=N --rounds=R --soak-seconds=S --downlink=MODE --client-state=MODE --bin=PATH)" >&2; exit 2 ;;
  esac
done
python=/usr/bin/python3
source "$(dirname "$0")/lib/e2e.sh"
e2e_workdir

problem=(--problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=row --batch=4)
ranges=(0-340 341-682)

# scenario SEED: one run with its failures; prints what happened; returns non-zero on failure.
scenario() {
  local s=$1 dir=$work/seed-$1
  mkdir -p "$dir"
  RANDOM=$s
  local mode=${downlink:-$([ $((s % 2)) = 1 ] && echo delta || echo auto)}
  local flags=("${problem[@]}" --algorithm=norm-ef21-sgdm --k=1 --rounds=$rounds --downlink=$mode
               --client-state=$client_state)
  local agg_flags=("${flags[@]}" --clients=683 --out="$dir/run" --checkpoint-every=$((20 + RANDOM % 80)) --checkpoint-seconds=0 --exit-when-complete)
  local started=$SECONDS
  "$bin" simulate "${flags[@]}" --out="$dir/sim" > /dev/null

  local agg agg_port proxy via workers=() i
  start_aggregator() {
    "$bin" aggregator --insecure --listen=127.0.0.1:"${1:-0}" "${agg_flags[@]}" >> "$dir/agg.out" 2>> "$dir/agg.err" &
    agg=$!
    : > "$dir/agg.port"
    wait_for 30 find_port "$dir/agg.out" listening || { echo "FAIL seed $s: aggregator did not start: $(tail -n 2 "$dir/agg.err")"; return 1; }
    agg_port=$port
  }
  start_worker() {  # I
    "$bin" worker --insecure --aggregator="$via" --client-ids="${ranges[$1]}" "${problem[@]}" --state-dir="$dir/state" \
      --connect-timeout-seconds=60 >> "$dir/w$1.log" 2>&1 &
    workers[$1]=$!
  }
  start_aggregator 0 || return 1
  "$python" "$src/tools/tcp_proxy.py" --listen=127.0.0.1:0 --target=127.0.0.1:"$agg_port" --max-seconds=900 \
    > "$dir/proxy.out" 2> "$dir/proxy.err" &
  proxy=$!
  wait_for 30 find_port "$dir/proxy.out" 'proxy listening' || { echo "FAIL seed $s: proxy did not start"; return 1; }
  via=127.0.0.1:$port
  start_worker 0
  start_worker 1

  # The events, in a seeded order, at rounds spread over the run.
  local events=(kill-worker kill-aggregator reset stop-worker kill-worker reset hostile)
  for ((i = ${#events[@]} - 1; i > 0; i--)); do
    local j=$((RANDOM % (i + 1))) t=${events[$i]}
    events[$i]=${events[$j]}
    events[$j]=$t
  done
  local csv=$dir/run/metrics.csv k=0 at log=()
  for ev in "${events[@]}"; do
    k=$((k + 1))
    at=$((rounds * k / (${#events[@]} + 2) + RANDOM % (rounds / (2 * (${#events[@]} + 2)))))
    if ! wait_for 120 rows_at_least "$csv" "$at"; then
      echo "FAIL seed $s: round $at never reached before $ev ($nrows rows): $(tail -n 1 "$dir/w0.log") $(tail -n 1 "$dir/w1.log") $(tail -n 1 "$dir/agg.err")"
      return 1
    fi
    count_rows "$csv"
    local w=$((RANDOM % 2))
    # The run may have finished while the previous event went on (a hostile attack lasts ~4 s):
    # a worker started now would find no aggregator.
    if [ "$nrows" -gt "$rounds" ]; then
      log+=("$ev skipped: the run had finished")
      continue
    fi
    case $ev in
      kill-worker)
        kill -9 "${workers[$w]}"; wait "${workers[$w]}" 2>/dev/null || true
        start_worker "$w"
        log+=("worker $w kill -9 at $nrows rows") ;;
      kill-aggregator)
        kill -9 "$agg"; wait "$agg" 2>/dev/null || true
        start_aggregator "$agg_port" || return 1
        log+=("aggregator kill -9 at $nrows rows") ;;
      reset)
        kill -USR1 "$proxy"
        log+=("connection reset at $nrows rows") ;;
      hostile)
        kill -9 "${workers[$w]}"; wait "${workers[$w]}" 2>/dev/null || true
        "$python" "$src/tests/e2e/hostile_client.py" attack --target=127.0.0.1:"$agg_port" \
          --ids="${ranges[$w]}" --seconds=3 --streams=4 --megabytes=20 \
          --problem-flags="${flags[*]} --clients=683 --dim=10" > "$dir/hostile.out" 2>&1 &
        local attacker=$!
        local until=$((SECONDS + 1))
        while [ $SECONDS -lt $until ]; do nap; done
        start_worker "$w"
        wait_exit "$attacker" 60
        [ "$rc" = 0 ] || { echo "FAIL seed $s: the hostile client was accepted (exit $rc): $(tail -n 2 "$dir/hostile.out")"; return 1; }
        log+=("worker $w kill -9 at $nrows rows and its ids squatted: $(tail -n 1 "$dir/hostile.out")") ;;
      stop-worker)
        kill -STOP "${workers[$w]}"
        local until=$((SECONDS + 2))
        while [ $SECONDS -lt $until ]; do nap; done
        kill -CONT "${workers[$w]}"
        log+=("worker $w SIGSTOP for ~2 s at $nrows rows") ;;
    esac
  done
  local ok=1
  for i in 0 1; do
    wait_exit "${workers[$i]}" 180
    [ "$rc" = 0 ] || { ok=0; echo "FAIL seed $s: worker $i exit $rc: $(tail -n 2 "$dir/w$i.log")"; }
  done
  wait_exit "$agg" 60
  [ "$rc" = 0 ] || { ok=0; echo "FAIL seed $s: aggregator exit $rc: $(tail -n 2 "$dir/agg.err")"; }
  kill -TERM "$proxy" 2>/dev/null || true
  wait_exit "$proxy" 10
  count_rows "$csv"
  if [ $ok = 1 ] && [ "$nrows" = $((rounds + 1)) ] &&
     cmp -s <(cut -d, -f1-9 "$dir/sim/metrics.csv") <(cut -d, -f1-9 "$csv"); then
    echo "PASS seed $s (--downlink=$mode --client-state=$client_state): ${log[*]/%/;} $rounds rounds equal the simulation ($((SECONDS - started)) s)"
    rm -rf "$dir"
    return 0
  fi
  if [ $ok = 1 ]; then
    echo "FAIL seed $s: ${log[*]/%/;} metrics.csv ($nrows rows) differs from the simulation:"
  else
    echo "FAIL seed $s: ${log[*]/%/;} a process failed (above); metrics.csv has $nrows rows:"
  fi
  diff <(cut -d, -f1-9 "$dir/sim/metrics.csv") <(cut -d, -f1-9 "$csv") | head -n 4 || true
  return 1
}

failures=0
runs=0
begin=$SECONDS
while :; do
  runs=$((runs + 1))
  scenario "$seed" || failures=$((failures + 1))
  seed=$((seed + 1))
  [ "$soak" -gt 0 ] && [ $((SECONDS - begin)) -lt "$soak" ] || break
done
echo "chaos: $runs scenario(s), $failures failed, $((SECONDS - begin)) s"
[ "$failures" = 0 ]
