#!/usr/bin/env bash
# The service's port is held by a process that is not ours: the start is refused, naming it, the
# foreign process is left alone, and the service starts by itself once the port is free.
source "$(dirname "$0")/lib.sh"
[ -n "${VG_DEMO:-}" ] || { echo "SKIP: vg-demo-service not built"; exit 0; }
make_gpus --total 24GiB
"$VG_DEMO" --port "$PORT" --model 1GiB --load-time 0s >"$WORK/foreign.out" 2>&1 &
foreign=$!
STARTED_PIDS+=("$foreign")
for _ in $(seq 500); do grep -q "Running on local URL" "$WORK/foreign.out" && break; sleep 0.01; done
write_config <<EOF2
[[service]]
name = "web"
command = ["vg-demo-service", "--port", "$PORT", "--model", "1GiB"]
port = $PORT
EOF2
start_daemon
wait_event web port-held 10
msg=$(event_message web port-held)
expect_contains "$msg" "port $PORT is held by pid $foreign"
expect_contains "$msg" "refusing to start"
alive "$foreign" || fail "the foreign holder was killed"
vg start web
[ "$RC" -ne 0 ] || fail "start succeeded with the port held"
expect_one_line_error
expect_contains "$ERR" "port $PORT is held"
expect_eq "$("$VG_BIN" status web --json | jq -r .state)" waiting-for-port "state while the port is held"

# The squatter goes away: the service starts by itself, no operator needed.
kill -TERM "$foreign"
wait_gone "$foreign" 5 || fail "the foreign holder did not exit"
wait_event web port-free 10
wait_state web running 20
echo "PASS"
