#!/usr/bin/env bash
# on_oom = "wait-for-vram": after the OOM the service is stopped (memory verified back) and starts
# again only once `vram` plus what the OOM asked for is free beyond the reserve; it waits, naming
# the holder, and starts the moment that holder's memory is gone.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
sim other --gpu 0 --alloc 10GiB
write_config <<EOF2
[[service]]
name = "i2v-oom_wait_for_vram"
command = ["vg-demo-service", "--port", "$PORT", "--model", "8GiB", "--load-time", "50ms"]
gpus = [0]
vram = "9GiB"
port = $PORT
ready = { log = "Running on local URL" }
on_oom = "wait-for-vram"
restart = { backoff = "100ms..1s" }
EOF2
start_daemon
wait_state i2v-oom_wait_for_vram running 10
pid1=$(service_pid i2v-oom_wait_for_vram)
demo_job "$PORT" '{"resolution":1024,"frames":32,"steps":10}'
expect_eq "$JOB_STATUS" 500 "job status"
wait_event i2v-oom_wait_for_vram oom 5
expect_contains "$(vg events --json --service i2v-oom_wait_for_vram --kind oom; jqo '.events[0].data.action')" "wait-for-vram"
# 9 GiB + the 11.88 GiB asked for do not fit beside the other process's 10.5 GiB: it waits.
wait_state i2v-oom_wait_for_vram waiting-for-vram 10
expect_contains "$(event_message i2v-oom_wait_for_vram waiting-for-vram)" "pid $other_PID"
alive "$pid1" && fail "the OOMed instance still runs"
expect_eq "$(gpu_used 0)" $(((10 << 30) + (500 << 20))) "GPU used while waiting"
kill -TERM "$other_PID"
wait_state i2v-oom_wait_for_vram running 10
[ "$(service_pid i2v-oom_wait_for_vram)" != "$pid1" ] || fail "same pid after the wait"
# The job that did not fit fits now.
demo_job "$PORT" '{"resolution":1024,"frames":32,"steps":2}'
expect_eq "$JOB_STATUS" 200 "the job after the restart"
echo "PASS"
