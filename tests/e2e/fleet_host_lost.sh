#!/usr/bin/env bash
# A host SIGKILLed mid-job (its daemon and its services: the machine is gone). Host "a" took two
# long jobs, one of a service that declares jobs idempotent and one of a service that does not;
# host "b" joins, then "a" dies. After the lease (2 s here) "b" takes both entries over: the
# idempotent job runs again on "b" to done; the other ends `failed: host lost` and never runs
# twice. Nothing is left pending, nothing dead.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
source "$(dirname "$0")/fleet_lib.bash"
start_redis
FLEET_CONFIG_HOST=b
for h in a b; do
  {
    IDEMPOTENT=true STEP=30ms demo_service idem "$(free_port)"
    IDEMPOTENT=false STEP=30ms demo_service once "$(free_port)"
  } | host_config "$h" 48GiB
done
start_host a
hwait_state a idem running 30
hwait_state a once running 30

note "host a takes two 6 s jobs"
fleet_submit a idem 512 16 200
expect_eq "$CODE" 202 "idem submit: $BODY"
IDEM=$FJOB
fleet_submit a once 512 16 200
expect_eq "$CODE" 202 "once submit: $BODY"
ONCE=$FJOB
wait_fleet_job "$IDEM" taken 10
wait_fleet_job "$ONCE" taken 10
expect_eq "$(fleet_job_field "$IDEM" host)" a "idem job's host"
expect_eq "$(fleet_job_field "$ONCE" host)" a "once job's host"
sleep 0.5  # running on a's services now

note "host b joins; host a dies"
start_host b
hwait_state b idem running 30
hwait_state b once running 30
kill_host a KILL
for p in /proc/[0-9]*; do
  p=${p#/proc/}
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q "^VRAMGUARD_FAKE_GPU_DIR=$WORK/a/gpu$" &&
    kill -KILL "$p" 2>/dev/null || true
done
t0=$(date +%s%N)

wait_fleet_job "$ONCE" failed 20
t1=$(date +%s%N)
reason=$(fleet_job_field "$ONCE" reason)
expect_contains "$reason" "host lost: a" "the non-idempotent job's reason"
expect_eq "$(fleet_job_field "$ONCE" decided_by)" b "who decided host lost"
echo "host lost decided $(((t1 - t0) / 1000000)) ms after the kill: $reason"
[ "$(hvg b jobs --json | jq '[.jobs[] | select(.service == "once")] | length')" -eq 0 ] ||
  fail "the non-idempotent job ran on b: $(hvg b jobs --json)"

wait_fleet_job "$IDEM" done 30
t2=$(date +%s%N)
expect_eq "$(fleet_job_field "$IDEM" host)" b "the idempotent job's final host"
echo "idempotent job done on b $(((t2 - t0) / 1000000)) ms after the kill"
expect_eq "$(fleet_json | jq '.waiting + .pending')" 0 "entries left"
expect_eq "$(fleet_json | jq '.dead_letters')" 0 "dead letters"
echo "PASS"
