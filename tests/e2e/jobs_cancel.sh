#!/usr/bin/env bash
# Cancel: a queued job at once (it never runs); a running one closes the connection and ends
# cancelled; the queue moves on; cancelling an ended job is refused (409, CLI exit 5).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
make_gpus --total 24GiB
demo_service i2v "$PORT" | jobs_config
start_daemon
wait_state i2v running 20

submit_job i2v 512 16 200 # 4 s
RUN=$JOB
wait_job "$RUN" running 5
submit_job i2v 512 16 5
QUEUED=$JOB
expect_eq "$(job_state "$QUEUED")" queued "second job"

note "cancel while queued"
vg cancel "$QUEUED"
expect_rc 0
expect_contains "$OUT" "cancelled"
expect_eq "$(job_state "$QUEUED")" cancelled "queued job after cancel"
[ "$("$VG_BIN" job "$QUEUED" --json | jq .started_unix_ms)" == null ] || fail "the cancelled job started"

note "cancel while running"
t0=$(date +%s%N)
vg cancel "$RUN" --json
expect_rc 0
t1=$(date +%s%N)
expect_eq "$(jqo .state)" cancelled "running job after cancel"
[ $(((t1 - t0) / 1000000)) -lt 2000 ] || fail "cancel took $(((t1 - t0) / 1000000)) ms"
wait_event i2v job-cancelled

note "the queue moves on"
submit_job i2v 256 4 5
expect_eq "$(wait_terminal "$JOB" 20)" done "a job after the cancellations"

note "cancel an ended job"
vg cancel "$JOB"
expect_rc 5
expect_one_line_error
api DELETE "/v1/jobs/$JOB"
expect_eq "$CODE" 409 "DELETE of a done job"
echo "PASS"
