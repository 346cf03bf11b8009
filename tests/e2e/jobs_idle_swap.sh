#!/usr/bin/env bash
# Idle unload and swap on one simulated 24 GiB GPU: a service idle for `idle_unload` is stopped
# (memory verified back); a job for it starts it again (the job shows `starting`); a job for a
# second service that needs the memory an idle first one holds stops the first (swap-out), starts
# the second and runs — and a service with a running job is never stopped for it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
make_gpus --total 24GiB
P2=$((PORT + 1))
{
  demo_service a "$PORT" 'idle_unload = "1s"'
  AUTOSTART=false demo_service b "$P2"
} | jobs_config
start_daemon
wait_state a running 20

note "idle unload"
wait_event a idle-unload 10
wait_state a stopped 10
expect_eq "$(gpu_used)" 0 "GPU memory after the unload"

note "a job for the stopped service starts it"
submit_job a 768 24 20
J=$JOB
expect_eq "$CODE" 202 "submit: $BODY"
# The submission's own answer: a later query can race the ~0.1 s start on a loaded machine.
expect_eq "$(printf '%s' "$BODY" | jq -r .state)" starting "job while its service starts"
expect_eq "$(wait_terminal "$J" 30)" done "job on the restarted service"

note "swap: b's job needs what idle a holds"
# a holds its model and the 768p job's cache (16.2 GiB): b (9 GiB + ~9.5 GiB job) cannot fit.
submit_job b 768 24 100
JB=$JOB
expect_eq "$CODE" 202 "submit b: $BODY"
wait_event a swap-out 20
expect_eq "$(wait_terminal "$JB" 40)" done "b's job"
vg status a --json
[ "$(jqo .state)" == stopped ] || fail "a was not swapped out: $OUT"

note "never stop a service with a running job"
submit_job a 512 16 150 # a starts again; b idle holds memory
JA=$JOB
wait_job "$JA" running 30
submit_job b 768 24 5
JB2=$JOB
sleep 1
expect_eq "$(job_state "$JA")" running "a's job while b's waits"
expect_eq "$(wait_terminal "$JA" 30)" done "a's long job"
expect_eq "$(wait_terminal "$JB2" 40)" done "b's second job"
no_oom
echo "PASS"
