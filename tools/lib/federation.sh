# The loopback federation that the resume e2e tests (tests/e2e/federation_resume_test.sh,
# worker_state_resume_test.sh) kill and restart: breast-cancer with one client per row (683
# clients), minibatches of 4, two `ef21 worker` processes for clients 0-340 and 341-682, plaintext.
# Usage: source "$src/tools/lib/federation.sh"   (after tools/lib/e2e.sh; needs $bin and $src)
problem=(--problem=logreg --data="$src/data/libsvm/breast-cancer_scale" --split=row --batch=4)
n=683
ranges=(0-340 341-682)

start_aggregator() {  # LOG FLAGS...: sets $agg and $port (the port given by AGG_PORT, or a free one)
  local log=$1
  shift
  "$bin" aggregator --insecure --listen=127.0.0.1:"${AGG_PORT:-0}" --clients=$n "$@" > "$log.out" 2> "$log.err" &
  agg=$!
  if ! wait_for 30 find_port "$log.out" listening; then
    fail "aggregator $log did not print 'listening on': $(tail -n 2 "$log.err")"
    return 1
  fi
}
start_worker() {  # I LOG EXTRA...: sets workers[I]
  local i=$1 log=$2
  shift 2
  "$bin" worker --insecure --aggregator=127.0.0.1:"$port" --client-ids="${ranges[$i]}" "${problem[@]}" \
    --connect-timeout-seconds=60 "$@" > "$log" 2>&1 &
  workers[$i]=$!
}
