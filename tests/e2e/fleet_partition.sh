#!/usr/bin/env bash
# A host paused (SIGSTOP: as a partition looks from Redis) past its lease, then resumed. Host "a"
# holds a 6 s idempotent job and a 6 s non-idempotent one (taken while "b" was frozen); "a" is
# stopped as "b" is thawed. "b" takes
# both entries over after the lease: the idempotent job runs again on "b" to done, the other ends
# `failed: host lost` and is not run on "b". Resumed, "a" finds both entries gone: neither its
# renewal nor the end of its local copies (its services finished them meanwhile) changes the
# fleet's records or acknowledges anything. The non-idempotent job ran once (on "a").
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
start_host b
hwait_state b idem running 30
hwait_state b once running 30
# b is frozen while a takes both jobs, then thawed as a is paused: the jobs (6 s) are still
# running on a however long the hosts took to start (a slow machine once let them finish first).
kill -STOP "${HOST_PID[b]}"
fleet_submit a idem 512 16 200
IDEM=$FJOB
fleet_submit a once 512 16 200
ONCE=$FJOB
wait_fleet_job "$IDEM" taken 10
wait_fleet_job "$ONCE" taken 10

note "a paused"
kill -STOP "${HOST_PID[a]}"
kill -CONT "${HOST_PID[b]}"
wait_fleet_job "$ONCE" failed 20
expect_contains "$(fleet_job_field "$ONCE" reason)" "host lost: a" "reason"
wait_fleet_job "$IDEM" done 30
expect_eq "$(fleet_job_field "$IDEM" host)" b "the idempotent job's host"

note "a resumed"
kill -CONT "${HOST_PID[a]}"
sleep 3 # a's services finished both copies meanwhile; its next cycles see the entries gone
expect_eq "$(fleet_job_field "$ONCE" state)" failed "the non-idempotent job's record after a came back"
expect_eq "$(fleet_job_field "$IDEM" host)" b "the idempotent job's record after a came back"
expect_eq "$(hvg b jobs --json | jq '[.jobs[] | select(.service == "once")] | length')" 0 \
  "non-idempotent jobs run on b"
expect_eq "$(fleet_json | jq '.waiting + .pending')" 0 "entries left"
grep -q "another host" "$WORK/a/daemon.log" ||
  fail "a did not say it lost its entries: $(tail -20 "$WORK/a/daemon.log")"
grep "another host" "$WORK/a/daemon.log" | sed 's/^/  a: /'
echo "PASS"
