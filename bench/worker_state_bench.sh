#!/usr/bin/env bash
# What keeping g_i in the workers' --state-dir costs under --client-state=worker (issue 11 item 2):
# the same federation (`ef21 aggregator --client-state=worker` + worker processes on loopback) with
# and without `ef21 worker --state-dir`, side by side, alternating, REPS times each. Polynomial
# problem, norm-ef21, top-k, f32 values, --init=compressed, diagnostics at the first and last round.
# Prints the median whole-run seconds and the workers' CPU seconds (user + system) of each and their
# ratios (on a loaded machine the wall time is noise; the workers' CPU is what the log costs), the bytes the state directories hold
# at the end (no checkpoint moved the anchor: the logs hold every round), those bytes per client per
# round against 8·d (a dense copy of g_i), and whether both runs' metrics.csv agree (they must).
#
# Usage: bench/worker_state_bench.sh <ef21-binary> [d] [clients] [k] [rounds] [workers] [reps]
#        (defaults: 100000 16 100 200 2 3)
set -euo pipefail
bin=$1
d=${2:-100000}
n=${3:-16}
k=${4:-100}
rounds=${5:-200}
workers=${6:-2}
reps=${7:-3}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
problem=(--problem=polynomial --dim="$d" --clients="$n" --seed=0)
flags=("${problem[@]}" --algorithm=norm-ef21 --k="$k" --value-type=f32 --init=compressed
       --rounds="$rounds" --diagnostics-every="$rounds" --client-state=worker)

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== polynomial d = $d, n = $n clients, k = $k, $rounds rounds, $workers worker processes, $reps runs each"

# The port the aggregator printed; empty (not a failure) before its output file exists.
port_of() { [ -f "$1" ] && sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$1" | head -n 1 || true; }

run_once() {  # NAME STATE(yes|no): one federation into $work/NAME; prints nothing
  local name=$1 state=$2 port="" i
  rm -rf "$work/$name"
  mkdir -p "$work/$name"
  "$bin" aggregator --insecure --listen=127.0.0.1:0 --out="$work/$name/run" --exit-when-complete \
    "${flags[@]}" > "$work/$name/agg.out" 2> "$work/$name/agg.err" &
  local agg=$!
  pids+=("$agg")
  for ((i = 0; i < 6000; i++)); do
    port=$(port_of "$work/$name/agg.out")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "aggregator did not start: $(tail -n 3 "$work/$name/agg.err")"; exit 1; }
  local per=$(((n + workers - 1) / workers)) w_pids=() extra=()
  [ "$state" = yes ] && extra=(--state-dir="$work/$name/state")
  for ((i = 0; i < workers; i++)); do
    local first=$((i * per)) last=$(((i + 1) * per - 1))
    [ "$last" -ge "$n" ] && last=$((n - 1))
    [ "$first" -gt "$last" ] && continue
    # The worker's CPU seconds (user + system) into worker-$i.cpu.
    { TIMEFORMAT='%U %S'; time "$bin" worker --insecure --aggregator=127.0.0.1:"$port" \
        --client-ids="$first-$last" --threads=1 "${problem[@]}" "${extra[@]}" > /dev/null \
        2> "$work/$name/worker-$i.err"; } 2> "$work/$name/worker-$i.cpu" &
    w_pids+=($!)
    pids+=($!)
  done
  for p in "${w_pids[@]}"; do wait "$p" || { echo "worker failed: $(tail -n 3 "$work/$name"/worker-*.err)"; exit 1; }; done
  wait "$agg" || { echo "aggregator failed: $(tail -n 3 "$work/$name/agg.err")"; exit 1; }
}

declare -A times cpu
for ((r = 0; r < reps; r++)); do
  for state in no yes; do
    begin=$(date +%s.%N)
    run_once "$state" "$state"
    end=$(date +%s.%N)
    times[$state]+="$(awk -v a="$begin" -v b="$end" 'BEGIN { printf "%.3f", b - a }') "
    cpu[$state]+="$(cat "$work/$state"/worker-*.cpu | awk '{ s += $1 + $2 } END { printf "%.3f", s }') "
  done
done
median() { tr ' ' '\n' <<< "$1" | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
no=$(median "${times[no]}")
yes=$(median "${times[yes]}")
bytes=$(find "$work/yes/state" -type f -printf "%s\n" | awk "{ s += \$1 } END { print s + 0 }")
no_cpu=$(median "${cpu[no]}")
yes_cpu=$(median "${cpu[yes]}")
printf "%-22s %14s %14s   %s\n" "worker --state-dir" "median_wall_s" "workers_cpu_s" "runs: wall_s / workers_cpu_s"
printf "%-22s %14s %14s   %s / %s\n" "none (memory only)" "$no" "$no_cpu" "${times[no]}" "${cpu[no]}"
printf "%-22s %14s %14s   %s / %s\n" "g_i snapshot + log" "$yes" "$yes_cpu" "${times[yes]}" "${cpu[yes]}"
awk -v a="$yes" -v b="$no" -v c="$yes_cpu" -v e="$no_cpu" \
  'BEGIN { printf "ratio with/without --state-dir: wall %.3f, workers CPU %.3f\n", a / b, c / e }'
awk -v s="$bytes" -v n="$n" -v r="$rounds" -v d="$d" -v k="$k" 'BEGIN {
  per = s / (n * (r + 1))
  printf "state directories: %d bytes = %.0f bytes per client per round (24 + 12k = %d; 8d = %d: %.0fx less)\n",
    s, per, 24 + 12 * k, 8 * d, 8 * d / per }'
if cmp -s <(cut -d, -f1-9 "$work/no/run/metrics.csv") <(cut -d, -f1-9 "$work/yes/run/metrics.csv"); then
  echo "metrics.csv columns 1-9: equal"
else
  echo "metrics.csv columns 1-9: DIFFER"
  exit 1
fi
