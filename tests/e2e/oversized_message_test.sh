#!/usr/bin/env bash
# Issue 10: "a 400 MB message (cap 404 kB): refused, but buffered whole first (410 MB peak)".
# A hostile client (tests/e2e/hostile_client.py: grpcio, classes from the project's .proto) sends
# one 200 MB WorkerMessage to `ef21 aggregator` on breast-cancer (683 clients: a 404 kB receive
# cap). It must be refused with RESOURCE_EXHAUSTED, the aggregator's peak resident memory
# (/proc/PID/status VmHWM) must grow by less than 150 MB (whole, the message alone is 200 MB;
# gRPC's resource quota of 4 × cap + 64 MB bounds what it buffers), and the run then goes on: two
# workers attach and finish it equal to `ef21 simulate`.
# Usage: oversized_message_test.sh <ef21-binary> <source-dir>
set -euo pipefail
bin=$1
src=$2
source "$src/tools/lib/e2e.sh"
e2e_workdir
python=/usr/bin/python3

problem=(--problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=row)
method=(--algorithm=norm-ef21 --k=1 --rounds=20)
"$bin" aggregator --insecure --listen=127.0.0.1:0 --exit-when-complete "${problem[@]}" "${method[@]}" --clients=683 \
  --out="$work/run" > "$work/agg.out" 2> "$work/agg.err" &
agg=$!
wait_for 60 find_port "$work/agg.out" listening || { fail "aggregator did not start: $(tail -n 2 "$work/agg.err")"; e2e_summary; }
hwm() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$agg/status"; }
before=$(hwm)
sent=$SECONDS
out=$("$python" "$src/tests/e2e/hostile_client.py" oversized --target=127.0.0.1:"$port" --megabytes=200)
after=$(hwm)
growth_mb=$(((after - before) / 1024))
echo "aggregator VmHWM: $((before / 1024)) MB before, $((after / 1024)) MB after a 200 MB message ($out; $((SECONDS - sent)) s)"
if [[ $out == "refused RESOURCE_EXHAUSTED"* ]]; then
  pass "the 200 MB message is refused: $out"
else
  fail "expected a RESOURCE_EXHAUSTED refusal, got: $out"
fi
if [ "$growth_mb" -lt 150 ]; then
  pass "peak resident memory grew by $growth_mb MB (< 150 MB: not buffered whole)"
else
  fail "peak resident memory grew by $growth_mb MB for a 200 MB message"
fi

# Nothing changed: the run goes on and equals the simulation.
"$bin" simulate "${problem[@]}" "${method[@]}" --out="$work/sim" > /dev/null
w=()
for ids in 0-340 341-682; do
  "$bin" worker --insecure --aggregator=127.0.0.1:"$port" --client-ids=$ids "${problem[@]}" \
    --connect-timeout-seconds=30 > "$work/w-$ids.log" 2>&1 &
  w+=($!)
done
for p in "${w[@]}" "$agg"; do
  wait_exit "$p" 120
  [ "$rc" = 0 ] || fail "process $p exited $rc: $(tail -q -n 1 "$work"/w-*.log "$work/agg.err")"
done
if same_metrics "$work/sim/metrics.csv" "$work/run/metrics.csv"; then
  pass "the run after the refusal equals the simulation (21 rows)"
else
  fail "metrics.csv differs from the simulation"
fi
e2e_summary
