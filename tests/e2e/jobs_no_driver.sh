#!/usr/bin/env bash
# Without an NVIDIA driver the daemon cannot measure memory: jobs are neither refused nor held,
# they run by the service's concurrency alone, in queue order (the supervisor likewise starts
# services without a VRAM check).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
make_gpus --total 24GiB # the demo service still needs its simulated GPU
demo_service i2v "$PORT" | jobs_config
export VRAMGUARD_NVML_LIBRARY="$WORK/does-not-exist/libnvidia-ml.so.1"
start_daemon
wait_state i2v running 20
submit_job i2v 512 16 50
expect_eq "$CODE" 202 "submit: $BODY"
A=$JOB
submit_job i2v 768 24 5
B=$JOB
expect_eq "$(wait_terminal "$A")" done "first job"
expect_eq "$(wait_terminal "$B")" done "second job"
a_end=$("$VG_BIN" job "$A" --json | jq .finished_unix_ms)
b_start=$("$VG_BIN" job "$B" --json | jq .started_unix_ms)
[ "$b_start" -ge "$a_end" ] || fail "concurrency 1 not kept: job $B started before job $A ended"
echo "PASS"
