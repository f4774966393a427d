# Shell helpers shared by the end-to-end tests (tests/e2e/*_test.sh) and tools/chaos.sh: a work
# directory removed on exit with every background job killed, PASS/FAIL counters, and bounded waits
# that fork nothing. Rounds take ~1.5 ms on small problems, so a wait that forked a process per poll
# would start thousands a minute and recycle PIDs (pid_max is 32768 on small machines), making
# `wait` and `kill` on saved PIDs unreliable; these poll with builtins only.
# Usage: source "$src/tools/lib/e2e.sh"   (bash, with set -euo pipefail in the caller)

# $work: a fresh directory, removed on exit after every background job (stopped ones continued
# first) is killed. A caller that needs more on exit defines e2e_on_exit.
e2e_workdir() {
  work=$(mktemp -d)
  trap e2e_cleanup EXIT
}
e2e_cleanup() {
  local p
  if declare -F e2e_on_exit > /dev/null; then e2e_on_exit || true; fi
  for p in $(jobs -pr); do
    kill -CONT "$p" 2>/dev/null || true
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}

passed=0
failed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
skip() { echo "SKIP $*"; }
# Prints the counts and exits 1 if anything failed (the caller's last line).
e2e_summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

exec {e2e_nap_fd}<> <(:)  # a pipe nobody writes to: `read -t` on it is a sleep without a fork
nap() { read -r -t 0.01 -u "$e2e_nap_fd" _ || true; }
# wait_for SECONDS COMMAND...: polls COMMAND (a function or builtin) every 10 ms, at most SECONDS.
wait_for() {
  local seconds=$1 i
  shift
  for ((i = 0; i < seconds * 100; i++)); do
    if "$@"; then return 0; fi
    nap
  done
  return 1
}
# poll SECONDS COMMAND...: the same every 100 ms, for a COMMAND that starts a process (an HTTP
# request, `ef21 health`): at most ten a second.
poll() {
  local seconds=$1 i
  shift
  for ((i = 0; i < seconds * 10; i++)); do
    if "$@"; then return 0; fi
    read -r -t 0.1 -u "$e2e_nap_fd" _ || true
  done
  return 1
}
exited() { ! kill -0 "$1" 2>/dev/null; }
# e2e_terminate_jobs [SECONDS]: SIGTERM to every running background job, then waits for each to
# exit (at most SECONDS, default 5, each). For an e2e_on_exit of jobs that pass the signal on
# (`timeout`, `ef21 run` and its worker processes): the cleanup's SIGKILL would orphan their
# children.
e2e_terminate_jobs() {
  local p
  local -a running
  running=($(jobs -pr))
  for p in "${running[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${running[@]}"; do wait_for "${1:-5}" exited "$p" || true; done
}
# e2e_require TOOL...: exits 1 naming any TOOL that is not on PATH.
e2e_require() {
  local t
  for t in "$@"; do
    command -v "$t" > /dev/null 2>&1 || { echo "FAIL: $t not installed (scripts/bootstrap.sh installs it)"; exit 1; }
  done
}
# http_get URL [NAME=VALUE...]: writes the body of a GET of URL (a POST of the form fields, when
# given) with the Python standard library; fails on errors and non-2xx answers (5 s timeout).
http_get() {
  "${py:-python3}" -c 'import sys, urllib.parse, urllib.request
data = urllib.parse.urlencode([tuple(a.split("=", 1)) for a in sys.argv[2:]]).encode() if len(sys.argv) > 2 else None
sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], data=data, timeout=5).read())' "$@" 2>/dev/null
}
# now: seconds since the epoch, to the millisecond.
now() { "${py:-python3}" -c 'import time; print(f"{time.time():.3f}")'; }
# free_port: prints a TCP port that is free on 127.0.0.1 now.
free_port() {
  "${py:-python3}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_exit PID SECONDS: sets $rc to the child's exit status (124, after kill -9, on timeout).
wait_exit() {
  local pid=$1 seconds=$2
  if wait_for "$seconds" exited "$pid"; then
    rc=0
    wait "$pid" || rc=$?
  else
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rc=124
  fi
}

# ${lines[@]}: the lines of file $1 (none if it does not exist yet).
load() { lines=(); if [ -f "$1" ]; then mapfile -t lines < "$1"; fi; }
# $nrows: the data rows of CSV $1.
count_rows() { load "$1"; nrows=$((${#lines[@]} > 0 ? ${#lines[@]} - 1 : 0)); }
rows_at_least() { count_rows "$1"; [ "$nrows" -ge "$2" ]; }
# has_line FILE REGEX: $match is the first line of FILE matching REGEX (BASH_REMATCH set).
has_line() {
  local line
  match=
  load "$1"
  for line in "${lines[@]}"; do
    if [[ $line =~ $2 ]]; then
      match=$line
      return 0
    fi
  done
  return 1
}
# find_port FILE PREFIX: $port from the first line of FILE reading "PREFIX on HOST:PORT".
find_port() {
  port=
  has_line "$1" "^$2 on .*:([0-9]+)$" && port=${BASH_REMATCH[1]}
}
# Columns round..stepsize (1-9) of two metrics.csv files are equal byte for byte.
same_metrics() { cmp -s <(cut -d, -f1-9 "$1") <(cut -d, -f1-9 "$2"); }

# simulate_vs_run NAME FLAGS...: `ef21 simulate FLAGS` and `ef21 run FLAGS` (${P:-2} worker
# processes, and the words of ${RUN_FLAGS} given to `run` only) into $work/NAME-sim and
# $work/NAME-run; fails unless metrics.csv agrees in every column but the timings
# (tools/compare_metrics.py), config.json is identical and summary.json agrees except
# wall_seconds. Needs $bin and $src.
simulate_vs_run() {
  local name=$1
  shift
  local -a run_flags=()
  [[ -z ${RUN_FLAGS:-} ]] || read -ra run_flags <<< "$RUN_FLAGS"
  if ! "$bin" simulate "$@" --out="$work/$name-sim" > "$work/$name-sim.log" 2>&1; then
    fail "$name: simulate failed: $(tail -n 3 "$work/$name-sim.log")"
    return 1
  fi
  if ! timeout 300 "$bin" run "$@" ${run_flags[@]+"${run_flags[@]}"} --worker-processes="${P:-2}" --out="$work/$name-run" \
      > "$work/$name-run.log" 2>&1; then
    fail "$name: run failed: $(tail -n 3 "$work/$name-run.log")"
    return 1
  fi
  local same ok=0
  if ! same=$("$src/tools/compare_metrics.py" --min-rows=2 "$work/$name-sim" "$work/$name-run"); then
    fail "$name: metrics.csv: $same"
    ok=1
  fi
  if ! cmp -s "$work/$name-sim/config.json" "$work/$name-run/config.json"; then
    fail "$name: config.json differ"
    ok=1
  fi
  if ! diff <(grep -v wall_seconds "$work/$name-sim/summary.json") \
            <(grep -v wall_seconds "$work/$name-run/summary.json") > /dev/null; then
    fail "$name: summary.json differ"
    ok=1
  fi
  [ "$ok" -eq 0 ] && pass "$name: $same"
  return "$ok"
}
