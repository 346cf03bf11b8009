#!/usr/bin/env bash
# liveness with expect_body: /health answers 200, but its body does not match the pattern, so the
# instance is unhealthy and restarted (a new pid); a POST probe with a body is sent as configured.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
write_config <<EOF2
[[service]]
name = "i2v-liveness_body"
command = ["vg-demo-service", "--port", "$PORT", "--model", "2GiB", "--load-time", "50ms"]
gpus = [0]
vram = "3GiB"
port = $PORT
ready = { log = "Running on local URL" }
liveness = { http = "/health", expect_body = "\"status\":\"great\"", interval = "100ms", failures = 2 }
restart = { backoff = "100ms..1s" }
EOF2
start_daemon
wait_event i2v-liveness_body unhealthy 10
expect_contains "$(event_message i2v-liveness_body unhealthy)" "body does not match"
for ((i = 0; i < 250; i++)); do [ "$(event_count i2v-liveness_body spawned)" -ge 2 ] && break; sleep 0.02; done
vg events --json --service i2v-liveness_body --kind spawned
[ "$(jqo '.events[1].data.pid')" != "$(jqo '.events[0].data.pid')" ] || fail "not restarted"
stop_daemon

# The same probe with a body that matches keeps the instance.
write_config <<EOF2
[[service]]
name = "i2v-liveness_body"
command = ["vg-demo-service", "--port", "$PORT", "--model", "2GiB", "--load-time", "50ms"]
gpus = [0]
vram = "3GiB"
port = $PORT
ready = { log = "Running on local URL" }
liveness = { http = "/health", method = "GET", expect_status = 200, expect_body = "\"status\":\"ok\"", interval = "100ms", failures = 2 }
EOF2
start_daemon
wait_state i2v-liveness_body running 10
pid=$(service_pid i2v-liveness_body)
unhealthy_before=$(event_count i2v-liveness_body unhealthy)
sleep 1
expect_eq "$(service_pid i2v-liveness_body)" "$pid" "pid with a matching body"
expect_eq "$(event_count i2v-liveness_body unhealthy)" "$unhealthy_before" "unhealthy events with a matching body"
echo "PASS"
