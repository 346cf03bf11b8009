#!/usr/bin/env bash
# Two hosts share one Redis: "small" (24 GiB simulated GPU) and "big" (32 GiB), each its own
# daemon, state dir and demo service. Jobs submitted on the small host spread over both; the
# 1024p/32f ones (more than the small host can ever hold) run only on the big host, nothing OOMs;
# a 1024p/64f job, too big for every host, is refused at once with suggestions against the big
# one. `vramguard fleet` shows both hosts and empty queues at the end. A reload applies a new
# lease at once and says that a new host name waits for a restart. An idempotency key is one job
# fleet-wide; a key whose job was never queued is taken over after its grace.
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

note "idempotency keys fleet-wide: a second submission on another host names the first job"
body='{"service":"i2v","params":{"resolution":512,"frames":16,"steps":5},"idempotency_key":"%s"}'
# shellcheck disable=SC2059
hapi small POST /v1/jobs "$(printf "$body" k1)"
expect_eq "$CODE" 202 "k1 first: $BODY"
K1=$(printf '%s' "$BODY" | jq -r .fleet_job)
# shellcheck disable=SC2059
hapi big POST /v1/jobs "$(printf "$body" k1)"
expect_eq "$CODE" 200 "k1 again on big: $BODY"
expect_eq "$(printf '%s' "$BODY" | jq -r '.fleet_job + " " + (.duplicate | tostring)')" "$K1 true" "k1 again"
# A key whose holder never got its job queued (its XADD failed): taken over once past the grace;
# within it, still the holder's (its submission may be under way).
redis-cli -p "$REDIS_PORT" SET vg:idem:k2 "ghost-1 1000" >/dev/null
redis-cli -p "$REDIS_PORT" SET vg:idem:k3 "ghost-2 $(($(date +%s%N) / 1000000))" >/dev/null
# shellcheck disable=SC2059
hapi small POST /v1/jobs "$(printf "$body" k2)"
expect_eq "$CODE" 202 "k2 held by a job never queued: $BODY"
K2=$(printf '%s' "$BODY" | jq -r .fleet_job)
expect_eq "$(redis-cli -p "$REDIS_PORT" GET vg:idem:k2 | cut -d' ' -f1)" "$K2" "k2's holder now"
# shellcheck disable=SC2059
hapi small POST /v1/jobs "$(printf "$body" k3)"
expect_eq "$CODE" 200 "k3 claimed just now: $BODY"
expect_eq "$(printf '%s' "$BODY" | jq -r .fleet_job)" ghost-2 "k3's holder"
wait_fleet_job "$K1" done 30
wait_fleet_job "$K2" done 30

note "reload: the lease applies at once; a new host name waits for a restart, said so"
sed -i "s/^lease = \"$LEASE\"/lease = \"3s\"/" "$WORK/small/vramguard.toml"
hvg small reload >/dev/null
hapi small GET /v1/fleet
expect_eq "$(printf '%s' "$BODY" | jq .lease_s)" 3 "small's lease after the reload"
sed -i 's/^host = "small"/host = "tiny"/' "$WORK/small/vramguard.toml"
hvg small reload >/dev/null
hapi small GET /v1/fleet
expect_eq "$(printf '%s' "$BODY" | jq -r .host)" small "small's name after a reload naming another"
for ((i = 0; i < 100; i++)); do
  grep -q "\[fleet\] host changed: takes effect when the daemon restarts" "$WORK/small/daemon.log" && break
  sleep 0.02
done
expect_contains "$(cat "$WORK/small/daemon.log")" "[fleet] host changed: takes effect when the daemon restarts" \
  "small's log"
echo "PASS"
