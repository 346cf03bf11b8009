#!/usr/bin/env bash
# A service that never prints its ready line: each instance is stopped at ready.timeout
# (`ready-timeout`, `reaped`) and its exit is not also taken for a crash (no `crashed`, no second
# restart per instance); the start limit ends the loop in `failed`.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
write_config <<EOF2
[[service]]
name = "never-ready"
command = ["vg-demo-service", "--port", "$PORT", "--model", "1GiB", "--load-time", "10ms"]
gpus = [0]
vram = "2GiB"
port = $PORT
ready = { log = "this line never comes", timeout = "400ms" }
restart = { backoff = "100ms..1s", limit = "3 in 1m" }
EOF2
start_daemon
wait_state never-ready failed 15
expect_eq "$(event_count never-ready ready-timeout)" 3 "ready-timeout events"
expect_eq "$(event_count never-ready spawned)" 3 "spawns"
expect_eq "$(event_count never-ready crashed)" 0 "crashed events"
expect_eq "$(gpu_used 0)" 0 "GPU used"
echo "PASS"
