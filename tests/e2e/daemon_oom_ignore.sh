#!/usr/bin/env bash
# on_oom = "ignore": the OOM is an event (with its action), the service keeps running (same pid)
# and keeps serving jobs that fit — the way ComfyUI recovers by itself.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
sim other --gpu 0 --alloc 10GiB
write_config <<EOF2
[[service]]
name = "comfy-ignore"
command = ["vg-demo-service", "--port", "$PORT", "--model", "8GiB", "--load-time", "50ms"]
gpus = [0]
vram = "9GiB"
port = $PORT
ready = { log = "Running on local URL" }
on_oom = "ignore"
EOF2
start_daemon
wait_state comfy-ignore running 10
pid1=$(service_pid comfy-ignore)
demo_job "$PORT" '{"resolution":1024,"frames":32,"steps":10}'
expect_eq "$JOB_STATUS" 500 "job status"
wait_event comfy-ignore oom 5
vg events --json --service comfy-ignore --kind oom
expect_contains "$(jqo '.events[0].data.action')" "left running"
sleep 0.5
expect_eq "$(service_pid comfy-ignore)" "$pid1" "pid after the OOM"
expect_eq "$("$VG_BIN" status comfy-ignore --json | jq -r .state)" running "state"
expect_eq "$(event_count comfy-ignore reaped)" 0 "reaped events"
demo_job "$PORT" '{"resolution":256,"frames":4,"steps":2}'
expect_eq "$JOB_STATUS" 200 "a job that fits"
echo "PASS"
