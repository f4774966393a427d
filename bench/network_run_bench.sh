#!/usr/bin/env bash
# `ef21 run` (aggregator + 2 worker processes over gRPC on loopback) against `ef21 simulate` on
# ResNet-20 (Fashion-MNIST fed as 3 × 32 × 32), 5 clients × batch 128, top-k k = 0.01·d, norm-ef21,
# γ = 5: seconds per round from metrics.csv (the median over rounds 2..R-1: no diagnostics, the
# first round's warm-up left out, robust to other processes' bursts on a shared machine), their
# ratio (target ≤ 1.15), and the peak RSS of simulate, the aggregator and each worker (clients 0-1
# and 2-4: their difference is the memory of one client).
# Usage: bench/network_run_bench.sh <ef21-binary> [rounds]   (default 12 rounds)
set -euo pipefail
bin=$1
rounds=${2:-12}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
net=(--problem=network --model=resnet20 --dataset=fashion-mnist --clients=5 --batch=128
     --algorithm=norm-ef21 --k=2697 --stepsize=constant --gamma=5 --rounds="$rounds"
     --diagnostics-every=100000 --diagnostics-samples=128 --seed=0)

# Median seconds per round over rounds 2..R-1 (round 0 is dense and diagnostic, round 1 warms up,
# round R is diagnostic).
per_round() {
  awk -F, -v last="$rounds" 'NR > 1 { t[$1] = $10 }
    END { for (r = 2; r <= last - 1; ++r) print t[r] - t[r - 1] }' "$1/metrics.csv" |
    sort -g | awk '{ d[NR] = $1 } END { printf "%.3f", NR % 2 ? d[(NR + 1) / 2] : (d[NR / 2] + d[NR / 2 + 1]) / 2 }'
}

/usr/bin/time -f "%M" -o "$work/sim.rss" "$bin" simulate "${net[@]}" --out="$work/sim" > /dev/null
# Peak RSS of the federation's processes, sampled from /proc while it runs: `ef21 run` itself hosts
# the aggregator; its children are the `ef21 worker` processes.
"$bin" run "${net[@]}" --worker-processes=2 --out="$work/run" > "$work/run.log" 2>&1 &
run_pid=$!
declare -A peak
while kill -0 "$run_pid" 2> /dev/null; do
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$run_pid/status" 2> /dev/null || echo 0)
  [ "${rss:-0}" -gt "${peak[aggregator]:-0}" ] && peak[aggregator]=$rss
  for pid in $(pgrep -P "$run_pid" || true); do
    ids=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -o -- '--client-ids=[0-9-]*' || true)
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2> /dev/null || echo 0)
    [ -n "$ids" ] && [ "${rss:-0}" -gt "${peak[$ids]:-0}" ] && peak[$ids]=$rss
  done
  sleep 0.5
done
wait "$run_pid"
sim=$(per_round "$work/sim")
run=$(per_round "$work/run")
echo "ResNet-20, 5 clients x 128, k = 2697, $rounds rounds; load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %H:%M UTC')"
echo "simulate: $sim s/round; run (2 worker processes): $run s/round; run/simulate $(echo "scale=2; $run / $sim" | bc) (target <= 1.15)"
echo "peak RSS: simulate $(( $(cat "$work/sim.rss") / 1024 )) MB; aggregator (ef21 run) $(( ${peak[aggregator]:-0} / 1024 )) MB; worker of clients 0-1 $(( ${peak[--client-ids=0-1]:-0} / 1024 )) MB, of clients 2-4 $(( ${peak[--client-ids=2-4]:-0} / 1024 )) MB"
"$(dirname "$0")/../tools/compare_metrics.py" "$work/sim" "$work/run"
