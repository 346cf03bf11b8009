# Helpers for the incident and alert scenarios (sourced after lib.sh; not a scenario itself).

# start_receiver NAME [STATUS]: a local webhook receiver; sets NAME_PORT, bodies go to $WORK/NAME.hook.
start_receiver() {
  local name=$1 status=${2:-200}
  python3 "$(dirname "${BASH_SOURCE[0]}")/webhook_receiver.py" "$WORK/$name.hook" \
    "$WORK/$name.port" "$status" >"$WORK/$name.receiver.log" 2>&1 &
  STARTED_PIDS+=($!)
  wait_for_file "$WORK/$name.port" 5 || fail "webhook receiver $name did not start"
  printf -v "${name}_PORT" '%s' "$(cat "$WORK/$name.port")"
}

# hook_bodies NAME: the JSON bodies the receiver got, one per line.
hook_bodies() { grep -v '^#' "$WORK/$1.hook" 2>/dev/null || true; }

# wait_hooks NAME N [SECONDS]: until the receiver got at least N bodies.
wait_hooks() {
  local i n
  for ((i = 0; i < ${3:-10} * 50; i++)); do
    n=$(hook_bodies "$1" | wc -l)
    [ "$n" -ge "$2" ] && return 0
    sleep 0.02
  done
  fail "receiver $1 got $n alerts, expected $2: $(cat "$WORK/$1.hook" 2>/dev/null)"
}

# free_port: a TCP port nothing listens on (for a dead webhook).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# event_count SERVICE KIND
event_count() {
  "$VG_BIN" events --json --service "$1" --kind "$2" --limit 1000 | jq '.events | length'
}

# demo_job PORT JSON: POST /generate; the answer in JOB_BODY, the status in JOB_STATUS.
demo_job() {
  local out
  out=$(curl -s -w '\n%{http_code}' -X POST "http://127.0.0.1:$1/generate" -d "$2") || true  # status 000: no answer
  JOB_BODY=$(printf '%s' "$out" | head -n -1)
  JOB_STATUS=$(printf '%s' "$out" | tail -n 1)
}
