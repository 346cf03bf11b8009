#!/usr/bin/env bash
# A service forks a worker after CUDA init and crashes: the crash is recorded with its signal and
# last lines, the worker (holding the dead parent's memory: the ghost) is reaped and the memory
# verified back BEFORE the restart policy starts a new instance.
source "$(dirname "$0")/lib.sh"
make_gpus --total 24GiB --overhead 500MiB
write_config <<EOF2
[[service]]
name = "crashy"
command = ["vg-simgpu", "run", "--alloc", "6GiB", "--fork-worker", "--crash-after", "500ms"]
gpus = [0]
vram = "14GiB"
restart = { when = "on-failure", backoff = "200ms..1s", limit = "2 in 1m" }
EOF2
start_daemon
wait_event crashy crashed 10
expect_contains "$(event_message crashy crashed)" "killed by SIGSEGV"
wait_event crashy reaped 10
expect_contains "$(event_message crashy reaped)" "back in"
# The start limit (2 in 1m) ends the loop.
wait_state crashy failed 15
expect_contains "$(event_message crashy failed)" "start limit"
# The ghost's memory was back before the second start (which needs 14 GiB of 24).
vg events --json --service crashy
order=$(jqo '[.events[].kind] | map(select(. == "crashed" or . == "reaped" or . == "spawned")) | join(",")')
expect_eq "$order" "spawned,crashed,reaped,spawned,crashed,reaped" "event order"
left=""
for p in $(scenario_processes); do [ "$p" == "$DAEMON_PID" ] || left+=" $p"; done
[ -z "$left" ] || fail "processes left:$left"
expect_eq "$(gpu_used 0)" 0 "GPU used"
echo "PASS"
