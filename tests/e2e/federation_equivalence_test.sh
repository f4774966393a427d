#!/usr/bin/env bash
# Federation ≡ simulate: for every algorithm flag on breast-cancer (row split), the polynomial and
# stochastic configurations, `ef21 run` (aggregator + worker processes over gRPC on loopback) and
# `ef21 simulate` must write identical metrics.csv (every column but the timings, compared as text
# by tools/compare_metrics.py), with full and with partial participation (--participation). Every
# algorithm also with --downlink=delta (hosts advance x and g from each round's exact sparse delta;
# the default, auto, is what the other checks use) and with --downlink=dense; one partial
# participation run with --downlink=delta.
# Usage: federation_equivalence_test.sh <ef21-binary> <source-dir>
set -euo pipefail
bin=$1
src=$2
source "$src/tools/lib/e2e.sh"
e2e_workdir
check() { simulate_vs_run "$@" || true; }

bc=(--problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=row --rounds=25)
check ef21 "${bc[@]}" --algorithm=ef21
check norm-ef21 "${bc[@]}" --algorithm=norm-ef21
check ef21-sgdm "${bc[@]}" --algorithm=ef21-sgdm --stepsize=constant --gamma=0.05 --eta=0.5
check norm-ef21-sgdm "${bc[@]}" --algorithm=norm-ef21-sgdm
check norm-ef21-sgd "${bc[@]}" --algorithm=norm-ef21-sgd
check norm-sgdm "${bc[@]}" --algorithm=norm-sgdm
check ef14 "${bc[@]}" --algorithm=ef14
check gd "${bc[@]}" --algorithm=gd
check norm-gd "${bc[@]}" --algorithm=norm-gd
# The exact delta downlink for every algorithm (top-k, rand-k and the identity compressor), and the
# dense one.
for algorithm in ef21 norm-ef21 norm-ef21-sgd norm-sgdm ef14 gd norm-gd; do
  check "$algorithm-delta" "${bc[@]}" --algorithm=$algorithm --downlink=delta
done
check ef21-sgdm-delta "${bc[@]}" --algorithm=ef21-sgdm --stepsize=constant --gamma=0.05 --eta=0.5 \
  --downlink=delta --compressor=rand-k --k=3
check norm-ef21-sgdm-delta "${bc[@]}" --algorithm=norm-ef21-sgdm --downlink=delta --k=4 --value-type=f64
check norm-ef21-dense "${bc[@]}" --algorithm=norm-ef21 --downlink=dense
# Other wire shapes: rand-k, k > 1, float64 values, compressed init, sparse diagnostics rounds.
check bc-randk-f64 "${bc[@]}" --algorithm=norm-ef21 --compressor=rand-k --k=3 --value-type=f64 \
  --init=compressed --diagnostics-every=4
# The polynomial (one client, and several copies with Gaussian gradient noise).
check polynomial --problem=polynomial --dim=4 --L0=4 --L1=1 --algorithm=norm-ef21 --rounds=60
check polynomial-ef21 --problem=polynomial --dim=4 --L0=4 --L1=1 --algorithm=ef21 --rounds=30
check polynomial-noisy --problem=polynomial --dim=6 --clients=3 --sigma=0.5 --algorithm=norm-ef21-sgdm \
  --k=2 --rounds=40
# Stochastic logistic regression: minibatches drawn per (seed, client, round).
check stochastic --problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=contiguous \
  --clients=7 --batch=4 --algorithm=norm-ef21-sgdm --k=2 --rounds=30 --seed=3
P=3 check stochastic-ef14 --problem=logreg --synthetic=60x20 --split=contiguous --clients=5 --batch=3 \
  --algorithm=ef14 --k=4 --rounds=20 --seed=7
# Partial participation (EF21-PP): half the clients per round, drawn from the seed; the
# aggregator waits only for them. ||EF21|| keeps its gamma0/sqrt(K+1); EF21 runs a constant γ.
check pp-norm-ef21 "${bc[@]}" --algorithm=norm-ef21 --participation=0.5 --seed=2
check pp-ef21 --problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=contiguous \
  --clients=9 --algorithm=ef21 --stepsize=constant --gamma=0.5 --participation=0.5 --k=2 \
  --diagnostics-every=5 --rounds=40
check pp-ef21-delta --problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=contiguous \
  --clients=9 --algorithm=ef21 --stepsize=constant --gamma=0.5 --participation=0.5 --k=2 \
  --diagnostics-every=5 --rounds=40 --downlink=delta
P=3 check pp-sgdm --problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=contiguous \
  --clients=7 --batch=4 --algorithm=norm-ef21-sgdm --stepsize=constant --gamma=0.02 --eta=0.5 \
  --participation=0.3 --k=2 --rounds=30 --seed=3
# The transports of `ef21 run`: TCP on 127.0.0.1 (the default) and a Unix domain socket in a
# private directory under $TMPDIR (--transport=unix; the directory is gone afterwards).
mkdir "$work/tmp"
TMPDIR=$work/tmp RUN_FLAGS=--transport=unix check norm-ef21-unix "${bc[@]}" --algorithm=norm-ef21 --k=2
grep -q '"peer":"unix:' "$work/norm-ef21-unix-run.log" ||
  fail "norm-ef21-unix: the workers did not attach over a Unix domain socket"
[ -z "$(ls -A "$work/tmp")" ] || fail "norm-ef21-unix: left in \$TMPDIR: $(ls -A "$work/tmp")"
check norm-ef21-tcp "${bc[@]}" --algorithm=norm-ef21 --k=2
grep -q '"peer":"ipv4:127.0.0.1:' "$work/norm-ef21-tcp-run.log" ||
  fail "norm-ef21-tcp: the workers did not attach over TCP on 127.0.0.1"
# The draw is real: with p = 0.5 the clients sent about half of full participation's bytes.
last_uplink() { tail -n 1 "$1/metrics.csv" | cut -d, -f3; }
if ! awk -v pp="$(last_uplink "$work/pp-norm-ef21-run")" -v full="$(last_uplink "$work/norm-ef21-run")" \
    'BEGIN { exit !(pp < 0.75 * full && pp > 0.25 * full) }'; then
  fail "pp-norm-ef21: uplink bytes per client $(last_uplink "$work/pp-norm-ef21-run") not about half of $(last_uplink "$work/norm-ef21-run")"
fi

e2e_summary
echo "all federation runs equal their simulation"
