#!/usr/bin/env bash
# Redis goes away mid-run and comes back (AOF, appendfsync always). While it is away the host's
# local job keeps running to done, and a fleet submission is refused at once with 503 naming
# Redis; once it is back the host reconnects (backoff ≤ 5 s), writes the job's end and
# acknowledges it (the job is not taken for lost, though its lease lapsed meanwhile), the job
# acknowledged before the outage is still there, and submissions work again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
source "$(dirname "$0")/fleet_lib.bash"
mkdir -p "$WORK/redis"
AOF=(--appendonly yes --appendfsync always --dir "$WORK/redis")
start_redis "${AOF[@]}"
FLEET_CONFIG_HOST=a
IDEMPOTENT=false STEP=20ms demo_service once "$(free_port)" | host_config a 24GiB
start_host a
hwait_state a once running 30

fleet_submit a once 512 16 10
expect_eq "$CODE" 202 "first submit: $BODY"
J1=$FJOB
wait_fleet_job "$J1" done 20
fleet_submit a once 512 16 200 # 4 s
expect_eq "$CODE" 202 "second submit: $BODY"
J2=$FJOB
wait_fleet_job "$J2" taken 10
LOCAL2=$(fleet_job_field "$J2" local_id)

note "Redis killed"
kill -KILL "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
REDIS_PID=""
t0=$(date +%s%N)
for ((i = 0; i < 100; i++)); do
  fleet_submit a once 512 16 10
  [ "$CODE" == 503 ] && break
  sleep 0.05
done
expect_eq "$CODE" 503 "a submission while Redis is away: $BODY"
expect_contains "$BODY" "unreachable" "the 503"
echo "refused $(((($(date +%s%N) - t0)) / 1000000)) ms after the kill: $(printf '%s' "$BODY" | jq -r .error)"
for ((i = 0; i < 200; i++)); do
  st=$(hvg a job "$LOCAL2" --json | jq -r .state)
  [ "$st" == done ] && break
  sleep 0.05
done
expect_eq "$st" done "the local job while Redis is away"
expect_eq "$(hapi a GET /v1/fleet; printf '%s' "$BODY" | jq .connected)" false "connected"

note "Redis back (same port, same AOF)"
start_redis "${AOF[@]}"
t1=$(date +%s%N)
wait_fleet_job "$J2" done 20
echo "the job's end written $(((($(date +%s%N) - t1)) / 1000000)) ms after Redis came back"
expect_eq "$(fleet_job_field "$J1" state)" done "the job acknowledged before the outage"
expect_eq "$(fleet_json | jq '.waiting + .pending')" 0 "entries left"
fleet_submit a once 512 16 10
expect_eq "$CODE" 202 "a submission after: $BODY"
wait_fleet_job "$FJOB" done 20
echo "PASS"
