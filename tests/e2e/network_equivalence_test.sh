#!/usr/bin/env bash
# Networks: `ef21 run` (aggregator + 2 worker processes over gRPC on loopback) and `ef21 simulate`
# write the same metrics.csv byte for byte except wall_seconds — CNN on a 1,000-image
# subset of Fashion-MNIST, a few rounds, diagnostics (loss, ‖∇f‖², accuracies) every 3 rounds.
# Usage: network_equivalence_test.sh <ef21-binary> <source-dir>
set -euo pipefail
bin=$1
src=$2
source "$src/tools/lib/e2e.sh"
e2e_workdir
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  fail "/usr/share/datasets/fashion-mnist is missing (scripts/bootstrap.sh installs dataset-fashion-mnist)"
  exit 1
fi

check() {
  local name=$1
  shift
  simulate_vs_run "$name" "$@" || return 0
  # Accuracy columns: filled on diagnostic rounds (0, 3, 6), empty elsewhere, within [0, 1].
  local filled
  filled=$(awk -F, 'NR > 1 && $13 != "" { if ($13 < 0 || $13 > 1 || $11 < 0 || $11 > 1) bad = 1; n++ }
                    END { print (bad ? -1 : n) }' "$work/$name-run/metrics.csv")
  if [ "$filled" != 3 ]; then
    fail "$name: expected accuracies on exactly 3 rounds, got $filled"
  fi
}

net=(--problem=network --model=cnn --dataset=fashion-mnist --train-samples=1000
     --diagnostics-samples=200 --clients=4 --batch=32 --rounds=6 --diagnostics-every=3 --seed=3)
check norm-ef21-topk "${net[@]}" --algorithm=norm-ef21 --k=300 --stepsize=constant --gamma=0.5
check ef21-sgdm "${net[@]}" --algorithm=ef21-sgdm --k=300 --stepsize=constant --gamma=0.1 --eta=0.5
# g_i^0 over each client's whole shard (the diagnostics score a 50-row subsample of its 250 rows).
check shard-init "${net[@]}" --algorithm=norm-ef21 --k=300 --stepsize=constant --gamma=0.5 --init=shard
# ... and that changes the run: from row 1 on, the loss differs from the minibatch g_i^0's run.
if [ -r "$work/shard-init-sim/metrics.csv" ] && [ -r "$work/norm-ef21-topk-sim/metrics.csv" ]; then
  if [ "$(awk -F, 'NR == 3 { print $5 }' "$work/shard-init-sim/metrics.csv")" = \
       "$(awk -F, 'NR == 3 { print $5 }' "$work/norm-ef21-topk-sim/metrics.csv")" ]; then
    fail "shard-init: round 1's loss equals the minibatch-init run's"
  else
    pass "shard-init: round 1's loss differs from the minibatch-init run's"
  fi
fi

e2e_summary
echo "network simulate == run"
