#!/usr/bin/env bash
# The federation as real processes: `ef21 aggregator` + `ef21 worker` on loopback.
#  - crash and rejoin: kill -9 a worker at a seeded random round and start it again: the run
#    completes and metrics.csv equals the simulation (and so the uninterrupted run); also with
#    --downlink=delta (the restarted host is resynchronized densely, then follows by deltas);
#  - connection cut (worker test hook): equal as well;
#  - health: SERVING while the run goes on;
#  - SIGTERM to the aggregator while workers stream: it exits 0 with every closed round in
#    metrics.csv and summary.json; workers exit 0 saying the run was stopped; both messages name
#    metrics.csv's last row ("after round N");
#  - a worker started before its aggregator waits and joins;
#  - an aggregator restarted on another run directory (a new run) is reported to the worker clearly
#    (non-zero exit); resuming the same run is federation_resume_test.sh's.
# Waits poll files or endpoints in bounded loops; nothing relies on a fixed sleep.
# Usage: federation_lifecycle_test.sh <ef21-binary> <source-dir>
set -euo pipefail
bin=$1
src=$2
source "$src/tools/lib/e2e.sh"
e2e_workdir

start_aggregator() {  # name, flags...: starts it, sets $agg_pid and $agg_port
  local name=$1
  shift
  "$bin" aggregator --insecure --listen=127.0.0.1:"${AGG_PORT:-0}" --exit-when-complete "$@" > "$work/$name.out" 2> "$work/$name.err" &
  agg_pid=$!
  if ! wait_for 30 find_port "$work/$name.out" listening; then
    fail "$name: aggregator did not print 'listening on': $(cat "$work/$name.err")"
    return 1
  fi
  agg_port=$port
}

problem=(--problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=row)
n=683

########################################## crash and rejoin (kill -9) at a seeded random round
RANDOM=2110  # the seed of the choice below
for spec in norm-ef21 ef21 norm-ef21:--downlink=delta; do
  algorithm=${spec%%:*}
  downlink=()
  if [ "$spec" != "$algorithm" ]; then downlink=("${spec#*:}"); algorithm=$algorithm-delta; fi
  rounds=2000  # lasts seconds, so the kill lands mid-run (300 rounds took 0.6 s here)
  kill_round=$((20 + RANDOM % 200))
  flags=("${problem[@]}" --algorithm=${spec%%:*} --rounds=$rounds "${downlink[@]}")
  "$bin" simulate "${flags[@]}" --out="$work/crash-$algorithm-sim" > /dev/null
  start_aggregator "crash-$algorithm" "${flags[@]}" --clients=$n --out="$work/crash-$algorithm"
  w=(--insecure --aggregator=127.0.0.1:$agg_port "${problem[@]}" --connect-timeout-seconds=30)
  "$bin" worker "${w[@]}" --client-ids=0-340 > "$work/w0.log" 2>&1 &
  w0=$!
  "$bin" worker "${w[@]}" --client-ids=341-682 > "$work/w1.log" 2>&1 &
  w1=$!
  if ! wait_for 120 rows_at_least "$work/crash-$algorithm/metrics.csv" "$kill_round"; then
    fail "crash $algorithm: round $kill_round never reached"
    continue
  fi
  kill -9 "$w1"
  wait "$w1" 2>/dev/null || true
  count_rows "$work/crash-$algorithm/metrics.csv"
  killed_at=$nrows
  "$bin" worker "${w[@]}" --client-ids=341-682 > "$work/w1b.log" 2>&1 &
  w1=$!
  ok=1
  wait "$w0" || { ok=0; fail "crash $algorithm: worker 0 exited non-zero: $(tail -n 2 "$work/w0.log")"; }
  wait "$w1" || { ok=0; fail "crash $algorithm: restarted worker exited non-zero: $(tail -n 2 "$work/w1b.log")"; }
  wait "$agg_pid" || { ok=0; fail "crash $algorithm: aggregator exited non-zero: $(tail -n 2 "$work/crash-$algorithm.err")"; }
  if [ $ok = 1 ]; then
    if same=$("$src/tools/compare_metrics.py" "$work/crash-$algorithm-sim" "$work/crash-$algorithm"); then
      pass "crash $algorithm: worker killed -9 near round $killed_at (target $kill_round), restarted; $rounds rounds equal the simulation"
    else
      fail "crash $algorithm: metrics.csv differs from the simulation: $same"
    fi
  fi
done

########################################## connection cut (worker test hook) and health
flags=("${problem[@]}" --algorithm=norm-ef21 --rounds=120)
"$bin" simulate "${flags[@]}" --out="$work/cut-sim" > /dev/null
start_aggregator cut "${flags[@]}" --out="$work/cut"
if "$bin" health --target=127.0.0.1:$agg_port > "$work/health.out" 2>&1; then
  pass "health: $(cat "$work/health.out") while the run waits for workers"
else
  fail "health: not SERVING: $(cat "$work/health.out")"
fi
w=(--insecure --aggregator=127.0.0.1:$agg_port "${problem[@]}" --connect-timeout-seconds=30)
"$bin" worker "${w[@]}" --client-ids=0-400 --test-drop-stream-at-round=37 > "$work/c0.log" 2>&1 &
c0=$!
"$bin" worker "${w[@]}" --client-ids=401-682 --test-drop-stream-at-round=0 > "$work/c1.log" 2>&1 &
c1=$!
ok=1
wait "$c0" || { ok=0; fail "cut: worker 0 failed: $(tail -n 2 "$work/c0.log")"; }
wait "$c1" || { ok=0; fail "cut: worker 1 failed: $(tail -n 2 "$work/c1.log")"; }
wait "$agg_pid" || { ok=0; fail "cut: aggregator failed"; }
if [ $ok = 1 ] && same=$("$src/tools/compare_metrics.py" "$work/cut-sim" "$work/cut"); then
  pass "cut: streams cut at rounds 37 and 0, workers reconnected; metrics.csv equals the simulation"
elif [ $ok = 1 ]; then
  fail "cut: metrics.csv differs from the simulation: $same"
fi
if "$bin" health --target=127.0.0.1:$agg_port --timeout-seconds=1 > /dev/null 2>&1; then
  fail "health: exit 0 after the aggregator exited"
else
  pass "health: non-zero once the aggregator is gone"
fi

########################################## SIGTERM to the aggregator while workers stream
flags=("${problem[@]}" --algorithm=norm-ef21 --rounds=100000)
start_aggregator term "${flags[@]}" --out="$work/term"
w=(--insecure --aggregator=127.0.0.1:$agg_port "${problem[@]}")
"$bin" worker "${w[@]}" --client-ids=0-682 > "$work/t0.log" 2>&1 &
t0=$!
if wait_for 120 rows_at_least "$work/term/metrics.csv" 30; then
  kill -TERM "$agg_pid"
  agg_rc=0
  wait "$agg_pid" || agg_rc=$?
  wrk_rc=0
  wait "$t0" || wrk_rc=$?
  count_rows "$work/term/metrics.csv"
  closed=$nrows
  last=$(tail -n 1 "$work/term/metrics.csv" | cut -d, -f1)
  fields=$(tail -n 1 "$work/term/metrics.csv" | awk -F, '{print NF}')
  header_fields=$(head -n 1 "$work/term/metrics.csv" | awk -F, '{print NF}')
  if [ $agg_rc = 0 ] && [ $wrk_rc = 0 ] && [ "$last" = $((closed - 1)) ] && [ "$fields" = "$header_fields" ] &&
     [ -f "$work/term/summary.json" ] && grep -q "stopped the run" "$work/t0.log"; then
    pass "SIGTERM: aggregator exit 0 with $closed complete rows + summary.json; worker exit 0: $(tail -n 1 "$work/t0.log")"
  else
    fail "SIGTERM: aggregator rc $agg_rc, worker rc $wrk_rc, rows $closed, last round $last, fields $fields of $header_fields: $(tail -n 2 "$work/term.err") / $(tail -n 2 "$work/t0.log")"
  fi
  # The messages name the last row of metrics.csv (round 0 is the initialization, rows t = 0..N).
  if grep -qF "stopped (SIGTERM) after round $last (metrics.csv rows t = 0..$last)" "$work/term.err" &&
     grep -qF "stopped the run " "$work/t0.log" && grep -qF "after round $last (SIGTERM)" "$work/t0.log"; then
    pass "SIGTERM: aggregator and worker say 'after round $last', metrics.csv's last row"
  else
    fail "SIGTERM: messages do not name round $last: $(cat "$work/term.err") / $(tail -n 2 "$work/t0.log")"
  fi
else
  fail "SIGTERM: the run did not reach 30 rounds"
fi

########################################## SIGTERM before round 0: a summary that cannot be read as a result
start_aggregator term0 "${problem[@]}" --algorithm=norm-ef21 --rounds=10 --out="$work/term0"
kill -TERM "$agg_pid"
agg_rc=0
wait "$agg_pid" || agg_rc=$?
summary=$work/term0/summary.json
count_rows "$work/term0/metrics.csv"
if [ $agg_rc = 0 ] && [ "$nrows" = 0 ] && python3 - "$summary" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["status"] == "stopped", s["status"]
assert "SIGTERM" in s["stop_reason"], s["stop_reason"]
for key in ("rounds", "final_loss", "final_grad_norm", "min_grad_norm", "min_grad_norm_round",
            "paper_bits_per_client", "uplink_bytes_per_client", "wall_seconds"):
    assert s[key] is None, (key, s[key])
assert s["build"]["version"], s["build"]
PY
then
  pass "SIGTERM before round 0: exit 0, no rows, summary.json status stopped with nulls"
else
  fail "SIGTERM before round 0: aggregator rc $agg_rc: $(cat "$summary" 2>/dev/null) $(tail -n 2 "$work/term0.err")"
fi
if python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(s["status"] != "stopped" or s["rounds"] is None)' \
     "$work/term/summary.json"; then
  pass "SIGTERM mid-run: summary.json status stopped, rounds $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rounds"])' "$work/term/summary.json")"
else
  fail "SIGTERM mid-run: summary.json $(cat "$work/term/summary.json" 2>/dev/null)"
fi

########################################## worker started before the aggregator
port=$(free_port)
flags=(--problem=polynomial --dim=4 --clients=3 --algorithm=norm-ef21 --rounds=50)
"$bin" worker --insecure --aggregator=127.0.0.1:$port --client-ids=0-2 --problem=polynomial --dim=4 --clients=3 \
  --connect-timeout-seconds=60 > "$work/early.log" 2>&1 &
early=$!
# The worker is running and failing to connect (its process is alive, the port refuses).
early_worker_waits() { kill -0 "$early" 2> /dev/null && ! (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; }
if wait_for 10 early_worker_waits; then
  AGG_PORT=$port start_aggregator early-agg "${flags[@]}" --out="$work/early"
  ok=1
  wait "$early" || { ok=0; fail "early worker failed: $(tail -n 2 "$work/early.log")"; }
  wait "$agg_pid" || { ok=0; fail "early: aggregator failed"; }
  count_rows "$work/early/metrics.csv"
  [ $ok = 1 ] && [ "$nrows" = 51 ] &&
    pass "worker started before the aggregator joined it; 50 rounds done"
fi

########################################## aggregator restart reported to the worker
flags=("${problem[@]}" --algorithm=norm-ef21 --rounds=100000)
start_aggregator restart1 "${flags[@]}" --out="$work/restart1"
port=$agg_port
"$bin" worker --insecure --aggregator=127.0.0.1:$port --client-ids=0-682 "${problem[@]}" --connect-timeout-seconds=60 \
  > "$work/r0.log" 2>&1 &
r0=$!
if wait_for 60 rows_at_least "$work/restart1/metrics.csv" 10; then
  kill -9 "$agg_pid"
  wait "$agg_pid" 2>/dev/null || true
  AGG_PORT=$port start_aggregator restart2 "${flags[@]}" --out="$work/restart2"
  rc=0
  wait "$r0" || rc=$?
  kill -TERM "$agg_pid" 2>/dev/null || true
  wait "$agg_pid" 2>/dev/null || true
  if [ $rc != 0 ] && grep -q "aggregator restarted: run [0-9a-f]* is gone (now [0-9a-f]*): it started a new run instead of resuming this one" "$work/r0.log"; then
    pass "restart: worker exit $rc: $(tail -n 1 "$work/r0.log")"
  else
    fail "restart: worker exit $rc: $(tail -n 2 "$work/r0.log")"
  fi
else
  fail "restart: the first run did not reach 10 rounds"
fi

e2e_summary
