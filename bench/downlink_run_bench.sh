#!/usr/bin/env bash
# The exact delta downlink at d = 10^6 (issue 11), side by side in one run: polynomial d = 10^6,
# 16 clients (Gaussian gradient noise σ = 0.5), norm-ef21-sgd, top-k k = 10^4, f32 values.
#  1. bytes: build/bin/downlink_bench — per round, the RoundStart a host receives with
#     --downlink=delta against the coded size of the round's sparse update (target ≤ 1.3×) and
#     against dense x; exact byte counts, independent of the machine;
#  2. speed: `ef21 simulate`, then `ef21 run` with 4 worker processes and --downlink=auto, then
#     with --downlink=dense, all on the same flags: rounds/s from metrics.csv's wall_seconds
#     (rows 0 → R, no diagnostics between), the run/simulate ratio (target ≥ 0.5×), the whole
#     commands' wall times, and the cumulative downlink bytes per client of the last row.
# Usage: bench/downlink_run_bench.sh <ef21-binary> <downlink_bench-binary> [rounds]  (default 20)
set -euo pipefail
bin=$1
bytes_bench=$2
rounds=${3:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(--problem=polynomial --dim=1000000 --clients=16 --sigma=0.5 --algorithm=norm-ef21-sgd
       --k=10000 --value-type=f32 --rounds="$rounds" --diagnostics-every="$rounds" --seed=0)

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1. downlink bytes per host per round"
"$bytes_bench" "$rounds"

# field F of metrics.csv's row R
field() { awk -F, -v r="$2" -v f="$3" 'NR > 1 && $1 == r { print $f }' "$1/metrics.csv"; }
rate() { awk -v r="$rounds" -v a="$(field "$1" 0 10)" -v b="$(field "$1" "$rounds" 10)" \
           'BEGIN { printf "%.4f", r / (b - a) }'; }
timed() {  # NAME COMMAND...: runs COMMAND, sets seconds[NAME]
  local name=$1 begin end
  shift
  begin=$(date +%s.%N)
  "$@" > "$work/$name.log" 2>&1
  end=$(date +%s.%N)
  seconds[$name]=$(awk -v a="$begin" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
}
declare -A seconds
echo "== 2. rounds/s, $rounds rounds (diagnostics at rows 0 and $rounds only)"
timed sim "$bin" simulate "${flags[@]}" --out="$work/sim"
timed auto "$bin" run "${flags[@]}" --downlink=auto --worker-processes=4 --out="$work/auto"
timed dense "$bin" run "${flags[@]}" --downlink=dense --worker-processes=4 --out="$work/dense"
sim=$(rate "$work/sim")
printf "%-28s %12s %10s %14s %22s\n" command rounds/s vs_simulate whole_command_s downlink_MB_per_client
for name in sim auto dense; do
  r=$(rate "$work/$name")
  label=$name
  case $name in
    sim) label="simulate" ;;
    auto) label="run --downlink=auto" ;;
    dense) label="run --downlink=dense" ;;
  esac
  printf "%-28s %12s %10s %14s %22s\n" "$label" "$r" \
    "$(awk -v a="$r" -v b="$sim" 'BEGIN { printf "%.2fx", a / b }')" "${seconds[$name]}" \
    "$(awk -v v="$(field "$work/$name" "$rounds" 4)" 'BEGIN { printf "%.1f", v / 1e6 }')"
done
echo "== both runs equal the simulation (auto: every column but wall_seconds; dense: all but the"
echo "   downlink column, which counts what --downlink=dense sends)"
"$(dirname "$0")/../tools/compare_metrics.py" "$work/sim" "$work/auto"
"$(dirname "$0")/../tools/compare_metrics.py" "$work/sim" "$work/dense" --columns 1-3,5-9
