#!/usr/bin/env bash
# A real connection cut: `ef21 aggregator`, tools/tcp_proxy.py in front of it and two `ef21 worker`s
# that reach the aggregator only through the proxy. At two seeded random rounds the proxy closes
# every TCP connection abruptly (SIGUSR1: RST to the worker and to the aggregator). Checked, for
# norm-ef21 and for norm-ef21-sgdm with minibatches (whose momentum v_i only the live worker holds):
#  - each cut hit both workers' connections mid-run, and both workers reconnected: the proxy
#    accepted two new connections, rounds went on, and each worker's ef21_worker_reconnects_total
#    (scraped from its /metrics while it runs) counts the cut;
#  - the run completes: aggregator and workers exit 0, the proxy exits 0 on SIGTERM;
#  - metrics.csv columns round..stepsize equal `ef21 simulate`'s byte for byte.
# A third scenario runs norm-ef21 with --downlink=delta: after each cut the reconnecting hosts get a
# dense resync, then follow by deltas again.
# Waits poll files or endpoints in bounded loops; nothing relies on a fixed sleep. The polling
# forks nothing (builtins only): rounds take ~1.5 ms here, and thousands of forks a minute would
# recycle PIDs (pid_max is 32768 on small machines), making `wait`/`kill` on saved PIDs unreliable.
# Usage: federation_cut_test.sh <ef21-binary> <source-dir>
set -euo pipefail
bin=$1
src=$2
python=/usr/bin/python3
proxy_py=$src/tools/tcp_proxy.py
source "$src/tools/lib/e2e.sh"
e2e_workdir
# $accepted: connections the proxy (output $1) accepted; $cut_line: its line for cut $2.
scan_proxy() {
  local line
  accepted=0
  cut_line=
  load "$1"
  for line in "${lines[@]}"; do
    case $line in
      "proxy accepted connection "*) accepted=$((accepted + 1)) ;;
      "proxy cut $2: "*) cut_line=$line ;;
    esac
  done
}
proxy_reported_cut() { scan_proxy "$1" "$2"; [ -n "$cut_line" ]; }
progress_after_cut() {  # csv rows-wanted proxy-out connections-wanted
  rows_at_least "$1" "$2" && scan_proxy "$3" 0 && [ "$accepted" -ge "$4" ]
}
# The TCP ports process $1 listens on (its sockets in state LISTEN in /proc/net/tcp).
listen_ports() {
  local inodes
  inodes=$(for f in /proc/"$1"/fd/*; do readlink "$f" 2>/dev/null || true; done |
           sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' ')
  awk -v inodes=" $inodes" 'NR > 1 && $4 == "0A" && index(inodes, " " $10 " ") { split($2, a, ":"); print a[2] }' \
    /proc/net/tcp | while read -r hex; do echo $((16#$hex)); done
}
# ef21_worker_reconnects_total of the worker whose /metrics is on port $1 (empty if unreachable).
# Plain HTTP/1.0 over bash's /dev/tcp: a few milliseconds, while the run goes on.
reconnects_of() {
  local line
  if [ -z "$1" ]; then return 0; fi
  ( exec 3<> "/dev/tcp/127.0.0.1/$1" &&
    printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
    while IFS= read -r -t 5 line <&3; do
      line=${line%$'\r'}
      case $line in "ef21_worker_reconnects_total "*) line=${line##* }; echo "${line%.*}" ;; esac
    done ) 2>/dev/null || true
}

problem=(--problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=row)
n=683
rounds=2000  # the checks after each cut need the workers up: seconds of run left (600 rounds ended too soon here)

# scenario NAME ALGORITHM [PROBLEM FLAGS...]: the federation behind the proxy, cut twice; the
# checks described above.
scenario() {
  local name=$1 algorithm=$2
  shift 2
  local extra=("$@")  # problem flags beyond $problem, given to the workers as well
  local flags=("${problem[@]}" "${extra[@]}" --algorithm="$algorithm" --compressor=top-k --k=1 --rounds=$rounds
               "${run_extra[@]}")
  local dir=$work/$name
  mkdir -p "$dir"
  # Two cut rounds: the first in [20, 100], the second 100..199 rounds later (the checks after a
  # cut take tens of rounds: ~1.5 ms each); both far from the end, so the reconnect checks run
  # while every process is still up.
  local cut_rounds=($((20 + RANDOM % 81)))
  cut_rounds+=($((cut_rounds[0] + 100 + RANDOM % 100)))
  local started=$SECONDS

  if ! "$bin" simulate "${flags[@]}" --out="$dir/sim" > "$dir/sim.log" 2>&1; then
    fail "$name: simulate failed: $(tail -n 2 "$dir/sim.log")"
    return
  fi
  "$bin" aggregator --insecure --listen=127.0.0.1:0 --exit-when-complete "${flags[@]}" --clients=$n --out="$dir/run" \
    > "$dir/agg.out" 2> "$dir/agg.err" &
  local agg=$!
  if ! wait_for 30 find_port "$dir/agg.out" listening; then
    fail "$name: the aggregator did not print 'listening on': $(tail -n 2 "$dir/agg.err")"
    return
  fi
  "$python" "$proxy_py" --listen=127.0.0.1:0 --target=127.0.0.1:"$port" --max-seconds=300 \
    > "$dir/proxy.out" 2> "$dir/proxy.err" &
  local proxy=$!
  if ! wait_for 30 find_port "$dir/proxy.out" 'proxy listening'; then
    fail "$name: the proxy did not print 'proxy listening on': $(tail -n 2 "$dir/proxy.err")"
    return
  fi
  local via=127.0.0.1:$port
  local workers=() ranges=(0-340 341-682) metrics_ports=() i
  for i in 0 1; do
    "$bin" worker --insecure --aggregator="$via" --client-ids="${ranges[$i]}" "${problem[@]}" "${extra[@]}" \
      --metrics-listen=127.0.0.1:0 --connect-timeout-seconds=30 > "$dir/w$i.log" 2>&1 &
    workers+=($!)
  done

  local csv=$dir/run/metrics.csv ok=1 k at_cut closed this_cut mp
  for k in 1 2; do
    local target=${cut_rounds[$((k - 1))]}
    if ! wait_for 60 rows_at_least "$csv" "$target"; then
      fail "$name: round $target never reached ($nrows rows): $(tail -n 1 "$dir/w0.log") $(tail -n 1 "$dir/w1.log")"
      ok=0
      break
    fi
    kill -USR1 "$proxy"
    if ! wait_for 10 proxy_reported_cut "$dir/proxy.out" $k; then
      fail "$name: the proxy did not report cut $k: $(tail -n 2 "$dir/proxy.err")"
      ok=0
      break
    fi
    this_cut=$cut_line
    count_rows "$csv"
    at_cut=$nrows
    if [ $k = 1 ]; then  # the workers' /metrics ports (they are up: rounds closed)
      for i in 0 1; do
        mp=$(listen_ports "${workers[$i]}") || true
        metrics_ports+=("${mp%%$'\n'*}")
      done
    fi
    closed=${this_cut#proxy cut $k: closed }
    closed=${closed%% *}
    if [ "$closed" != 2 ] || [ "$at_cut" -ge $((rounds + 1)) ]; then
      fail "$name: cut $k at $at_cut rows did not hit both workers mid-run: $this_cut"
      ok=0
      break
    fi
    # Rounds closing after the cut need both workers back: two new connections through the proxy
    # and the reconnect counted by each worker.
    if ! wait_for 30 progress_after_cut "$csv" $((at_cut + 5)) "$dir/proxy.out" $((2 + 2 * k)); then
      count_rows "$csv"
      fail "$name: no progress after cut $k ($nrows rows, $accepted connections accepted): $(tail -n 1 "$dir/w0.log") $(tail -n 1 "$dir/w1.log")"
      ok=0
      break
    fi
    local counts=() c
    for i in 0 1; do
      c=$(reconnects_of "${metrics_ports[$i]}")
      counts+=("${c:-?}")
    done
    count_rows "$csv"
    if [[ ${counts[0]} =~ ^[0-9]+$ && ${counts[1]} =~ ^[0-9]+$ ]] &&
       [ "${counts[0]}" -ge $k ] && [ "${counts[1]}" -ge $k ]; then
      pass "$name: cut $k at $at_cut rows (target $target; $this_cut): both workers reconnected, ef21_worker_reconnects_total ${counts[0]} and ${counts[1]}; $nrows rows and counting"
    else
      fail "$name: after cut $k the workers' ef21_worker_reconnects_total are ${counts[0]} and ${counts[1]} (want >= $k; /metrics ports '${metrics_ports[*]}'; $nrows rows)"
      ok=0
    fi
  done

  for i in 0 1; do
    wait_exit "${workers[$i]}" 120
    if [ "$rc" != 0 ]; then
      fail "$name: worker $i (clients ${ranges[$i]}) exit $rc: $(tail -n 2 "$dir/w$i.log")"
      ok=0
    fi
  done
  wait_exit "$agg" 60
  if [ "$rc" != 0 ]; then
    fail "$name: aggregator exit $rc: $(tail -n 2 "$dir/agg.err")"
    ok=0
  fi
  kill -TERM "$proxy" 2>/dev/null || true
  wait_exit "$proxy" 10
  if [ "$rc" != 0 ]; then
    fail "$name: the proxy exited $rc on SIGTERM: $(tail -n 2 "$dir/proxy.err")"
    ok=0
  fi
  scan_proxy "$dir/proxy.out" 0
  if [ $ok = 1 ]; then
    pass "$name: aggregator, both workers and the proxy exit 0 ($accepted connections through the proxy)"
  fi
  count_rows "$csv"
  same=""
  if [ "$nrows" = $((rounds + 1)) ] &&
     same=$("$src/tools/compare_metrics.py" "$dir/sim/metrics.csv" "$csv"); then
    pass "$name: $rounds rounds: metrics.csv equals the simulation ($((SECONDS - started)) s)"
  else
    fail "$name: metrics.csv ($nrows rows) differs from the simulation's: ${same:-}"
  fi
}

RANDOM=2113  # the seed of the cut rounds
run_extra=()  # flags of simulate and the aggregator only
scenario norm-ef21 norm-ef21
scenario norm-ef21-sgdm norm-ef21-sgdm --batch=4
run_extra=(--downlink=delta)
scenario norm-ef21-delta norm-ef21

e2e_summary
