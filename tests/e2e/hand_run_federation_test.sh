#!/usr/bin/env bash
# A federation run by hand as docs/DEPLOY.md describes it (the compose services as processes on
# loopback: one `ef21 aggregator`, three `ef21 worker`s, every one with --metrics-listen and
# --linger-seconds), scraped by a real Prometheus (Debian's) with deploy/prometheus/prometheus.yml
# (only the targets rewritten to the loopback ports). Then:
#   - tools/check_dashboard.py --require-data passes over the run, worker panels included
#     (no --allow-empty): the workers' series outlive the run by --linger-seconds;
#   - after --rounds=K: ef21_rounds_completed_total = ef21_round = K, metrics.csv rows t = 0..K,
#     and the workers' /metrics still answer after the aggregator's run is over;
#   - each worker says what it does on stderr: one line on attach (its ids, the aggregator, the
#     run id the aggregator printed) and one at the end;
#   - two workers with overlapping --client-ids: the second reports the real reason ("client N is
#     attached by another worker") within its --connect-timeout-seconds, not "unreachable".
# Usage: hand_run_federation_test.sh EF21_BINARY SOURCE_DIR      (ctest passes both)
set -uo pipefail

bin=${1:?usage: hand_run_federation_test.sh EF21_BINARY SOURCE_DIR}
src=${2:?usage: hand_run_federation_test.sh EF21_BINARY SOURCE_DIR}
cd "$src" || { echo "FAIL: no source dir $src"; exit 1; }

py=/usr/bin/python3
[ -x "$py" ] || py=python3
source "$src/tools/lib/e2e.sh"
e2e_require prometheus promtool
e2e_workdir
e2e_on_exit() { e2e_terminate_jobs; }  # `timeout` passes SIGTERM on to the ef21 it runs
# The value of an unlabelled sample in an exposition on stdin.
sample() { awk -v m="$1" '$1 == m { print $2 }'; }
prometheus_ready() { http_get "$prom/-/ready" > /dev/null; }
prometheus_has_targets() { [[ $(http_get "$prom/api/v1/targets") == *"127.0.0.1:${w_ports[2]}"* ]]; }
serving() { "$bin" health --target="127.0.0.1:$1" > /dev/null 2>&1; }

########################################## Prometheus with the compose configuration
grpc_port=$(free_port); agg_metrics=$(free_port); prom_port=$(free_port)
w_ports=($(free_port) $(free_port) $(free_port))
prom="http://127.0.0.1:$prom_port"
sed -e "s|\"aggregator:9464\"|\"127.0.0.1:$agg_metrics\"|" \
    -e "s|\"worker-0:9465\", \"worker-1:9465\", \"worker-2:9465\"|\"127.0.0.1:${w_ports[0]}\", \"127.0.0.1:${w_ports[1]}\", \"127.0.0.1:${w_ports[2]}\"|" \
    -e "s|\"localhost:9090\"|\"127.0.0.1:$prom_port\"|" \
    deploy/prometheus/prometheus.yml > "$work/prometheus.yml"
if grep -q "aggregator:9464\|worker-0:9465" "$work/prometheus.yml"; then
  echo "FAIL: deploy/prometheus/prometheus.yml's targets changed; this test rewrites them"; exit 1
fi
promtool check config "$work/prometheus.yml" >/dev/null || { echo "FAIL: rewritten prometheus.yml"; exit 1; }
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn > "$work/prometheus.log" 2>&1 &
poll 10 prometheus_ready ||
  { echo "FAIL: Prometheus not ready: $(cat "$work/prometheus.log")"; exit 1; }
poll 30 prometheus_has_targets ||
  { echo "FAIL: Prometheus never picked up the targets"; exit 1; }

########################################## the federation, by hand
# breast-cancer, one client per row (683 clients), three workers as in docker-compose.yml; enough
# rounds for a run of seconds, then every /metrics lingers so the 1 s scrapes see the end.
rounds=2000
linger=10
problem=(--problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=row)
start=$(now)
timeout 300 "$bin" aggregator --insecure --exit-when-complete --listen="127.0.0.1:$grpc_port" --metrics-listen="127.0.0.1:$agg_metrics" \
  --linger-seconds=$linger --clients=683 --out="$work/run" "${problem[@]}" \
  --algorithm=norm-ef21 --compressor=top-k --k=1 --rounds=$rounds > "$work/aggregator.out" 2> "$work/aggregator.err" &
agg_pid=$!
poll 30 serving "$grpc_port" ||
  { echo "FAIL: aggregator not SERVING: $(cat "$work/aggregator.err")"; exit 1; }
slices=(0-227 228-455 456-682)
w_pids=()
for i in 0 1 2; do
  timeout 300 "$bin" worker --insecure --aggregator="127.0.0.1:$grpc_port" --client-ids=${slices[$i]} \
    --metrics-listen="127.0.0.1:${w_ports[$i]}" --linger-seconds=$linger "${problem[@]}" \
    > "$work/worker-$i.out" 2> "$work/worker-$i.err" &
  w_pids+=($!)
done

# While everything lingers: the counters after K rounds, and the workers still serving.
if wait_for 240 has_line "$work/aggregator.out" "rounds in"; then
  # Every worker lingers from the moment it read Finish: wait (bounded) for their final lines,
  # then read the four endpoints at once (one Python start: this machine may be slow).
  for i in 0 1 2; do wait_for 30 has_line "$work/worker-$i.err" "complete \(rounds"; done
  "$py" - "$work" "$agg_metrics" "${w_ports[@]}" <<'EOF'
import sys, urllib.request
work, ports = sys.argv[1], sys.argv[2:]
for name, port in zip(["aggregator", "worker-0", "worker-1", "worker-2"], ports):
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    except OSError as e:
        body = f"# unreachable: {e}\n".encode()
    open(f"{work}/{name}.prom", "wb").write(body)
EOF
  completed=$(sample ef21_rounds_completed_total < "$work/aggregator.prom")
  round=$(sample ef21_round < "$work/aggregator.prom")
  rows=$(($(wc -l < "$work/run/metrics.csv") - 1))
  last=$(tail -n 1 "$work/run/metrics.csv" | cut -d, -f1)
  if [ "$completed" = "$rounds" ] && [ "$round" = "$rounds" ] && [ "$rows" = $((rounds + 1)) ] &&
     [ "$last" = "$rounds" ]; then
    pass "after --rounds=$rounds: ef21_rounds_completed_total = ef21_round = $rounds, metrics.csv rows t = 0..$last"
  else
    fail "after --rounds=$rounds: ef21_rounds_completed_total = '$completed', ef21_round = '$round', metrics.csv $rows rows, last t = $last"
  fi
  lingering=0
  seen=""
  for i in 0 1 2; do
    v=$(sample ef21_worker_rounds_total < "$work/worker-$i.prom")
    seen="$seen ${w_ports[$i]}:'$v'$(grep '^# unreachable' "$work/worker-$i.prom")"
    [ "$v" = $((rounds + 1)) ] && lingering=$((lingering + 1))
  done
  if [ "$lingering" = 3 ]; then
    pass "after the run, all 3 workers still serve /metrics (ef21_worker_rounds_total = $((rounds + 1)): rounds 0..$rounds)"
  else
    fail "after the run, only $lingering of 3 workers serve /metrics with ef21_worker_rounds_total = $((rounds + 1)) (port:value$seen)"
  fi
else
  fail "the aggregator did not finish: $(tail -n 3 "$work/aggregator.err")"
fi
rc=0
for p in "$agg_pid" "${w_pids[@]}"; do wait "$p" || rc=$?; done
end=$(now)
if [ "$rc" != 0 ]; then fail "a federation process exited $rc: $(tail -n 3 "$work"/*.err)"; fi
sleep 1.5  # the last scrapes land

run_id=$(sed -n 's/^run \([^:]*\):.*/\1/p' "$work/aggregator.out")
said=0
for i in 0 1 2; do
  if grep -qF "clients ${slices[$i]} attached to aggregator 127.0.0.1:$grpc_port, run $run_id, at round 0" "$work/worker-$i.err" &&
     grep -qF "run $run_id complete (rounds 0..$rounds); clients ${slices[$i]} computed $((rounds + 1)) rounds" "$work/worker-$i.err"; then
    said=$((said + 1))
  fi
done
if [ -n "$run_id" ] && [ "$said" = 3 ]; then
  pass "every worker said it attached (ids, aggregator, run $run_id) and finished: $(head -c 300 "$work/worker-0.err" | tr '\n' '|')"
else
  fail "worker messages ($said of 3 as expected, run id '$run_id'): $(cat "$work/worker-0.err")"
fi
waited=$(grep -o 'waited [0-9.]* s for workers' "$work/aggregator.err")
if [ -n "$waited" ]; then pass "the aggregator reports waiting apart: $waited"; else fail "no 'waited ... for workers' line: $(cat "$work/aggregator.err")"; fi

if out=$("$py" tools/check_dashboard.py deploy/grafana/dashboards/ef21-federation.json \
           --prometheus="$prom" --require-data --start="$start" --end="$end" --step=1s \
           --rate-interval=30s 2>&1); then
  pass "check_dashboard.py --require-data against the hand-run federation, worker panels included: $(echo "$out" | tail -n1)"
else
  fail "check_dashboard.py --require-data against the hand-run federation:
$out"
fi

########################################## overlapping --client-ids
# Worker A holds clients 0-400; the run waits for 401-682, so A stays attached. Worker B asks for
# 300-682: the aggregator refuses client 300 while A holds it; B retries for its connect timeout and
# then names the reason.
grpc_port=$(free_port)
timeout 120 "$bin" aggregator --insecure --exit-when-complete --listen="127.0.0.1:$grpc_port" --clients=683 "${problem[@]}" \
  --algorithm=norm-ef21 --rounds=5 > "$work/overlap-aggregator.out" 2> "$work/overlap-aggregator.err" &
agg_pid=$!
poll 30 serving "$grpc_port"
timeout 120 "$bin" worker --insecure --aggregator="127.0.0.1:$grpc_port" --client-ids=0-400 "${problem[@]}" \
  > /dev/null 2> "$work/overlap-a.err" &
a_pid=$!
wait_for 30 has_line "$work/overlap-a.err" "attached to aggregator"
t0=$(now)
timeout 60 "$bin" worker --insecure --aggregator="127.0.0.1:$grpc_port" --client-ids=300-682 \
  --connect-timeout-seconds=3 "${problem[@]}" > /dev/null 2> "$work/overlap-b.err"
b_rc=$?
t1=$(now)
secs=$("$py" -c "print(f'{$t1 - $t0:.1f}')")
if [ "$b_rc" != 0 ] && [ "$b_rc" != 124 ] &&
   grep -q "client 300 is attached by another worker" "$work/overlap-b.err" &&
   grep -q "^ef21 worker: .*--client-ids=300-682 overlaps another worker's" "$work/overlap-b.err" &&
   ! grep -qi "unreachable" "$work/overlap-b.err"; then
  pass "overlapping --client-ids: the second worker exits $b_rc after ${secs} s naming the reason: $(tail -n 1 "$work/overlap-b.err")"
else
  fail "overlapping --client-ids: exit $b_rc after ${secs} s: $(cat "$work/overlap-b.err")"
fi
# The first worker is unaffected: with the rest of the clients the run completes.
timeout 120 "$bin" worker --insecure --aggregator="127.0.0.1:$grpc_port" --client-ids=401-682 "${problem[@]}" \
  > /dev/null 2> "$work/overlap-c.err"
c_rc=$?
wait "$a_pid"; a_rc=$?
wait "$agg_pid"; agg_rc=$?
if [ "$a_rc" = 0 ] && [ "$c_rc" = 0 ] && [ "$agg_rc" = 0 ]; then
  pass "the run completes with the non-overlapping workers"
else
  fail "after the overlap: worker A exit $a_rc, worker C exit $c_rc, aggregator exit $agg_rc: $(tail -n 2 "$work/overlap-a.err")"
fi

e2e_summary
