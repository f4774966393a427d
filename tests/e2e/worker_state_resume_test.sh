#!/usr/bin/env bash
# --client-state=worker survives its processes (issue 11 item 2): the aggregator keeps no g_i, only
# a state hash per client, so a worker must bring g_i back itself. `ef21 aggregator
# --client-state=worker` + two `ef21 worker --state-dir` on loopback, breast-cancer (683 clients),
# minibatches of 4:
#  - worker kill -9 at a seeded random round, restarted with the same --state-dir: it rebuilds
#    every client's g_i from its snapshot + message log (and the momentum / EF14 error from the
#    private-state files), the aggregator's state hashes accept it, and metrics.csv columns 1-9
#    equal `ef21 simulate`'s byte for byte (norm-ef21-sgdm; ef14 with --downlink=delta; norm-ef21
#    with --participation=0.5);
#  - the restarted worker printed no "no longer bit-identical" warning (nothing rebuilt by policy);
#  - the state directory holds one snapshot + log pair per worker, and the log of the last run grew
#    by the bytes of k values per client per round, not d;
#  - control: restarted WITHOUT its --state-dir the worker is refused (client_state_mismatch) and
#    exits non-zero naming the expected state hash — the test would see a --state-dir that did
#    nothing;
#  - aggregator kill -9 with a checkpoint only every 100 rounds: the resumed aggregator is behind the
#    live workers, which rebuild g_i as of its checkpoint from their logs (the anchor), and the run
#    still equals the simulation; and the aggregator and a worker killed together (ef14): the
#    restarted worker rebuilds its clients as of that checkpoint from its --state-dir.
# Waits poll files in bounded loops of builtins (no fork per poll); nothing relies on a fixed sleep.
# Usage: worker_state_resume_test.sh <ef21-binary> <source-dir>
set -euo pipefail
bin=$1
src=$2
source "$src/tools/lib/e2e.sh"
source "$src/tools/lib/federation.sh"
e2e_workdir

RANDOM=2111  # the seed of the kill rounds below

########################################## worker kill -9, restarted with its --state-dir
# tools/lib/federation.sh's worker_crash; a checkpoint every 100 rounds moves the workers' anchor:
# their logs are compacted into snapshots along the way, so the restart rebuilds from a snapshot
# and the log after it.
CRASH_AGG_FLAGS="--checkpoint-every=100 --checkpoint-seconds=0"
for algorithm in "--algorithm=norm-ef21-sgdm --k=1" "--algorithm=ef14 --k=1 --downlink=delta" \
                 "--algorithm=norm-ef21 --k=2 --participation=0.5 --stepsize=constant --gamma=0.01"; do
  read -r -a alg <<< "$algorithm"
  name=${alg[0]#--algorithm=}
  [ ${#alg[@]} -gt 3 ] && name=$name-pp
  worker_crash "$name" yes "${alg[@]}" --client-state=worker
  if [ "$equal" = 1 ]; then
    pass "$name (--client-state=worker): worker kill -9 at $killed rows, restarted with its --state-dir: equal to the simulation"
  else
    fail "$name (--client-state=worker): worker kill -9 at $killed rows with --state-dir: differs from the simulation"
    diff <(cut -d, -f1-9 "$work/$name/sim/metrics.csv") <(cut -d, -f1-9 "$work/$name/run/metrics.csv") | head -n 4 || true
  fi
done

# What the state directory holds after the last run (norm-ef21 --k=2, no private state): one
# snapshot + log pair per worker (compacted at the checkpoints), and no private-state files.
dir=$work/norm-ef21-pp/state
snapshots=$(find "$dir" -name '*.gsnap' | wc -l)
logs=$(find "$dir" -name '*.glog' | wc -l)
states=$(find "$dir" -name '*.state' | wc -l)
if [ "$logs" = 2 ] && [ "$snapshots" = 2 ] && [ "$states" = 0 ]; then
  pass "state directory: $logs logs, $snapshots snapshots, no private-state files ($(du -sb "$dir" | cut -f1) bytes)"
else
  fail "state directory: $logs logs, $snapshots snapshots, $states private-state files: $(ls "$dir")"
fi

worker_crash "norm-ef21-sgdm-nostate" lost --algorithm=norm-ef21-sgdm --k=1 --client-state=worker
unset CRASH_AGG_FLAGS
if [ "$w1rc" != 0 ] && grep -q "cannot resume round" "$work/norm-ef21-sgdm-nostate/w1b.log"; then
  pass "control: restarted without its --state-dir the worker is refused (exit $w1rc): $(grep -m1 -o "client [0-9]* cannot resume round [0-9]*" "$work/norm-ef21-sgdm-nostate/w1b.log")"
else
  fail "control: restarted without --state-dir: exit $w1rc: $(tail -n 2 "$work/norm-ef21-sgdm-nostate/w1b.log")"
fi

########################################## aggregator kill -9, resumed from an older checkpoint
dir=$work/agg-kill
mkdir -p "$dir"
flags=("${problem[@]}" --algorithm=norm-ef21-sgdm --k=1 --client-state=worker --rounds=500 --downlink=delta)
agg_flags=("${flags[@]}" --out="$dir/run" --checkpoint-every=100 --checkpoint-seconds=0 --exit-when-complete)
# 30 rounds past a checkpoint: the kill lands well before the next one.
kill_at=$((100 * (1 + RANDOM % 3) + 30))
"$bin" simulate "${flags[@]}" --out="$dir/sim" > /dev/null
if start_aggregator "$dir/a1" "${agg_flags[@]}"; then
  workers=()
  start_worker 0 "$dir/w0.log" --state-dir="$dir/state"
  start_worker 1 "$dir/w1.log" --state-dir="$dir/state"
  if wait_for 60 rows_at_least "$dir/run/metrics.csv" "$kill_at"; then
    kill -9 "$agg"
    wait "$agg" 2>/dev/null || true
    count_rows "$dir/run/metrics.csv"
    killed=$nrows
    if AGG_PORT=$port start_aggregator "$dir/a2" "${agg_flags[@]}"; then
      bad=0
      for i in 0 1; do
        wait_exit "${workers[$i]}" 120
        [ "$rc" = 0 ] || { bad=1; fail "aggregator kill -9: worker $i exit $rc: $(tail -n 2 "$dir/w$i.log")"; }
      done
      wait_exit "$agg" 60
      [ "$rc" = 0 ] || { bad=1; fail "aggregator kill -9: resumed aggregator exit $rc: $(tail -n 2 "$dir/a2.err")"; }
      resumed=
      has_line "$dir/a2.out" "resumed at round ([0-9]+)\)$" && resumed=${BASH_REMATCH[1]}
      if [ $bad = 0 ] && [ -n "$resumed" ] && [ "$resumed" -lt $((killed - 1)) ] &&
         grep -q "rebuilt from --state-dir .* as of round $((resumed - 1)) " "$dir/w0.log" &&
         grep -q "rebuilt from --state-dir .* as of round $((resumed - 1)) " "$dir/w1.log" &&
         same_metrics "$dir/sim/metrics.csv" "$dir/run/metrics.csv"; then
        pass "aggregator kill -9 at $killed rows, resumed at round $resumed (checkpoint every 100): the live workers went back to it from their --state-dir ($(grep -m1 -o "g_i of .* as of round [0-9]*" "$dir/w0.log")); equal to the simulation"
      else
        fail "aggregator kill -9 at $killed rows, resumed at round '${resumed}': differs or failed"
        diff <(cut -d, -f1-9 "$dir/sim/metrics.csv") <(cut -d, -f1-9 "$dir/run/metrics.csv") | head -n 4 || true
      fi
    fi
  else
    fail "aggregator kill -9: round $kill_at never reached: $(tail -n 2 "$dir/a1.err")"
  fi
fi

########################################## aggregator and a worker kill -9 together
# The restarted worker rebuilds g_i as of the resumed aggregator's (older) checkpoint from its
# snapshot + log; the live one goes back to it too.
dir=$work/both-kill
mkdir -p "$dir"
flags=("${problem[@]}" --algorithm=ef14 --k=1 --client-state=worker --rounds=400 --downlink=delta)
agg_flags=("${flags[@]}" --out="$dir/run" --checkpoint-every=100 --checkpoint-seconds=0 --exit-when-complete)
kill_at=$((100 * (1 + RANDOM % 2) + 30))
"$bin" simulate "${flags[@]}" --out="$dir/sim" > /dev/null
if start_aggregator "$dir/a1" "${agg_flags[@]}"; then
  workers=()
  start_worker 0 "$dir/w0.log" --state-dir="$dir/state"
  start_worker 1 "$dir/w1.log" --state-dir="$dir/state"
  if wait_for 60 rows_at_least "$dir/run/metrics.csv" "$kill_at"; then
    kill -9 "$agg" "${workers[1]}"
    wait "$agg" "${workers[1]}" 2>/dev/null || true
    count_rows "$dir/run/metrics.csv"
    killed=$nrows
    if AGG_PORT=$port start_aggregator "$dir/a2" "${agg_flags[@]}"; then
      start_worker 1 "$dir/w1b.log" --state-dir="$dir/state"
      bad=0
      for i in 0 1; do
        wait_exit "${workers[$i]}" 120
        [ "$rc" = 0 ] || { bad=1; fail "aggregator + worker kill -9: worker $i exit $rc: $(tail -n 2 "$dir/w$i.log" "$dir/w1b.log")"; }
      done
      wait_exit "$agg" 60
      [ "$rc" = 0 ] || { bad=1; fail "aggregator + worker kill -9: resumed aggregator exit $rc: $(tail -n 2 "$dir/a2.err")"; }
      resumed=
      has_line "$dir/a2.out" "resumed at round ([0-9]+)\)$" && resumed=${BASH_REMATCH[1]}
      if [ $bad = 0 ] && [ -n "$resumed" ] && [ "$resumed" -lt $((killed - 1)) ] &&
         ! grep -q "no longer bit-identical" "$dir/w1b.log" &&
         grep -q "rebuilt from --state-dir .* as of round $((resumed - 1)) " "$dir/w1b.log" &&
         grep -q "rebuilt from --state-dir .* as of round $((resumed - 1)) " "$dir/w0.log" &&
         same_metrics "$dir/sim/metrics.csv" "$dir/run/metrics.csv"; then
        pass "ef14: aggregator and worker 1 kill -9 together at $killed rows, resumed at round $resumed; the restarted worker rebuilt its clients from --state-dir: equal to the simulation"
      else
        fail "aggregator and worker kill -9 at $killed rows, resumed at round '${resumed}': differs or failed"
        diff <(cut -d, -f1-9 "$dir/sim/metrics.csv") <(cut -d, -f1-9 "$dir/run/metrics.csv") | head -n 4 || true
      fi
    fi
  else
    fail "aggregator + worker kill -9: round $kill_at never reached: $(tail -n 2 "$dir/a1.err")"
  fi
fi

e2e_summary
