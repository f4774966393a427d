#!/usr/bin/env bash
# `ef21 run` (aggregator + 2 worker processes over gRPC on loopback) against `ef21 simulate` on
# ResNet-20 (Fashion-MNIST fed as 3 × 32 × 32), 5 clients × batch 128, top-k k = 0.01·d, norm-ef21,
# γ = 5: seconds per round from metrics.csv (rounds 2..R, no diagnostics inside), their ratio
# (target ≤ 1.15), and the peak RSS of simulate, the aggregator and a worker.
# Usage: bench/network_run_bench.sh <ef21-binary> [rounds]   (default 12 rounds)
set -euo pipefail
bin=$1
rounds=${2:-12}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
net=(--problem=network --model=resnet20 --dataset=fashion-mnist --clients=5 --batch=128
     --algorithm=norm-ef21 --k=2697 --stepsize=constant --gamma=5 --rounds="$rounds"
     --diagnostics-every=100000 --diagnostics-samples=128 --threads=5 --seed=0)

# Seconds per round over rounds 2..R-1 (round 0 is dense and diagnostic, round R diagnostic).
per_round() {
  awk -F, -v last="$rounds" 'NR > 1 && $1 == 1 { a = $10 } NR > 1 && $1 == last - 1 { b = $10 }
                             END { printf "%.3f", (b - a) / (last - 2) }' "$1/metrics.csv"
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
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2> /dev/null || echo 0)
    [ "${rss:-0}" -gt "${peak[worker]:-0}" ] && peak[worker]=$rss
  done
  sleep 0.5
done
wait "$run_pid"
sim=$(per_round "$work/sim")
run=$(per_round "$work/run")
echo "ResNet-20, 5 clients x 128, k = 2697, $rounds rounds"
echo "simulate: $sim s/round; run (2 worker processes): $run s/round; run/simulate $(echo "scale=2; $run / $sim" | bc) (target <= 1.15)"
echo "peak RSS: simulate $(( $(cat "$work/sim.rss") / 1024 )) MB; aggregator (ef21 run) $(( ${peak[aggregator]:-0} / 1024 )) MB; largest worker $(( ${peak[worker]:-0} / 1024 )) MB"
"$(dirname "$0")/../tools/compare_metrics.py" "$work/sim" "$work/run"
