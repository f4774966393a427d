#!/usr/bin/env bash
# An aggregator without data (issue 11 item 5): `ef21 aggregator` gets no --data — only
# --features and --clients, the run's shape — and two `ef21 worker` processes load
# breast-cancer (one client per row, 683 clients) and report their clients' smoothness constants
# and data digests at attach. Checks:
#   - metrics.csv equals `ef21 simulate`'s bit for bit (every column but the timings);
#   - summary.json's L0, L1 and L_tilde, combined from the reports, equal simulate's exactly, and
#     L (λ_max of all rows together, which no report gives) is null;
#   - kill -9 of the aggregator mid-run and a restart, still without data: it resumes from its
#     checkpoint (the reports are in it), the workers re-attach by themselves, and metrics.csv
#     again equals the simulation;
#   - a worker whose data differs in one value, after the honest workers attached, is refused,
#     naming its clients, and the run is unharmed; so is a worker with --report-constants=false
#     (this aggregator needs the reports);
#   - the aggregator refuses a rule it cannot plan without data (EF21's Theorem 1), with a message
#     saying what to do.
# Usage: federation_without_data_test.sh EF21_BINARY SOURCE_DIR      (ctest passes both)
set -uo pipefail
bin=${1:?usage: federation_without_data_test.sh EF21_BINARY SOURCE_DIR}
src=${2:?usage: federation_without_data_test.sh EF21_BINARY SOURCE_DIR}
py=/usr/bin/python3
[ -x "$py" ] || py=python3

source "$src/tools/lib/e2e.sh"
e2e_workdir

data="$src/data/libsvm/breast-cancer_scale"
workers=(--problem=logreg --data="$data" --features=10 --split=row --seed=4)
shape=(--problem=logreg --features=10 --split=row --clients=683 --seed=4)
run=(--algorithm=norm-ef21 --compressor=top-k --k=1)

# Starts an aggregator without data on $port with extra flags; sets agg_pid.
start_aggregator() {
  local out=$1 rounds=$2
  shift 2
  "$bin" aggregator --insecure --exit-when-complete --listen="127.0.0.1:$port" \
    "${shape[@]}" "${run[@]}" --rounds="$rounds" --out="$out" "$@" \
    >> "$out.out" 2>> "$out.err" &
  agg_pid=$!
  wait_for 30 eval '"$bin" health --target=127.0.0.1:$port >/dev/null 2>&1'
}
start_workers() {
  local tag=$1
  for ids in 0-340 341-682; do
    "$bin" worker --insecure --aggregator="127.0.0.1:$port" --client-ids=$ids \
      "${workers[@]}" > "$work/worker-$tag-$ids.out" 2> "$work/worker-$tag-$ids.err" &
  done
}
same_as_simulation() {  # name rounds run-dir
  "$bin" simulate --problem=logreg --data="$data" --split=row --seed=4 "${run[@]}" --rounds="$2" \
    --out="$work/sim-$1" > /dev/null 2>&1 || { fail "$1: simulate failed"; return 1; }
  local same
  if same=$("$src/tools/compare_metrics.py" --min-rows=2 "$work/sim-$1" "$3"); then
    pass "$1: metrics.csv equals the simulation ($same)"
  else
    fail "$1: metrics.csv: $same"
  fi
}

########################################## a whole run without data
port=$(free_port)
if start_aggregator "$work/run" 40; then
  start_workers plain
  if wait_for 60 eval '[ -f "$work/run/summary.json" ]'; then
    same_as_simulation plain 40 "$work/run"
    if "$py" - "$work/sim-plain/summary.json" "$work/run/summary.json" <<'EOF'; then
import json, sys
sim, run = (json.load(open(p)) for p in sys.argv[1:])
bad = [k for k in ("L0", "L1", "L_tilde", "gamma", "eta", "problem", "clients", "dim")
       if sim.get(k) != run.get(k)]
if bad or run.get("L") is not None or sim.get("L") is None:
    sys.exit(f"differ: {bad}; L {run.get('L')!r} (simulate {sim.get('L')!r})")
EOF
      pass "summary.json: L0, L1, L_tilde, gamma and the problem from the reports equal simulate's; L is null"
    else
      fail "summary.json from the reports"
    fi
  else
    fail "the run without data did not finish: $(tail -n 3 "$work/run.err")"
  fi
  wait "$agg_pid" 2>/dev/null
else
  fail "aggregator without data not SERVING: $(tail -n 3 "$work/run.err")"
fi

########################################## kill -9 mid-run, resumed without data
port=$(free_port)
rows() { [ -f "$1/metrics.csv" ] && echo $(($(wc -l < "$1/metrics.csv") - 1)) || echo 0; }
if start_aggregator "$work/resume" 3000 --checkpoint-every=20; then
  start_workers resume
  wait_for 120 eval '[ "$(rows "$work/resume")" -ge 100 ]'
  kill -9 "$agg_pid" 2>/dev/null
  wait "$agg_pid" 2>/dev/null
  at=$(rows "$work/resume")
  if [ "$at" -lt 3000 ] && start_aggregator "$work/resume" 3000 --checkpoint-every=20; then
    if wait_for 180 eval '[ -f "$work/resume/summary.json" ]'; then
      if grep -q "resum" "$work/resume.out" "$work/resume.err"; then
        pass "killed after $at rows, the aggregator resumed without data"
      else
        fail "the second aggregator did not say it resumed: $(tail -n 3 "$work/resume.out")"
      fi
      same_as_simulation resume 3000 "$work/resume"
    else
      fail "the resumed run did not finish: $(tail -n 3 "$work/resume.err")"
    fi
  else
    fail "could not kill mid-run (rows $at) or restart: $(tail -n 3 "$work/resume.err")"
  fi
  wait "$agg_pid" 2>/dev/null
else
  fail "aggregator for the resume not SERVING"
fi

########################################## a worker with other data, and a rule that needs data
# Client 7 attaches honestly (its worker then dies); a worker whose file differs from the honest
# one in one value of row 7 is refused for client 7, named.
awk 'NR == 8 { sub(/ 2:[^ ]*/, " 2:0.123") } { print }' "$data" > "$work/changed"
if cmp -s "$data" "$work/changed"; then fail "the changed data set equals the original"; fi
port=$(free_port)
if start_aggregator "$work/rogue" 100000; then
  "$bin" worker --insecure --aggregator="127.0.0.1:$port" --client-ids=7 \
    "${workers[@]}" > /dev/null 2> "$work/honest7.err" &
  honest=$!
  wait_for 60 eval 'grep -q "attached" "$work/honest7.err"'
  kill -9 "$honest" 2>/dev/null
  wait "$honest" 2>/dev/null
  if timeout 60 "$bin" worker --insecure --aggregator="127.0.0.1:$port" --client-ids=7 \
      --connect-timeout-seconds=20 --problem=logreg --data="$work/changed" --features=10 \
      --split=row --seed=4 > /dev/null 2> "$work/rogue-worker.err"; then
    fail "a worker with other data for client 7 was not refused"
  elif grep -q "data differs from what was reported earlier in this run for clients 7" "$work/rogue-worker.err"; then
    pass "a worker whose data differs from client 7's first report is refused, naming client 7"
  else
    fail "refusal of the worker with other data: $(tail -n 2 "$work/rogue-worker.err")"
  fi
  # A worker that keeps its constants to itself: this aggregator has nothing else to go by.
  if timeout 60 "$bin" worker --insecure --aggregator="127.0.0.1:$port" --client-ids=6 \
      --connect-timeout-seconds=20 --report-constants=false "${workers[@]}" > /dev/null \
      2> "$work/silent-worker.err"; then
    fail "a worker reporting no constants was accepted by an aggregator without data"
  elif grep -q "reports no smoothness constants for clients 6; this aggregator holds no data" "$work/silent-worker.err"; then
    pass "a worker with --report-constants=false is refused by an aggregator without data, naming why"
  else
    fail "refusal of the worker without constants: $(tail -n 2 "$work/silent-worker.err")"
  fi
  kill "$agg_pid" 2>/dev/null
  wait "$agg_pid" 2>/dev/null
else
  fail "aggregator for the changed-data worker not SERVING"
fi
if "$bin" aggregator --insecure --listen=127.0.0.1:0 "${shape[@]}" --algorithm=ef21 --rounds=5 \
    > /dev/null 2> "$work/ef21.err"; then
  fail "EF21's Theorem 1 without data was not refused"
elif grep -q "needs them; give the aggregator --data" "$work/ef21.err"; then
  pass "EF21's Theorem 1 stepsize without data is refused: $(head -c 120 "$work/ef21.err")..."
else
  fail "EF21 without data: $(cat "$work/ef21.err")"
fi

e2e_summary
