#!/usr/bin/env bash
# Two hosts share one Redis: "small" (24 GiB simulated GPU) and "big" (32 GiB), each its own
# daemon, state dir and demo service. Jobs submitted on the small host spread over both; the
# 1024p/32f ones (more than the small host can ever hold) run only on the big host, nothing OOMs;
# a 1024p/64f job, too big for every host, is refused at once with suggestions against the big
# one. `vramguard fleet` shows both hosts and empty queues at the end.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
source "$(dirname "$0")/fleet_lib.bash"
start_redis
FLEET_CONFIG_HOST=small
STEP=10ms demo_service i2v "$(free_port)" | host_config small 24GiB
STEP=10ms demo_service i2v "$(free_port)" | host_config big 32GiB
start_host small
start_host big
hwait_state small i2v running 30
hwait_state big i2v running 30
wait_hosts 2
fleet_json | jq -c '.hosts[] | {host, capacity}'

note "a job too big for every host: refused at once, suggestions against the big host"
t0=$(date +%s%N)
fleet_submit small i2v 1024 64 10
t1=$(date +%s%N)
expect_eq "$CODE" 422 "1024p/64f: $BODY"
expect_eq "$(printf '%s' "$BODY" | jq -r .largest_host)" big "largest host"
[ "$(printf '%s' "$BODY" | jq '.suggestions | length')" -gt 0 ] || fail "no suggestions: $BODY"
echo "refused in $(((t1 - t0) / 1000000)) ms: $(printf '%s' "$BODY" | jq -r .error)"

note "12 jobs submitted on the small host: 4 big ones, 8 small ones"
BIG=() SMALL=()
for i in 1 2 3 4; do
  fleet_submit small i2v 1024 32 20
  expect_eq "$CODE" 202 "1024p/32f submit: $BODY"
  BIG+=("$FJOB")
done
for i in 1 2 3 4 5 6 7 8; do
  fleet_submit small i2v 512 16 20
  expect_eq "$CODE" 202 "512p/16f submit: $BODY"
  SMALL+=("$FJOB")
done
for j in "${BIG[@]}" "${SMALL[@]}"; do wait_fleet_job "$j" done 60; done
for j in "${BIG[@]}"; do
  expect_eq "$(fleet_job_field "$j" host)" big "host of big job $j"
done
ran_small=0
for j in "${SMALL[@]}"; do [ "$(fleet_job_field "$j" host)" == small ] && ran_small=$((ran_small + 1)); done
echo "small jobs on the small host: $ran_small of ${#SMALL[@]}"
[ "$ran_small" -gt 0 ] || fail "the small host ran none of the small jobs"
host_no_oom small
host_no_oom big
fleet_json | jq -c '{waiting, pending, dead_letters}'
expect_eq "$(fleet_json | jq '.waiting + .pending')" 0 "entries left in the queues"
expect_eq "$(fleet_json | jq '.dead_letters')" 0 "dead letters"
hapi big GET /metrics
expect_contains "$BODY" "vramguard_fleet_connected 1" "big's metrics"
expect_contains "$BODY" "vramguard_fleet_hosts 2" "big's metrics"
printf '%s\n' "$BODY" | grep '^vramguard_fleet_entries_total' | sed 's/^/  big: /'
echo "PASS"
