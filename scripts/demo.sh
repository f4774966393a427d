#!/usr/bin/env bash
# The README's main job: install what is missing, build, then train logistic regression on the
# breast-cancer data (683 clients, one row each, top-1) with EF21 and with ||EF21|| over a real gRPC
# federation on loopback (`ef21 run`: an aggregator and 2 worker processes), check that it matches
# `ef21 simulate` bit for bit, print a summary table and write a plot. Runs go to runs/demo/.
# EF21_BINARY=path/to/ef21 scripts/demo.sh uses that binary and skips installing and building
# (tests/e2e/docs_test.sh runs the demo so).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${EF21_BINARY:-}" ]; then
  ef21=$EF21_BINARY
else
  scripts/bootstrap.sh
  scripts/build.sh >/dev/null
  ef21=build/bin/ef21
fi

out=runs/demo
rm -rf "$out"
mkdir -p "$out"
common=(--problem=logreg --data=data/libsvm/breast-cancer_scale --split=row
        --compressor=top-k --k=1 --rounds=100 --seed=0)
for algorithm in ef21 norm-ef21; do
  echo "== ef21 run --algorithm=$algorithm ${common[*]} --worker-processes=2"
  "$ef21" run --algorithm="$algorithm" "${common[@]}" --worker-processes=2 --out="$out/$algorithm" --overwrite
  "$ef21" simulate --algorithm="$algorithm" "${common[@]}" --out="$out/$algorithm-simulate" --overwrite >/dev/null
  if same=$(tools/compare_metrics.py "$out/$algorithm" "$out/$algorithm-simulate"); then
    echo "   metrics.csv over gRPC and ef21 simulate's: $same"
  else
    echo "   ERROR: the federation's metrics.csv differs from ef21 simulate's: $same" >&2
    exit 1
  fi
done
echo
/usr/bin/python3 tools/demo_report.py --plot "$out/grad_norm.png" \
  --title "logistic regression, breast cancer, 683 clients, top-1" \
  "EF21=$out/ef21" "||EF21||=$out/norm-ef21"

# A network over the same federation: a small CNN on Fashion-MNIST (Debian's dataset-fashion-mnist),
# 5 clients on 3,000 training images, minibatches of 64, ||EF21|| with top-300 (≈1 % of d = 28,938);
# test accuracy measured on 1,000 test images at rounds 0 and 30.
network=(--problem=network --model=cnn --dataset=fashion-mnist --clients=5 --train-samples=3000
         --batch=64 --algorithm=norm-ef21 --compressor=top-k --k=300 --stepsize=constant --gamma=0.5
         --rounds=30 --diagnostics-every=30 --diagnostics-samples=1000 --seed=0)
echo
echo "== ef21 run ${network[*]} --worker-processes=2"
"$ef21" run "${network[@]}" --worker-processes=2 --out="$out/fashion-cnn" --overwrite >/dev/null 2>&1 || {
  echo "   ERROR: the network federation failed; rerun the command above to see why" >&2
  exit 1
}
awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) col[$i] = i; next }
         $col["test_accuracy"] != "" { acc[$1] = $col["test_accuracy"]; last = $1 }
         END { printf "CNN on Fashion-MNIST, ||EF21|| top-300: test accuracy %.3f after %d rounds (round 0: %.3f)\n",
                      acc[last], last, acc[0] }' "$out/fashion-cnn/metrics.csv"
