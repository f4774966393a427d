#!/usr/bin/env bash
# Networks: `ef21 run` (aggregator + 2 worker processes over gRPC on loopback) and `ef21 simulate`
# write the same metrics.csv byte for byte except wall_seconds — CNN on a 1,000-image
# subset of Fashion-MNIST, a few rounds, diagnostics (loss, ‖∇f‖², accuracies) every 3 rounds.
# Usage: network_equivalence_test.sh <ef21-binary> <source-dir>
set -euo pipefail
bin=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "FAIL: /usr/share/datasets/fashion-mnist is missing (scripts/bootstrap.sh installs dataset-fashion-mnist)"
  exit 1
fi

check() {
  local name=$1
  shift
  if ! "$bin" simulate "$@" --out="$work/$name-sim" > "$work/$name-sim.log" 2>&1; then
    echo "FAIL $name: simulate failed: $(tail -n 3 "$work/$name-sim.log")"
    failures=$((failures + 1))
    return
  fi
  if ! timeout 300 "$bin" run "$@" --worker-processes=2 --out="$work/$name-run" > "$work/$name-run.log" 2>&1; then
    echo "FAIL $name: run failed: $(tail -n 3 "$work/$name-run.log")"
    failures=$((failures + 1))
    return
  fi
  # Every column but wall_seconds, compared as text (tools/compare_metrics.py).
  local same
  if same=$("$src/tools/compare_metrics.py" --min-rows=2 "$work/$name-sim" "$work/$name-run"); then
    echo "PASS $name: $same"
  else
    echo "FAIL $name: $same"
    failures=$((failures + 1))
  fi
  if ! diff <(grep -v wall_seconds "$work/$name-sim/summary.json") \
            <(grep -v wall_seconds "$work/$name-run/summary.json") > /dev/null; then
    echo "FAIL $name: summary.json differ"
    failures=$((failures + 1))
  fi
  # Accuracy columns: filled on diagnostic rounds (0, 3, 6), empty elsewhere, within [0, 1].
  local filled
  filled=$(awk -F, 'NR > 1 && $13 != "" { if ($13 < 0 || $13 > 1 || $11 < 0 || $11 > 1) bad = 1; n++ }
                    END { print (bad ? -1 : n) }' "$work/$name-run/metrics.csv")
  if [ "$filled" != 3 ]; then
    echo "FAIL $name: expected accuracies on exactly 3 rounds, got $filled"
    failures=$((failures + 1))
  fi
}

net=(--problem=network --model=cnn --dataset=fashion-mnist --train-samples=1000
     --diagnostics-samples=200 --clients=4 --batch=32 --rounds=6 --diagnostics-every=3 --seed=3)
check norm-ef21-topk "${net[@]}" --algorithm=norm-ef21 --k=300 --stepsize=constant --gamma=0.5
check ef21-sgdm "${net[@]}" --algorithm=ef21-sgdm --k=300 --stepsize=constant --gamma=0.1 --eta=0.5

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "network simulate == run"
