#!/usr/bin/env bash
# The log-silence watchdog: a job runs (the busy probe says "busy":true) and the service writes
# nothing for `silence` → a `stuck` event → restarted (on_stuck = "restart"). An idle silent
# service is not stuck.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
write_config <<EOF2
[[service]]
name = "i2v-sticky_watchdog"
command = ["vg-demo-service", "--port", "$PORT", "--model", "2GiB", "--load-time", "50ms", "--step-time", "200ms"]
gpus = [0]
vram = "3GiB"
port = $PORT
ready = { log = "Running on local URL" }
watchdog = { silence = "1s", busy = { http = "/health", expect_body = "\"busy\":true" } }
restart = { backoff = "100ms..1s" }
EOF2
start_daemon
wait_state i2v-sticky_watchdog running 10
pid1=$(service_pid i2v-sticky_watchdog)
sleep 1.6  # idle and silent: not stuck
expect_eq "$(event_count i2v-sticky_watchdog stuck)" 0 "stuck events while idle"
# A 40 s job: busy, and silent.
curl -s -m 30 -X POST "http://127.0.0.1:$PORT/generate" -d '{"resolution":256,"frames":4,"steps":200}' \
  >/dev/null 2>&1 &
STARTED_PIDS+=($!)
wait_event i2v-sticky_watchdog stuck 5
expect_contains "$(event_message i2v-sticky_watchdog stuck)" "wrote nothing for"
vg events --json --service i2v-sticky_watchdog --kind stuck
expect_contains "$(jqo '.events[0].data.busy')" "busy probe"
wait_event i2v-sticky_watchdog reaped 5
for ((i = 0; i < 250; i++)); do [ "$(event_count i2v-sticky_watchdog spawned)" -ge 2 ] && break; sleep 0.02; done
wait_state i2v-sticky_watchdog running 10
[ "$(service_pid i2v-sticky_watchdog)" != "$pid1" ] || fail "not restarted"
echo "PASS"
