#!/usr/bin/env bash
# `ef21` starts without LibTorch and becomes `ef21-networks` (built beside it) for --problem=network
# (cli/network_binary.h):
#  - ef21 does not load libtorch; ef21-networks does;
#  - a network run started through ef21, with the problem given as a flag or in a --config file,
#    trains (it ran in ef21-networks) and equals the same run started as ef21-networks directly;
#  - ef21 copied alone (no ef21-networks beside it): --problem=network exits 1 naming the missing
#    program and creates no run directory; a logistic-regression run still works there.
# Usage: network_binary_test.sh <ef21-binary> <source-dir>
set -euo pipefail
bin=$1
src=$2
source "$src/tools/lib/e2e.sh"
e2e_workdir
networks=$(dirname "$bin")/ef21-networks

# ldd's whole output first: `ldd | grep -q` fails under pipefail when grep stops reading early.
ldd "$bin" > "$work/ldd-ef21"
ldd "$networks" > "$work/ldd-networks"
if grep -q libtorch "$work/ldd-ef21"; then fail "ef21 links LibTorch: $(grep libtorch "$work/ldd-ef21")"; else pass "ef21 loads no LibTorch"; fi
if grep -q libtorch_cpu "$work/ldd-networks"; then pass "ef21-networks links LibTorch"; else fail "ef21-networks does not link libtorch_cpu"; fi

net=(--problem=network --model=mlp --dataset=fashion-mnist --train-samples=200 --diagnostics-samples=50
     --clients=2 --batch=16 --rounds=3 --algorithm=norm-ef21 --k=100 --stepsize=constant --gamma=0.5)
"$bin" simulate "${net[@]}" --out="$work/via-ef21" > "$work/via-ef21.log" 2>&1 || fail "ef21 simulate --problem=network: $(tail -n 2 "$work/via-ef21.log")"
"$networks" simulate "${net[@]}" --out="$work/direct" > "$work/direct.log" 2>&1 || fail "ef21-networks simulate: $(tail -n 2 "$work/direct.log")"
printf '[simulate]\nproblem = "network"\nmodel = "mlp"\n' > "$work/net.toml"
cfg=("${net[@]:2}")
"$bin" simulate --config="$work/net.toml" "${cfg[@]}" --out="$work/via-config" > "$work/via-config.log" 2>&1 || fail "ef21 simulate --config (problem = network): $(tail -n 2 "$work/via-config.log")"
for d in via-ef21 via-config; do
  if same=$("$src/tools/compare_metrics.py" --min-rows=4 "$work/direct" "$work/$d"); then
    pass "$d: a network run, equal to ef21-networks' ($same)"
  else
    fail "$d: $same"
  fi
done

mkdir "$work/alone"
cp "$bin" "$work/alone/ef21"
rc=0
"$work/alone/ef21" simulate "${net[@]}" --out="$work/alone-run" > "$work/alone.out" 2> "$work/alone.err" || rc=$?
if [ "$rc" = 1 ] && grep -q "alone/ef21-networks" "$work/alone.err" && [ ! -e "$work/alone-run" ]; then
  pass "without ef21-networks: exit 1, names it, no run directory ($(head -c 160 "$work/alone.err"))"
else
  fail "without ef21-networks: exit $rc, run dir $( [ -e "$work/alone-run" ] && echo created || echo absent): $(cat "$work/alone.err")"
fi
if "$work/alone/ef21" simulate --problem=polynomial --dim=4 --L0=4 --L1=1 --rounds=5 --out="$work/alone-poly" > /dev/null 2>&1; then
  pass "without ef21-networks: other problems run"
else
  fail "without ef21-networks: a polynomial run failed"
fi
e2e_summary
