#!/usr/bin/env bash
# Alert de-duplication and failures: three OOMs of the same cause within the window make one
# alert at once (count 1) and one summary when the window closes (count 2); a webhook nobody
# listens on fails after its retries and becomes an `alert-failed` event (never itself alerted);
# a command receiver gets the event JSON on stdin.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
sim other --gpu 0 --alloc 10GiB
start_receiver hook
dead=$(free_port)
write_config <<EOF2
[[service]]
name = "comfy"
command = ["vg-demo-service", "--port", "$PORT", "--model", "8GiB", "--load-time", "50ms"]
gpus = [0]
vram = "9GiB"
port = $PORT
ready = { log = "Running on local URL" }
on_oom = "ignore"

[[alert]]
webhook = "http://127.0.0.1:$hook_PORT/hook"
kinds = ["oom"]
dedup = "2s"

[[alert]]
webhook = "http://127.0.0.1:$dead/hook"
kinds = ["oom"]
dedup = "1m"
retries = 1
timeout = "500ms"

[[alert]]
command = ["bash", "-c", "cat >> '$WORK/command.alerts'; echo >> '$WORK/command.alerts'"]
kinds = ["oom"]
dedup = "1m"
EOF2
start_daemon
wait_state comfy running 10
for i in 1 2 3; do
  demo_job "$PORT" '{"resolution":1024,"frames":32,"steps":2}'
  expect_eq "$JOB_STATUS" 500 "job $i"
done
for ((i = 0; i < 250; i++)); do [ "$(event_count comfy oom)" -ge 3 ] && break; sleep 0.02; done
expect_eq "$(event_count comfy oom)" 3 "oom events"
wait_hooks hook 1 5
sleep 0.3
expect_eq "$(hook_bodies hook | wc -l)" 1 "alerts before the window closed"
expect_eq "$(hook_bodies hook | head -1 | jq .count)" 1 "first alert count"
wait_hooks hook 2 5
expect_eq "$(hook_bodies hook | sed -n 2p | jq .count)" 2 "summary count"
expect_eq "$(hook_bodies hook | sed -n 2p | jq .alert.summary)" true "summary flag"
sleep 0.5
expect_eq "$(hook_bodies hook | wc -l)" 2 "alerts in all"

# The dead webhook: one alert-failed event, and it is not alerted.
wait_event comfy alert-failed 10
expect_eq "$(event_count comfy alert-failed)" 1 "alert-failed events"
expect_contains "$(event_message comfy alert-failed)" "after 2 attempt(s)"
expect_eq "$(hook_bodies hook | jq -r .kind | sort -u)" oom "kinds alerted"

# The command got the first event's JSON on stdin.
for ((i = 0; i < 250; i++)); do [ -s "$WORK/command.alerts" ] && break; sleep 0.02; done
expect_eq "$(head -1 "$WORK/command.alerts" | jq -r .kind)" oom "command alert kind"
echo "PASS"
