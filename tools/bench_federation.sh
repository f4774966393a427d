#!/usr/bin/env bash
# Federation overhead, measured side by side in one run (issue 3, "Performance"):
#  (a) synthetic logistic regression d = 1e5, 8 clients x 50 rows, top-k k = 1000, 100 rounds:
#      `ef21 run` time / `ef21 simulate` time (target <= 1.3x, issue 11; bench/federation_speed_bench.sh measures both targets side by side);
#  (b) a1a, 1605 clients in 4 worker processes, norm-ef21 top-1, 400 rounds: rounds/s of
#      `ef21 run` next to simulate's (target: >= 0.5x simulate's rounds/s with diagnostics every round, issue 11);
#  (c) uplink wire bytes / paper-convention bytes per client per round, k = 1% of d = 1e5,
#      float32 values, from run (a)'s metrics.csv (target <= 1.3x);
#  (d) aggregator memory per client per coordinate: peak RSS of `ef21 aggregator` for the
#      polynomial at d = 1e5 with 16 and with 64 clients, (RSS64 - RSS16) / (48 d).
# Usage: tools/bench_federation.sh [path/to/ef21] [repeats]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bin/ef21}
repeats=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Best-of-$repeats wall time of a command, in seconds.
best_time() {
  local best="" t0 t1 t
  for ((i = 0; i < repeats; i++)); do
    t0=$(date +%s.%N)
    "$@" > /dev/null
    t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
  done
  echo "$best"
}

# A_SYNTHETIC/A_K override (a)'s size. At d = 1e5 both commands first spend ~12 s on the
# smoothness constants (Lanczos over the data, common/linalg.h), the same work on both sides.
a_synthetic=${A_SYNTHETIC:-400x100000}
a_k=${A_K:-1000}
echo "== (a) synthetic $a_synthetic, 8 clients, top-k k=$a_k, 100 rounds (best of $repeats)"
a=(--problem=logreg --synthetic=$a_synthetic --split=contiguous --clients=8 --algorithm=norm-ef21
   --compressor=top-k --k=$a_k --rounds=100)
sim_a=$(best_time "$bin" simulate "${a[@]}" --out="$work/a-sim")
run_a=$(best_time "$bin" run "${a[@]}" --worker-processes=2 --out="$work/a-run")
same=$(tools/compare_metrics.py --quiet "$work/a-sim" "$work/a-run" && echo identical || echo DIFFERENT)
loop() { tail -n 1 "$1" | cut -d, -f10; }  # wall_seconds of the last row: the rounds themselves
printf "whole command: simulate %.3f s   run %.3f s   run/simulate %.2fx (target <= 1.3x)   metrics.csv %s\n" \
  "$sim_a" "$run_a" "$(echo "$run_a / $sim_a" | bc -l)" "$same"
printf "rounds only (metrics.csv wall_seconds; run includes starting the worker processes): simulate %.3f s   run %.3f s   %.2fx\n" \
  "$(loop "$work/a-sim/metrics.csv")" "$(loop "$work/a-run/metrics.csv")" \
  "$(echo "$(loop "$work/a-run/metrics.csv") / $(loop "$work/a-sim/metrics.csv")" | bc -l)"

echo "== (b) a1a, 1605 clients in 4 worker processes, norm-ef21 top-1, 400 rounds (best of $repeats)"
b=(--problem=logreg --data=data/libsvm/a1a --features=123 --split=row --algorithm=norm-ef21
   --compressor=top-k --k=1 --rounds=400)
sim_b=$(best_time "$bin" simulate "${b[@]}" --out="$work/b-sim")
run_b=$(best_time "$bin" run "${b[@]}" --worker-processes=4 --out="$work/b-run")
same=$(tools/compare_metrics.py --quiet "$work/b-sim" "$work/b-run" && echo identical || echo DIFFERENT)
printf "simulate %.3f s (%.0f rounds/s)   run %.3f s (%.0f rounds/s)   run/simulate time %.2fx (target <= 2x: >= 0.5x simulate's rounds/s)   metrics.csv %s\n" \
  "$sim_b" "$(echo "401 / $sim_b" | bc -l)" "$run_b" "$(echo "401 / $run_b" | bc -l)" \
  "$(echo "$run_b / $sim_b" | bc -l)" "$same"
# The same with diagnostics (dense gradients) only at the end: the algorithm's own traffic.
run_b2=$(best_time "$bin" run "${b[@]}" --diagnostics-every=400 --worker-processes=4 --out="$work/b-run2")
printf "  with --diagnostics-every=400: run %.3f s (%.0f rounds/s)\n" "$run_b2" "$(echo "401 / $run_b2" | bc -l)"

echo "== (c) uplink wire bytes / paper bytes, k = 1% of d = 1e5, float32 (polynomial d = 1e5, 4 clients, top-k 1000, 20 rounds over gRPC)"
"$bin" run --problem=polynomial --dim=100000 --clients=4 --sigma=1 --algorithm=norm-ef21 --k=1000 \
  --rounds=20 --out="$work/c-run" > /dev/null
awk -F, 'NR == 2 { p0 = $2; u0 = $3 } END { printf "paper %.0f B/client/round   wire %.0f B/client/round   wire/paper %.3fx (target <= 1.3x; plain 32-bit indices: 2x)\n", ($2 - p0) / 8 / ($1), ($3 - u0) / ($1), ($3 - u0) / (($2 - p0) / 8) }' "$work/c-run/metrics.csv"

echo "== (d) aggregator memory per client per coordinate (polynomial, d = 1e5, diagnostics every round)"
peak_rss() {  # clients -> peak RSS (bytes) of the aggregator process
  local n=$1 out="$work/mem-$1.out" port pid rss=""
  "$bin" aggregator --insecure --exit-when-complete --listen=127.0.0.1:0 --problem=polynomial --dim=100000 --clients="$n" \
    --algorithm=norm-ef21 --k=1000 --rounds=3 --linger-seconds=2 --out="$work/mem-$n" > "$out" 2>&1 &
  pid=$!
  for _ in $(seq 500); do port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out"); [ -n "$port" ] && break; sleep 0.02; done
  "$bin" worker --insecure --aggregator=127.0.0.1:"$port" --client-ids=0-$((n - 1)) --problem=polynomial \
    --dim=100000 --clients="$n" > /dev/null 2>&1
  for _ in $(seq 500); do [ -f "$work/mem-$n/summary.json" ] && break; sleep 0.02; done  # lingering
  rss=$(awk '/VmHWM/ { print $2 * 1024 }' "/proc/$pid/status")
  wait "$pid"
  echo "$rss"
}
r16=$(peak_rss 16)
r64=$(peak_rss 64)
printf "peak RSS 16 clients %.1f MB, 64 clients %.1f MB: %.1f bytes per client per coordinate\n" \
  "$(echo "$r16 / 1000000" | bc -l)" "$(echo "$r64 / 1000000" | bc -l)" "$(echo "($r64 - $r16) / (48 * 100000)" | bc -l)"
echo "  (peak on a diagnostic round: the g_i copy, the pending dense gradient, the reactor's decode scratch,"
echo "   the parsed batch and gRPC's receive buffer, 8 B each; between diagnostic rounds the state is the g_i copy, 8 B)"
