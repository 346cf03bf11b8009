#!/usr/bin/env bash
# The queue: a job that does not fit waits (position, reason) and starts the moment memory frees;
# a job queued behind another job of a one-at-a-time service starts as soon as that one ends;
# a later job with a higher priority goes first. How soon (at the next poll, at the job's end)
# is pinned by deterministic unit tests (src/daemon/job_manager_test.cc), not timed here.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
make_gpus --total 24GiB
demo_service i2v "$PORT" | jobs_config
start_daemon
wait_state i2v running 20

note "memory held by someone else: the job waits, then starts when it frees"
sim hog --alloc 9GiB
submit_job i2v 768 24 5
expect_eq "$CODE" 202 "submit: $BODY"
J=$JOB
expect_eq "$(printf '%s' "$BODY" | jq -r .state)" queued "state at submit"
expect_eq "$(printf '%s' "$BODY" | jq -r .position)" 1 "position at submit"
sleep 0.5
expect_eq "$(job_state "$J")" queued "state while the memory is held"
vg job "$J" --json
expect_contains "$(jqo .waiting_for)" "plannable" "why the job waits"
t0=$(date +%s%3N)
kill -TERM "$hog_PID"
expect_eq "$(wait_terminal "$J")" done "the job"
started=$("$VG_BIN" job "$J" --json | jq .started_unix_ms)
[ "$started" -ge "$t0" ] || fail "the job started before the memory was freed"
note "started $((started - t0)) ms after the holder was signalled"

note "behind another job of the same service (concurrency 1)"
submit_job i2v 512 16 200 # 4 s at 20 ms per step
A=$JOB
wait_job "$A" running 5
submit_job i2v 512 16 5
B=$JOB
expect_eq "$(printf '%s' "$BODY" | jq -r .state)" queued "second job"
expect_eq "$(job_state "$B")" queued "second job while the first runs"
wait_job "$A" done 10
a_end=$("$VG_BIN" job "$A" --json | jq .finished_unix_ms)
expect_eq "$(wait_terminal "$B")" done "the second job"
b_start=$("$VG_BIN" job "$B" --json | jq .started_unix_ms)
[ "$b_start" -ge "$a_end" ] || fail "the second job started before the first ended"
note "second job started $((b_start - a_end)) ms after the first ended"

note "priority: a later job with a higher priority runs first"
submit_job i2v 512 16 100
RUN=$JOB
wait_job "$RUN" running 5
submit_job i2v 256 4 5
LOW=$JOB
vg submit i2v resolution=256 frames=4 steps=5 --priority 5 --json
expect_rc 0
HIGH=$(jqo .id)
expect_eq "$(jqo .position)" 1 "the high-priority job's position"
vg job "$LOW" --json
expect_eq "$(jqo .position)" 2 "the earlier low-priority job's position"
expect_eq "$(wait_terminal "$LOW" 20)" done "low-priority job"
high_start=$("$VG_BIN" job "$HIGH" --json | jq .started_unix_ms)
low_start=$("$VG_BIN" job "$LOW" --json | jq .started_unix_ms)
[ "$high_start" -lt "$low_start" ] || fail "priority ignored: high started $high_start, low $low_start"
no_oom
echo "PASS"
