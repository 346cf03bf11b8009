#!/usr/bin/env bash
# A port clash seen in the output (Gradio's "Cannot find empty port"; the port is not declared, so
# the start's own port check could not catch it): the holder, not a vramguard process, is named
# and left alone, and the service is failed instead of restarted into the same clash.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); open(sys.argv[2], "w").write("1"); time.sleep(120)' \
  "$PORT" "$WORK/holder.ready" &
holder=$!
STARTED_PIDS+=($holder)
wait_for_file "$WORK/holder.ready" 5 || fail "the port holder did not start"
write_config <<EOF2
[[service]]
name = "i2v-oom_port_clash"
command = ["vg-demo-service", "--port", "$PORT", "--model", "2GiB", "--load-time", "50ms"]
gpus = [0]
vram = "3GiB"
restart = { backoff = "100ms..1s" }
EOF2
start_daemon
wait_event i2v-oom_port_clash port-clash 10
vg events --json --service i2v-oom_port_clash --kind port-clash
expect_eq "$(jqo '.events[0].data.incident.port')" "$PORT" "incident port"
wait_state i2v-oom_port_clash failed 10
vg status i2v-oom_port_clash --json
expect_contains "$(jqo .detail)" "port $PORT is held by pid $holder"
expect_contains "$(event_message i2v-oom_port_clash failed)" "not by vramguard"
alive "$holder" || fail "the holder (not ours) was killed"
sleep 1
expect_eq "$(event_count i2v-oom_port_clash spawned)" 1 "spawns"
echo "PASS"
