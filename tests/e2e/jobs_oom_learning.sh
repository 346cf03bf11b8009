#!/usr/bin/env bash
# An OOM teaches the estimator: with a sizing table that is far too low, a 768p/24f job is
# admitted next to a process holding memory and dies with PyTorch's OOM (the service answers 500
# "Tried to allocate 7.71 GiB"). The job fails with the OOM as its reason, and the estimate at those
# parameters rises above what the job tried to take: the same job submitted again waits instead of
# OOMing, and runs once the memory is free. After a daemon restart the estimator's learning is
# replayed from the job store: the same job's estimate is still the learned one.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
make_gpus --total 24GiB
demo_service i2v "$PORT" | sed 's/vram = "7.8GiB"/vram = "2GiB"/' | jobs_config
start_daemon
wait_state i2v running 20
sim hog --alloc 8GiB # 24 − 8.5 (the service) − 8.5 (the hog) = 7 GiB free: 768p/24f needs 7.7

submit_job i2v 768 24 5
expect_eq "$CODE" 202 "first submit: $BODY"
FIRST=$JOB
first_est=$(printf '%s' "$BODY" | jq .estimate_bytes)
[ "$first_est" -lt $((4 * 1073741824)) ] || fail "the wrong sizing row should give a low estimate: $first_est"
expect_eq "$(wait_terminal "$FIRST")" failed "the job admitted on a wrong estimate"
vg job "$FIRST" --json
expect_contains "$(jqo .reason)" "out of memory" "the failed job's reason"
grep -q OutOfMemoryError "$WORK"/state/logs/i2v.log || fail "the service did not OOM"

note "the same job again: its estimate now covers what it tried to allocate, so it waits"
submit_job i2v 768 24 5
expect_eq "$CODE" 202 "second submit: $BODY"
SECOND=$JOB
second_est=$(printf '%s' "$BODY" | jq .estimate_bytes)
[ "$second_est" -gt $((7710 * 1048576)) ] || fail "the estimate did not rise above 7.71 GiB: $second_est"
expect_eq "$(printf '%s' "$BODY" | jq -r .state)" queued "the second job's state"
sleep 0.5
expect_eq "$(job_state "$SECOND")" queued "the second job while the hog holds memory"
kill -TERM "$hog_PID"
expect_eq "$(wait_terminal "$SECOND")" done "the second job once memory is free"
n=$(grep -c OutOfMemoryError "$WORK"/state/logs/i2v.log)
expect_eq "$n" 1 "OOMs in the service's log"
vg job "$FIRST" --json
expect_eq "$(jqo .observation)" at-least "the OOM-failed job's stored observation"

vg status
expect_contains "$OUT" "JOBS Q/RUN/DONE/FAIL" "the status table's jobs column"
expect_contains "$(printf '%s\n' "$OUT" | grep '^i2v ')" " 0/0/1/1 " "i2v's jobs in the status table"

note "restart the daemon: what the estimator learned comes back from the job store"
stop_daemon
start_daemon
wait_state i2v running 20
submit_job i2v 768 24 5
expect_eq "$CODE" 202 "submit after the restart: $BODY"
third_est=$(printf '%s' "$BODY" | jq .estimate_bytes)
[ "$third_est" -gt $((7710 * 1048576)) ] || fail "after a restart the estimate fell back to the prior: $third_est"
expect_contains "$(printf '%s' "$BODY" | jq -r .estimate_source)" "learned(n=" "the estimate's source after the restart"
grep -q "job observation(s) replayed into the estimator" "$WORK/daemon.log" || fail "no replay logged"
expect_eq "$(wait_terminal "$JOB")" done "the job after the restart"
vg status i2v
expect_contains "$OUT" "jobs: 0 queued, 0 running; since start 1 done, 0 failed" "status i2v after the restart"
echo "PASS"
