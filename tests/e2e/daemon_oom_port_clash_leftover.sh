#!/usr/bin/env bash
# A port clash whose holder is a vramguard leftover (a process carrying an instance tag that is no
# current instance's — here of a service no longer configured): it is reaped, and the service
# restarted onto the freed port.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
VRAMGUARD_INSTANCE=$(instance_tag gone-svc) python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); open(sys.argv[2], "w").write("1"); time.sleep(120)' \
  "$PORT" "$WORK/holder.ready" &
holder=$!
STARTED_PIDS+=($holder)
wait_for_file "$WORK/holder.ready" 5 || fail "the port holder did not start"
write_config <<EOF2
[[service]]
name = "clash-left"
command = ["vg-demo-service", "--port", "$PORT", "--model", "2GiB", "--load-time", "50ms"]
gpus = [0]
vram = "3GiB"
ready = { log = "Running on local URL" }
restart = { backoff = "100ms..1s" }
EOF2
start_daemon
wait_event clash-left port-clash 10
wait_event clash-left swept 5
expect_contains "$(event_message clash-left swept)" "vramguard leftover $holder ($(instance_tag gone-svc))"
wait_gone "$holder" 5 || fail "the leftover holder still runs"
wait_state clash-left running 10
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || fail "the service does not answer on its port"
echo "PASS"
