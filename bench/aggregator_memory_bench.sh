#!/usr/bin/env bash
# The aggregator's peak memory with --client-state=aggregator (a copy of every g_i, n·d values)
# and --client-state=worker (x, g and a state hash per client: O(d)), side by side in one run
# (issue 11 item 2). Polynomial problem, norm-ef21, top-k, f32 values, --init=compressed (round 0
# sends k values, not dense g_i^0), diagnostics at the first and last round only (the worker-mode
# aggregator evaluates ∇f(x^r) itself there, one client at a time), checkpoints on as by default,
# `ef21 worker` processes on loopback.
# The peak is the one users get: `ef21 aggregator` (the statically linked binary that ships) as
# its own process, its peak RSS (VmHWM, from /usr/bin/time) printed in MB and as a multiple of
# 8·d bytes (one dense vector of doubles). With the second argument, each mode runs once more
# with the same Aggregator of server/ hosted by build/bin/aggregator_memory_bench (linked against
# the shared libraries, so its RSS starts higher), which prints the timeline: RSS before the
# aggregator started, after each closed round (VmRSS, VmHWM so far, malloc's bytes in use) and
# samples near its peak — which phase of the run sets the peak. A failed run keeps its logs (the
# directory is printed). Both modes must give the same metrics.csv (tools/compare_metrics.py).
#
# Usage: bench/aggregator_memory_bench.sh <ef21-binary> [<aggregator_memory_bench-binary>|-]
#                                         [d] [clients] [k] [rounds] [workers]
#        (defaults: - 1000000 1000 1000 4 4; KEEP_LOGS=1 keeps the logs and the whole timeline).
#        The aggregator mode needs n·8d bytes (8 GB at the defaults) plus the workers' own n·8d:
#        CLIENT_STATE_MODES="worker" skips it.
set -euo pipefail
bin=$1
host=${2:--}
d=${3:-1000000}
n=${4:-1000}
k=${5:-1000}
rounds=${6:-4}
workers=${7:-4}
modes=${CLIENT_STATE_MODES:-"aggregator worker"}
work=$(mktemp -d)
pids=()
failed=0
cleanup() {
  # (/usr/bin/time's child first: killing time alone would leave it running.)
  for p in "${pids[@]}"; do pkill -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  # A failed run keeps its logs (aggregator and worker stdout/stderr) for a look; so does any run
  # with KEEP_LOGS=1 (the aggregator's whole timeline of samples is in <mode>.agg.out).
  if [ "$failed" = 1 ] || [ "${KEEP_LOGS:-0}" = 1 ]; then
    echo "logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
problem=(--problem=polynomial --dim="$d" --clients="$n" --seed=0)
flags=("${problem[@]}" --algorithm=norm-ef21 --k="$k" --value-type=f32 --init=compressed
       --rounds="$rounds" --diagnostics-every="$rounds")

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== polynomial d = $d, n = $n clients, k = $k, $rounds rounds, $workers worker processes"

# The port of a complete "listening on HOST:PORT" line: a last line still being written (no
# newline yet) is not read, so a port cut short is never taken.
port_of() {
  local text
  text=$(cat "$1" 2>/dev/null; echo .)
  text=${text%.}
  case $text in
    *$'\n') ;;
    *$'\n'*) text=${text%$'\n'*}$'\n' ;;
    *) text="" ;;
  esac
  printf '%s' "$text" | sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' | head -n 1
}

run_mode() {  # MODE KIND: runs aggregator (KIND ef21 or host) + workers to the run's end
  local mode=$1 kind=$2 tag=$1.$2 port="" i
  if [ "$kind" = ef21 ]; then
    /usr/bin/time -f "peak_rss_kb %M" -o "$work/$tag.time" "$bin" aggregator --insecure \
      --exit-when-complete --listen=127.0.0.1:0 --out="$work/$tag" --client-state="$mode" \
      "${flags[@]}" > "$work/$tag.agg.out" 2> "$work/$tag.agg.err" &
  else
    "$host" --listen=127.0.0.1:0 --out="$work/$tag" --client-state="$mode" "${flags[@]}" \
      > "$work/$tag.agg.out" 2> "$work/$tag.agg.err" &
  fi
  local agg=$!
  pids+=("$agg")
  for ((i = 0; i < 6000; i++)); do
    port=$(port_of "$work/$tag.agg.out")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || {
    failed=1
    echo "aggregator ($tag) did not start: $(tail -n 3 "$work/$tag.agg.err")"
    exit 1
  }
  local per=$(((n + workers - 1) / workers)) w_pids=()
  for ((i = 0; i < workers; i++)); do
    local first=$((i * per)) last=$(((i + 1) * per - 1))
    [ "$last" -ge "$n" ] && last=$((n - 1))
    [ "$first" -gt "$last" ] && continue
    "$bin" worker --insecure --aggregator=127.0.0.1:"$port" --client-ids="$first-$last" \
      --threads=1 "${problem[@]}" > /dev/null 2> "$work/$tag.worker-$i.err" &
    w_pids+=($!)
    pids+=($!)
  done
  for ((i = 0; i < ${#w_pids[@]}; i++)); do
    wait "${w_pids[$i]}" || {
      failed=1
      echo "worker $i ($tag) failed: $(tail -n 3 "$work/$tag.worker-$i.err")"
    }
  done
  wait "$agg" || {
    failed=1
    echo "aggregator ($tag) failed: $(tail -n 3 "$work/$tag.agg.err")"
  }
  [ "$failed" = 0 ] || exit 1
}

kinds=ef21
[ "$host" = - ] || kinds="ef21 host"
declare -A seconds
for mode in $modes; do
  for kind in $kinds; do
    begin=$(date +%s.%N)
    run_mode "$mode" "$kind"
    end=$(date +%s.%N)
    seconds[$mode.$kind]=$(awk -v a="$begin" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  done
done

dense_mb=$(awk -v d="$d" 'BEGIN { printf "%.1f", 8 * d / 1e6 }')
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }
times_8d() { awk -v k="$1" -v d="$d" 'BEGIN { printf "%.2fx", k * 1024 / (8 * d) }'; }
printf "%-16s %-30s %12s %12s %16s %12s\n" "--client-state" "aggregator process" "peak_RSS_MB" \
  "x_8d_bytes" "RSS_at_start_MB" "whole_run_s"
for mode in $modes; do
  kb=$(awk '$1 == "peak_rss_kb" { print $2 }' "$work/$mode.ef21.time")
  printf "%-16s %-30s %12s %12s %16s %12s\n" "$mode" "ef21 aggregator" "$(mb "$kb")" \
    "$(times_8d "$kb")" "-" "${seconds[$mode.ef21]}"
  [ "$host" = - ] && continue
  kb=$(awk '$1 == "peak_rss_kb" { print $2 }' "$work/$mode.host.agg.out")
  base=$(awk '$1 == "baseline_rss_kb" { print $2 }' "$work/$mode.host.agg.out")
  printf "%-16s %-30s %12s %12s %16s %12s\n" "$mode" "aggregator_memory_bench (host)" \
    "$(mb "$kb")" "$(times_8d "$kb")" "$(mb "$base")" "${seconds[$mode.host]}"
done
for mode in $modes; do
  [ "$host" = - ] && break
  out=$work/$mode.host.agg.out
  echo "== $mode, hosted: RSS after each closed round (VmRSS, VmHWM so far, malloc's bytes in use), MB"
  awk '$1 == "malloc_arena_max" { printf "  malloc arenas at most: %s (0: glibc default)\n", $2 }' "$out"
  awk '$1 == "baseline_rss_kb" { printf "  before the aggregator started: RSS %.1f\n", $2 * 1024 / 1e6 }' "$out"
  awk '$1 == "started_peak_rss_kb" { printf "  serving, no worker yet: peak %.1f\n", $2 * 1024 / 1e6 }' "$out"
  awk '$1 == "round" { printf "  round %s closed at %.1f s: RSS %.1f, peak %.1f, malloc in use %.1f\n",
                               $2, $10 / 1000, $4 * 1024 / 1e6, $6 * 1024 / 1e6, $8 * 1024 / 1e6 }' "$out"
  awk '$1 == "at_peak" { printf "  at the sampled peak (%.1f s): RSS %.1f = anonymous %.1f + file-backed %.1f; %d threads; malloc: arenas %.1f (in use %.1f, free %.1f), mapped blocks %.1f\n",
                                $3 / 1000, $5 * 1024 / 1e6, $7 * 1024 / 1e6, $9 * 1024 / 1e6, $11,
                                $13 * 1024 / 1e6, $15 * 1024 / 1e6, $17 * 1024 / 1e6, $19 * 1024 / 1e6 }' "$out"
  # The sampler's timeline (VmRSS every 5 ms, printed on a change of 1 MB or more) near the peak.
  echo "  samples within 6 MB of the peak (s since start: RSS, malloc in use, MB):"
  awk '$1 == "sample" { t[++n] = $2; r[n] = $4; h[n] = $6; if ($4 > max) max = $4 }
       END { for (i = 1; i <= n; ++i) if (r[i] >= max - 6000)
               printf "    %.3f s: %.1f, %.1f\n", t[i] / 1000, r[i] * 1024 / 1e6, h[i] * 1024 / 1e6 }' "$out"
done
echo "(8·d bytes = $dense_mb MB; the aggregator mode's g_i copies alone are n·8·d = $(awk -v d="$d" -v n="$n" 'BEGIN { printf "%.0f", 8 * d * n / 1e6 }') MB)"
if [ "$modes" = "aggregator worker" ]; then
  echo "== both modes give the same metrics.csv (every column but wall_seconds)"
  "$(dirname "$0")/../tools/compare_metrics.py" "$work/aggregator.ef21" "$work/worker.ef21"
fi
