#!/usr/bin/env bash
# Federation speed against the simulator, both targets of issue 11 side by side in one run:
#  (1) a1a, 1,605 clients in 4 worker processes, norm-ef21 top-1, 400 rounds, diagnostics every
#      round: rounds/s of `ef21 run` ÷ rounds/s of `ef21 simulate`, whole commands (target >= 0.5);
#      the same with --diagnostics-every=400 beside it (the algorithm's own traffic);
#  (2) synthetic logistic regression d = 10^5, 8 clients x 50 rows, top-k k = 1000, 100 rounds,
#      default --diagnostics-every (every 10 rounds at this d), 2 worker processes: `ef21 run`
#      wall time ÷ `ef21 simulate` wall time, whole commands (target <= 1.3), and the same for the
#      CPU time (user + sys of the command and its workers) and for the rounds alone.
# Each pair runs interleaved (simulate, run, simulate, run, ...) and the best of N of each is
# kept: on a shared machine the fastest repeat is the one least disturbed by other processes. The
# load average is printed before and after; both runs' metrics.csv must be identical.
# Usage: bench/federation_speed_bench.sh [path/to/ef21] [repeats]   (default build/bin/ef21, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bin/ef21}
repeats=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Runs "$@" once; prints "wall cpu" in seconds (cpu: user + sys, children included).
timed() {
  /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" > /dev/null 2> "$work/stderr" ||
    { cat "$work/stderr" >&2; return 1; }
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$work/time"
}
# Best (smallest) wall of the pairs "wall cpu" on stdin, and that repeat's cpu.
best() { sort -g | head -n 1; }
# wall_seconds of metrics.csv's last row: the rounds, without start-up.
rounds_wall() { tail -n 1 "$1/metrics.csv" | cut -d, -f10; }
ratio() { echo "scale=4; $1 / $2" | bc | sed 's/^\./0./'; }

echo "federation_speed_bench: $(date -u '+%F %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), best of $repeats"

a1a=(--problem=logreg --data=data/libsvm/a1a --features=123 --split=row --algorithm=norm-ef21
     --compressor=top-k --k=1 --rounds=400)
syn=(--problem=logreg --synthetic=400x100000 --split=contiguous --clients=8 --algorithm=norm-ef21
     --compressor=top-k --k=1000 --rounds=100)
: > "$work/a-sim"; : > "$work/a-run"; : > "$work/a-run400"; : > "$work/s-sim"; : > "$work/s-run"
for ((i = 0; i < repeats; ++i)); do
  timed "$bin" simulate "${a1a[@]}" --diagnostics-every=1 --overwrite --out="$work/a1a-sim" >> "$work/a-sim"
  timed "$bin" run "${a1a[@]}" --diagnostics-every=1 --worker-processes=4 --overwrite \
    --out="$work/a1a-run" >> "$work/a-run"
  timed "$bin" run "${a1a[@]}" --diagnostics-every=400 --worker-processes=4 --overwrite \
    --out="$work/a1a-run400" >> "$work/a-run400"
  timed "$bin" simulate "${syn[@]}" --overwrite --out="$work/syn-sim" >> "$work/s-sim"
  echo "$(timed "$bin" run "${syn[@]}" --worker-processes=2 --overwrite --out="$work/syn-run") $(rounds_wall "$work/syn-run")" >> "$work/s-run"
  echo "$(rounds_wall "$work/syn-sim")" >> "$work/s-sim-rounds"
done
same() { tools/compare_metrics.py --quiet "$1" "$2" && echo identical || echo DIFFERENT; }

read -r a_sim a_sim_cpu < <(best < "$work/a-sim")
read -r a_run a_run_cpu < <(best < "$work/a-run")
read -r a_run400 _ < <(best < "$work/a-run400")
rate() { echo "scale=1; 401 / $1" | bc; }
echo "(1) a1a, 1605 clients, 4 worker processes, norm-ef21 top-1, 400 rounds, diagnostics every round"
echo "    simulate $a_sim s ($(rate "$a_sim") rounds/s, cpu $a_sim_cpu s)   run $a_run s ($(rate "$a_run") rounds/s, cpu $a_run_cpu s)   run/simulate rounds/s $(ratio "$a_sim" "$a_run")x (target >= 0.5)   metrics.csv $(same "$work/a1a-sim" "$work/a1a-run")"
echo "    run with --diagnostics-every=400: $a_run400 s ($(rate "$a_run400") rounds/s, $(ratio "$a_sim" "$a_run400")x simulate's every-round rate)"

read -r s_sim s_sim_cpu < <(best < "$work/s-sim")
read -r s_run s_run_cpu s_run_rounds < <(best < "$work/s-run")
s_sim_rounds=$(sort -g "$work/s-sim-rounds" | head -n 1)
echo "(2) synthetic 400x100000, 8 clients, top-1000, 100 rounds, diagnostics every $(sed -n 's/.*"diagnostics-every": \([0-9]*\).*/\1/p' "$work/syn-run/config.json") rounds (default), 2 worker processes"
echo "    whole command: simulate $s_sim s   run $s_run s   run/simulate $(ratio "$s_run" "$s_sim")x (target <= 1.3)   metrics.csv $(same "$work/syn-sim" "$work/syn-run")"
echo "    cpu (user + sys): simulate $s_sim_cpu s   run $s_run_cpu s   $(ratio "$s_run_cpu" "$s_sim_cpu")x;   rounds only (metrics.csv wall_seconds, best): simulate $s_sim_rounds s   run $s_run_rounds s"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
