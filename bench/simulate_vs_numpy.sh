#!/usr/bin/env bash
# ef21 simulate against the vectorized NumPy implementation of the same loop (tools/numpy_reference.py),
# side by side: a1a, one row per client (1605 clients), norm-ef21, top-1, 400 rounds, float64.
# usage: bench/simulate_vs_numpy.sh [build/bin/ef21]
set -euo pipefail
cd "$(dirname "$0")/.."
ef21=${1:-build/bin/ef21}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 -c "
import random
random.seed(1)
print('\n'.join(repr(random.gauss(0, 1)) for _ in range(123)))" > "$work/x0.txt"
args=(--data=data/libsvm/a1a --features=123 --algorithm=norm-ef21 --k=1 --rounds=400
      --gamma=0.0499 --x0-file="$work/x0.txt")
best() { sort -g | head -1; }
seconds() {  # wall seconds of one command, its output discarded
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s.%N)
  /usr/bin/python3 -c "print(f'{$end - $start:.3f}')"
}
ours=$(for _ in 1 2 3; do
  seconds "$ef21" simulate "${args[@]}" --stepsize=constant --value-type=f64 --threads=1
done | best)
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE slow current NumPy down on some processors; unset for this
# command alone (see the environment notes).
theirs=$(for _ in 1 2; do
  seconds env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 tools/numpy_reference.py \
    "${args[@]}" --out="$work/numpy.csv"
done | best)
echo "a1a, 1605 clients, norm-ef21 top-1, 400 rounds (best of runs, wall seconds):"
echo "  ef21 simulate (1 thread): ${ours} s"
echo "  NumPy, vectorized:        ${theirs} s"
/usr/bin/python3 -c "print(f'  NumPy / ef21 = {float(\"$theirs\") / float(\"$ours\"):.1f}x')"
