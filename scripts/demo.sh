#!/usr/bin/env bash
# The README's main job: install what is missing, build, then train logistic regression on the
# breast-cancer data (683 clients, one row each, top-1) with EF21 and with ||EF21||, print a
# summary table and write a plot. Run directories go to runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh >/dev/null

out=runs/demo
rm -rf "$out"
mkdir -p "$out"
common=(--problem=logreg --data=data/libsvm/breast-cancer_scale --split=row
        --compressor=top-k --k=1 --rounds=100 --seed=0)
mode=${EF21_DEMO_MODE:-simulate}
for algorithm in ef21 norm-ef21; do
  echo "== ef21 $mode --algorithm=$algorithm ${common[*]}"
  build/bin/ef21 "$mode" --algorithm="$algorithm" "${common[@]}" --out="$out/$algorithm"
done
echo
/usr/bin/python3 tools/demo_report.py --plot "$out/grad_norm.png" \
  --title "logistic regression, breast cancer, 683 clients, top-1" \
  "EF21=$out/ef21" "||EF21||=$out/norm-ef21"
