#!/usr/bin/env bash
# NOTE: needs `ef21 run` (with --metrics-listen and --linger-seconds) and, for the worker part,
# `ef21 aggregator` + `ef21 worker`. Until `ef21 run` exists this test prints
# "SKIP: ef21 run not available" and exits 0; it never skips once `ef21 run --help` works.
#
# A real Prometheus (Debian's `prometheus`, on a free loopback port) scrapes a real `ef21 run`
# (the aggregator on --metrics-listen's port P, worker process w on P + 1 + w) every 100 ms. Then,
# through Prometheus's HTTP API:
#   - 8 x the final ef21_paper_bytes_per_client equals the last paper_bits_per_client of metrics.csv
#     (and the wire-byte gauges equal the uplink/downlink_bytes_per_client columns);
#   - the ef21_g_norm series is present;
#   - every PromQL expression of the Grafana dashboard, worker panels included, parses and returns
#     data (tools/check_dashboard.py --require-data over the run's time range);
# and `promtool check metrics` is silent on the aggregator's exposition (and on a worker's, from
# a separate `ef21 aggregator` + `ef21 worker` pair), which carries every metric of the contract
# in docs/DEPLOY.md; a second, unscraped run has the identical trajectory (metrics.csv without
# wall_seconds).
# Usage: prometheus_scrape_test.sh EF21_BINARY SOURCE_DIR      (ctest passes both)
set -uo pipefail

bin=${1:?usage: prometheus_scrape_test.sh EF21_BINARY SOURCE_DIR}
src=${2:?usage: prometheus_scrape_test.sh EF21_BINARY SOURCE_DIR}
cd "$src" || { echo "FAIL: no source dir $src"; exit 1; }

if ! "$bin" run --help >/dev/null 2>&1; then
  echo "SKIP: ef21 run not available ($bin run --help fails)"
  exit 0
fi

py=/usr/bin/python3
[ -x "$py" ] || py=python3
source "$src/tools/lib/e2e.sh"
e2e_require prometheus promtool
e2e_workdir
e2e_on_exit() { e2e_terminate_jobs; }  # `ef21 run` and `timeout` pass SIGTERM on to their children


# Instant query; prints the single sample value (or nothing).
prom_value() {
  http_get "$prom/api/v1/query" "query=$1" "time=$2" |
    "$py" -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if len(r) == 1 else "")'
}

# The last row's value of a metrics.csv column.
csv_last() {
  "$py" - "$1" "$2" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(rows[-1][sys.argv[2]] if rows and sys.argv[2] in rows[-1] else "")
EOF
}

same_number() {
  "$py" -c 'import sys, math
a, b = float(sys.argv[1]), float(sys.argv[2])
sys.exit(0 if math.isclose(a, b, rel_tol=1e-12, abs_tol=0) else 1)' "$1" "$2" 2>/dev/null
}

# Polls a metrics endpoint every 50 ms while process $2 lives; keeps the last good exposition in $3.
capture_exposition() {
  "$py" - "$@" <<'EOF'
import os, sys, time, urllib.request
url, pid, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
while os.path.exists(f"/proc/{pid}"):
    try:
        body = urllib.request.urlopen(url, timeout=1).read()
        if body:
            with open(out + ".tmp", "wb") as f:
                f.write(body)
            os.replace(out + ".tmp", out)
    except OSError:
        pass
    time.sleep(0.05)
EOF
}

# Every metric of the contract (docs/DEPLOY.md). ef21_client_uplink_bytes_total is per client only
# while clients <= the bound (default 64), so a 683-client run does not have it.
aggregator_metrics="ef21_build_info ef21_rounds_completed_total ef21_round ef21_clients ef21_diagnostics_every
ef21_connected_workers ef21_uplink_bytes_total ef21_uplink_diagnostic_bytes_total
ef21_downlink_bytes_total ef21_downlink_messages_total ef21_paper_bytes_total ef21_paper_bytes_per_client
ef21_uplink_bytes_per_client ef21_downlink_bytes_per_client ef21_g_norm ef21_grad_norm ef21_loss
ef21_train_accuracy ef21_test_loss ef21_test_accuracy
ef21_stepsize ef21_round_duration_seconds ef21_waiting_for_workers_seconds_total ef21_rejected_messages_total
ef21_duplicate_updates_total"
worker_metrics="ef21_worker_compute_seconds ef21_worker_bytes_sent_total
ef21_worker_bytes_received_total ef21_worker_reconnects_total ef21_worker_rounds_total
ef21_worker_clients"

has_metrics() { # FILE NAMES... -> prints the missing ones
  local f=$1; shift
  local missing=""
  for m in "$@"; do grep -Eq "^# TYPE $m " "$f" || missing="$missing $m"; done
  echo "$missing"
}

lint_exposition() { # NAME FILE
  local out rc
  out=$(promtool check metrics < "$2" 2>&1); rc=$?
  if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
    pass "promtool check metrics is silent on the $1 exposition ($(grep -c '^# TYPE ' "$2") metric families)"
  else
    fail "promtool check metrics on the $1 exposition (exit $rc):
$out"
  fi
}

########################################## Prometheus scraping a real `ef21 run` every 100 ms
# `ef21 run --metrics-listen=HOST:P` serves the aggregator's metrics on P and worker process w's
# on P + 1 + w: a P with P+1 and P+2 free too (two worker processes).
metrics_port=$("$py" -c 'import socket
for _ in range(200):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    try:
        others = [socket.socket() for _ in range(2)]
        for i, o in enumerate(others): o.bind(("127.0.0.1", p + 1 + i))
        print(p); break
    except OSError:
        pass')
prom_port=$(free_port)
prom="http://127.0.0.1:$prom_port"
cat > "$work/prometheus.yml" <<EOF
global:
  scrape_interval: 100ms
  scrape_timeout: 100ms
scrape_configs:
  - job_name: ef21-aggregator
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
  - job_name: ef21-worker
    static_configs:
      - targets: ["127.0.0.1:$((metrics_port + 1))", "127.0.0.1:$((metrics_port + 2))"]
EOF
promtool check config "$work/prometheus.yml" >/dev/null || { echo "FAIL: generated prometheus.yml"; exit 1; }
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn > "$work/prometheus.log" 2>&1 &
prometheus_ready() { http_get "$prom/-/ready" > /dev/null; }
prometheus_has_target() { [[ $(http_get "$prom/api/v1/targets") == *"127.0.0.1:$metrics_port"* ]]; }
poll 10 prometheus_ready || { echo "FAIL: Prometheus not ready: $(cat "$work/prometheus.log")"; exit 1; }

# Prometheus applies new targets a few seconds after start: wait until it lists ours (down, as
# nothing listens yet), so that the first 100 ms scrapes of the run are not lost.
poll 30 prometheus_has_target ||
  { echo "FAIL: Prometheus never picked up the scrape target: $(cat "$work/prometheus.log")"; exit 1; }

# Enough rounds that the run lasts seconds (~2 ms a round here), so many 100 ms scrapes land while
# it is in progress: the dashboard's rate/delta panels need samples that differ within a window.
run_flags=(--problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=row
           --algorithm=norm-ef21 --compressor=top-k --k=1 --rounds=1500)
start=$(now)
"$bin" run "${run_flags[@]}" --metrics-listen="127.0.0.1:$metrics_port" --linger-seconds=3 \
  --out="$work/run" > "$work/run.log" 2>&1 &
run_pid=$!
capture_exposition "http://127.0.0.1:$metrics_port/metrics" "$run_pid" "$work/aggregator.prom" &
capture_exposition "http://127.0.0.1:$((metrics_port + 1))/metrics" "$run_pid" "$work/run-worker.prom" &
wait "$run_pid"; rc=$?
end=$(now)
sleep 0.3  # let the last scrape land

if [ "$rc" -ne 0 ] || [ ! -f "$work/run/metrics.csv" ]; then
  fail "ef21 run exited $rc without a metrics.csv: $(tail -n 20 "$work/run.log")"
  e2e_summary
  exit 1
fi
pass "ef21 run scraped every 100 ms finished ($(($(wc -l < "$work/run/metrics.csv") - 1)) rows in metrics.csv)"

at="$end"
window="[$(( ${end%.*} - ${start%.*} + 60 ))s]"
for pair in "8*ef21_paper_bytes_per_client:paper_bits_per_client" \
            "ef21_uplink_bytes_per_client:uplink_bytes_per_client" \
            "ef21_downlink_bytes_per_client:downlink_bytes_per_client"; do
  metric=${pair%%:*}; column=${pair#*:}
  scale=1
  case "$metric" in '8*'*) scale=8; metric=${metric#'8*'}; esac
  got=$(prom_value "${scale} * last_over_time(${metric}${window})" "$at")
  want=$(csv_last "$work/run/metrics.csv" "$column")
  if [ -z "$want" ]; then
    fail "metrics.csv has no column $column"
  elif [ -z "$got" ]; then
    fail "Prometheus has no $metric series after the run"
  elif same_number "$got" "$want"; then
    pass "Prometheus' final $metric = $got = metrics.csv's last $column"
  else
    fail "Prometheus' final $metric = $got, metrics.csv's last $column = $want"
  fi
done

n=$(prom_value "count_over_time(ef21_g_norm${window})" "$at")
if [ -n "$n" ] && [ "${n%.*}" -ge 2 ]; then
  pass "ef21_g_norm series present in Prometheus ($n samples)"
else
  fail "ef21_g_norm series missing in Prometheus (samples: '${n}')"
fi

if [ -s "$work/run-worker.prom" ] && grep -q '^ef21_worker_rounds_total ' "$work/run-worker.prom"; then
  pass "ef21 run's worker process 0 serves its metrics on port $((metrics_port + 1)) (--metrics-listen port + 1)"
else
  fail "no worker metrics on port $((metrics_port + 1)) during ef21 run: $(tail -n 5 "$work/run.log")"
fi
if out=$("$py" tools/check_dashboard.py deploy/grafana/dashboards/ef21-federation.json \
           --prometheus="$prom" --require-data --start="$start" --end="$end" --step=1s \
           --rate-interval=30s 2>&1); then
  pass "every dashboard expression (worker panels included) parses and returns data: $(echo "$out" | tail -n1)"
else
  fail "dashboard expressions against the run:
$out"
fi

if [ -s "$work/aggregator.prom" ]; then
  lint_exposition "aggregator (ef21 run)" "$work/aggregator.prom"
  missing=$(has_metrics "$work/aggregator.prom" $aggregator_metrics)
  if [ -z "$missing" ]; then
    pass "aggregator exposition has every contract metric"
  else
    fail "aggregator exposition lacks:$missing"
  fi
else
  fail "could not fetch http://127.0.0.1:$metrics_port/metrics during the run"
fi

########################################## scraping leaves the trajectory identical
if "$bin" run "${run_flags[@]}" --out="$work/run-unscraped" > "$work/run2.log" 2>&1; then
  if out=$("$py" - "$work/run/metrics.csv" "$work/run-unscraped/metrics.csv" <<'EOF'
import csv, sys
def rows(path):
    with open(path) as f:
        return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in csv.DictReader(f)]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
if len(a) != len(b):
    sys.exit(f"{len(a)} rows scraped vs {len(b)} unscraped")
for i, (x, y) in enumerate(zip(a, b)):
    if x != y:
        diff = {k: (x.get(k), y.get(k)) for k in set(x) | set(y) if x.get(k) != y.get(k)}
        sys.exit(f"row {i} differs: {diff}")
print(f"{len(a)} rows identical")
EOF
  ); then
    pass "scraping every 100 ms leaves the trajectory identical: $out"
  else
    fail "scraped and unscraped runs differ: $out"
  fi
else
  fail "unscraped ef21 run failed: $(tail -n 20 "$work/run2.log")"
fi

########################################## a worker's exposition (ef21 aggregator + ef21 worker)
if "$bin" aggregator --help >/dev/null 2>&1 && "$bin" worker --help >/dev/null 2>&1; then
  grpc_port=$(free_port); agg_port=$(free_port); wrk_port=$(free_port)
  problem=(--problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=row)
  timeout 300 "$bin" aggregator --insecure --exit-when-complete --listen="127.0.0.1:$grpc_port" --metrics-listen="127.0.0.1:$agg_port" \
    --clients=683 "${problem[@]}" --algorithm=norm-ef21 --compressor=top-k --k=1 --rounds=200 \
    --out="$work/fed" > "$work/aggregator.log" 2>&1 &
  agg_pid=$!
  capture_exposition "http://127.0.0.1:$agg_port/metrics" "$agg_pid" "$work/fed-aggregator.prom" &
  serving() { "$bin" health --target="127.0.0.1:$grpc_port" > /dev/null 2>&1; }
  poll 10 serving
  timeout 300 "$bin" worker --insecure --aggregator="127.0.0.1:$grpc_port" --client-ids=0-682 \
    --metrics-listen="127.0.0.1:$wrk_port" --linger-seconds=2 "${problem[@]}" > "$work/worker.log" 2>&1 &
  wrk_pid=$!
  capture_exposition "http://127.0.0.1:$wrk_port/metrics" "$wrk_pid" "$work/worker.prom" &
  wait "$wrk_pid"; wrk_rc=$?
  wait "$agg_pid"; agg_rc=$?
  if [ "$wrk_rc" -ne 0 ] || [ "$agg_rc" -ne 0 ]; then
    fail "ef21 aggregator (exit $agg_rc) + ef21 worker (exit $wrk_rc): $(tail -n 5 "$work/aggregator.log") $(tail -n 5 "$work/worker.log")"
  fi
  if [ -s "$work/worker.prom" ]; then
    lint_exposition "worker" "$work/worker.prom"
    missing=$(has_metrics "$work/worker.prom" $worker_metrics)
    if [ -z "$missing" ]; then pass "worker exposition has every contract metric"; else fail "worker exposition lacks:$missing"; fi
  else
    fail "could not fetch the worker's metrics on 127.0.0.1:$wrk_port while it ran"
  fi
  if [ -s "$work/fed-aggregator.prom" ]; then
    lint_exposition "aggregator (ef21 aggregator)" "$work/fed-aggregator.prom"
  else
    fail "could not fetch the aggregator's metrics on 127.0.0.1:$agg_port while it ran"
  fi
else
  skip "worker exposition: ef21 aggregator / ef21 worker not available yet"
fi

e2e_summary
