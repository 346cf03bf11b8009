#!/usr/bin/env bash
# A service that declares its jobs idempotent: the job running when the daemon is SIGKILLed is
# re-queued by the next daemon (a `job-queued` event says so) and runs again to done, its
# attempts counting both runs; the jobs queued behind it run too.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
make_gpus --total 24GiB
IDEMPOTENT=true demo_service i2v "$PORT" | jobs_config
start_daemon
wait_state i2v running 20
submit_job i2v 512 16 200 # 4 s
RUN=$JOB
wait_job "$RUN" running 10
submit_job i2v 256 4 5
Q1=$JOB
submit_job i2v 256 8 5
Q2=$JOB
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=""
start_daemon
wait_event i2v job-queued 10
vg events --json --kind job-queued --service i2v -n 100
expect_eq "$(jqo "[.events[] | select(.data.recovered == true and .data.job == $RUN)] | length")" 1 \
  "recovery event for the running job"
expect_eq "$(wait_terminal "$RUN" 30)" done "the interrupted job, run again"
expect_eq "$("$VG_BIN" job "$RUN" --json | jq .attempts)" 2 "attempts"
expect_eq "$(wait_terminal "$Q1" 30)" done "queued job 1"
expect_eq "$(wait_terminal "$Q2" 30)" done "queued job 2"
echo "PASS"
