#!/usr/bin/env bash
# A host restarted mid-job recovers its own pending entries first. Host "a" (the only one; lease
# 30 s, so nobody could take over) runs a long idempotent job and a long non-idempotent one, and
# its daemon is SIGKILLed. The next daemon's crash recovery re-queues the idempotent job and fails
# the other (docs/jobs.md); its first fleet cycle reads its own pending entries (XREADGROUP 0),
# finds both local jobs by their keys: the failed one is acknowledged at once with its state, the
# re-queued one runs again and is acknowledged when done. Nothing is left pending.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
LEASE=30s
source "$(dirname "$0")/fleet_lib.bash"
start_redis
FLEET_CONFIG_HOST=a
{
  IDEMPOTENT=true STEP=20ms demo_service idem "$(free_port)"
  IDEMPOTENT=false STEP=20ms demo_service once "$(free_port)"
} | host_config a 48GiB
start_host a
hwait_state a idem running 30
hwait_state a once running 30
fleet_submit a idem 512 16 150
expect_eq "$CODE" 202 "idem submit: $BODY"
IDEM=$FJOB
fleet_submit a once 512 16 150
expect_eq "$CODE" 202 "once submit: $BODY"
ONCE=$FJOB
wait_fleet_job "$IDEM" taken 10
wait_fleet_job "$ONCE" taken 10
sleep 0.5
expect_eq "$(fleet_json | jq .pending)" 2 "entries pending while they run"

note "SIGKILL the daemon, start it again"
kill_host a KILL
start_host a
wait_fleet_job "$ONCE" failed 20
expect_contains "$(fleet_job_field "$ONCE" reason)" "interrupted" "the non-idempotent job's reason"
wait_fleet_job "$IDEM" done 30
expect_eq "$(fleet_job_field "$IDEM" host)" a "host"
id=$(fleet_job_field "$IDEM" local_id)
expect_eq "$(hvg a job "$id" --json | jq .attempts)" 2 "the idempotent job's attempts"
expect_eq "$(fleet_json | jq '.waiting + .pending')" 0 "entries left"
echo "PASS"
