#!/usr/bin/env bash
# Redis killed (SIGKILL) and restarted from its AOF three times while two hosts take jobs that
# are submitted on both, before, during and after each outage. A submission Redis did not take is
# refused with 503 (never acknowledged); every one answered 202 ends done, and ran exactly once
# over both hosts (no job is run twice: they are not idempotent); nothing is left waiting,
# pending or dead. A submission right after Redis is back is taken at once (not refused for the
# hosts' reconnect backoff). The outages are shorter than the lease, so no host takes another's entry.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
source "$(dirname "$0")/fleet_lib.bash"
mkdir -p "$WORK/redis"
AOF=(--appendonly yes --appendfsync always --dir "$WORK/redis")
LEASE=4s
start_redis "${AOF[@]}"
FLEET_CONFIG_HOST=a
for h in a b; do
  IDEMPOTENT=false STEP=10ms demo_service i2v "$(free_port)" | host_config "$h" 24GiB
  start_host "$h"
done
for h in a b; do hwait_state "$h" i2v running 30; done
wait_hosts 2

ACKED=()
refused=0
n=0
# submit_some COUNT [ack]: alternately on a and b; 202 → acknowledged, 503 → refused (a failure
# with "ack": Redis answers, so the submission must be taken at once, whatever backoff the hosts'
# own retries are in), anything else a failure.
submit_some() {
  local i h
  for ((i = 0; i < $1; i++)); do
    h=a
    [ $((n % 2)) -eq 1 ] && h=b
    n=$((n + 1))
    fleet_submit "$h" i2v 512 16 20
    case "$CODE" in
      202) ACKED+=("$FJOB") ;;
      503)
        [ "${2:-}" == ack ] && fail "submit on $h refused with Redis back: $BODY"
        refused=$((refused + 1))
        ;;
      *) fail "submit on $h answered $CODE: $BODY" ;;
    esac
  done
}

for round in 1 2 3; do
  submit_some 12 ack
  note "round $round: Redis killed with ${#ACKED[@]} jobs acknowledged so far"
  kill -KILL "$REDIS_PID"
  wait "$REDIS_PID" 2>/dev/null || true
  submit_some 2 # while it is away: refused, or taken if it raced the kill
  sleep 0.5
  start_redis "${AOF[@]}"
  submit_some 4 ack # at once after the restart
done
echo "acknowledged ${#ACKED[@]}, refused $refused (Redis away)"
[ "$refused" -gt 0 ] || fail "no submission was refused: the outages did not happen?"
for j in "${ACKED[@]}"; do wait_fleet_job "$j" done 60; done

# Each acknowledged job ran once: one local job with its key, done, over both hosts.
declare -A RUNS
for h in a b; do
  while read -r key; do
    RUNS[$key]=$((${RUNS[$key]:-0} + 1))
  done < <(hvg "$h" jobs --json -n 1000 | jq -r '.jobs[] | select(.state == "done") | .idempotency_key')
done
for j in "${ACKED[@]}"; do
  expect_eq "${RUNS[fleet:$j]:-0}" 1 "local runs of fleet job $j"
done
expect_eq "$(fleet_json | jq '.waiting + .pending')" 0 "entries left"
expect_eq "$(fleet_json | jq '.dead_letters')" 0 "dead letters"
host_no_oom a
host_no_oom b
echo "PASS"
