#!/usr/bin/env bash
# Runs the libFuzzer targets of fuzz/ (built with clang-14 + ASan/UBSan into build/fuzz):
#   tools/fuzz.sh [--seconds N] [--build DIR] [--keep DIR] [--seeds] [TARGET...]
# Each target runs N seconds (default 600) from its seed corpus fuzz/corpus/<TARGET> plus a working
# corpus (a fresh temporary directory, or DIR/<TARGET> with --keep, so long runs accumulate). A
# finding (crash, sanitizer report, leak, timeout) stops that target, leaves its reproducer in
# the working directory's parent and makes the script exit 1. Prints executions, executions/s and
# the corpus size of each target. --seeds rewrites fuzz/corpus from make_fuzz_seeds first.
# ctest runs every target for EF21_FUZZ_SECONDS (fuzz.*); this script is also the long run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=600
build="$root/build/fuzz"
keep=""
seeds=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --seeds) seeds=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] ||
  targets=(libsvm_fuzzer sparse_decoder_fuzzer run_spec_fuzzer worker_message_fuzzer)
if [ ! -x "$build/bin/${targets[0]}" ]; then
  echo "fuzz.sh: building the fuzz targets in $build (clang-14)" >&2
  cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Release \
    -DEF21_BUILD_FUZZ=ON -DEF21_BUILD_TESTS=OFF -DEF21_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build" -j 2 --target ef21_fuzzers >/dev/null
fi
if [ "$seeds" = 1 ]; then
  EF21_SOURCE_DIR="$root" "$build/bin/make_fuzz_seeds" "$root/fuzz/corpus"
fi
export EF21_SOURCE_DIR="$root"
# Leaks are checked; the coordinator's threads and gRPC's globals are not leaks of one input.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for target in "${targets[@]}"; do
  bin="$build/bin/$target"
  seed="$root/fuzz/corpus/$target"
  [ -x "$bin" ] || { echo "fuzz.sh: no $bin" >&2; exit 2; }
  [ -d "$seed" ] || { echo "fuzz.sh: no seed corpus $seed" >&2; exit 2; }
  if [ -n "$keep" ]; then
    work="$keep/$target"
    mkdir -p "$work/corpus"
  else
    work=$(mktemp -d "${TMPDIR:-/tmp}/ef21-fuzz-$target.XXXXXX")
    mkdir -p "$work/corpus"
  fi
  log="$work/fuzz.log"
  set +e
  # -timeout: one input taking longer is a finding; -rss_limit_mb: so is this much memory.
  "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seed" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$work/corpus" -type f | wc -l)
  printf '%-24s %10s executions in %ss, %6s exec/s, corpus %s (+%s seeds)' "$target" \
    "${runs:-?}" "$seconds" "${per_second:-?}" "$corpus" "$(find "$seed" -type f | wc -l)"
  if [ $rc -ne 0 ]; then
    printf ' -- FINDING (exit %s); log and reproducer in %s\n' "$rc" "$work"
    grep -E 'ERROR|SUMMARY|runtime error|deadly signal|Test unit written' "$log" | head -20 >&2 || true
    status=1
  else
    printf ', no findings\n'
    [ -n "$keep" ] || rm -rf "$work"
  fi
done
exit $status
