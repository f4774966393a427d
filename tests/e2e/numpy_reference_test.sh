#!/usr/bin/env bash
# ef21 simulate against an independent NumPy implementation (tools/numpy_reference.py) of EF21 and
# ||EF21|| with top-k: same data, same x^0, float64 values. The two sum in different orders, so the
# trajectories agree to rounding (relative 1e-8), not bit for bit.
# usage: numpy_reference_test.sh EF21_BINARY SOURCE_DIR
set -euo pipefail
ef21=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {  # name data features k rounds gamma algorithm
  local name=$1 data=$2 features=$3 k=$4 rounds=$5 gamma=$6 algorithm=$7
  /usr/bin/python3 -c "
import random
random.seed(7)
print('\n'.join(repr(random.gauss(0, 1)) for _ in range($features)))" > "$work/x0.txt"
  "$ef21" simulate --data="$data" --features="$features" --algorithm="$algorithm" --k="$k" \
    --rounds="$rounds" --stepsize=constant --gamma="$gamma" --value-type=f64 \
    --x0-file="$work/x0.txt" --out="$work/$name" >/dev/null
  /usr/bin/python3 "$src/tools/numpy_reference.py" --data="$data" --features="$features" \
    --algorithm="$algorithm" --k="$k" --rounds="$rounds" --gamma="$gamma" \
    --x0-file="$work/x0.txt" --out="$work/$name.numpy.csv" 2>/dev/null
  /usr/bin/python3 - "$work/$name/metrics.csv" "$work/$name.numpy.csv" "$name" <<'PY'
import csv, sys
ours = list(csv.DictReader(open(sys.argv[1])))
ref = list(csv.DictReader(open(sys.argv[2])))
assert len(ours) == len(ref), f"{len(ours)} rows against {len(ref)}"
worst = 0.0
for a, b in zip(ours, ref):
    for col in ("loss", "grad_norm_sq", "g_norm"):
        x, y = float(a[col]), float(b[col])
        err = abs(x - y) / max(abs(y), 1e-300)
        worst = max(worst, err)
        if err > 1e-8:
            sys.exit(f"{sys.argv[3]}: round {a['round']} {col}: ef21 {x!r}, numpy {y!r}")
print(f"ok   {sys.argv[3]}: {len(ours)} rows agree with NumPy, worst relative difference {worst:.1e}")
PY
}

check bc-norm-ef21-top1 "$src/data/libsvm/breast-cancer_scale" 10 1 100 0.0995 norm-ef21
check bc-ef21-top3 "$src/data/libsvm/breast-cancer_scale" 10 3 100 0.2 ef21
check a1a-norm-ef21-top2 "$src/data/libsvm/a1a" 123 2 60 0.05 norm-ef21
echo "3 passed, 0 failed"
