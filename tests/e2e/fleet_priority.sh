#!/usr/bin/env bash
# Priorities across hosts, and following a fleet job from any host. Two hosts (24 GiB each, one
# job at a time) share one Redis. 16 low-priority jobs (priority -5) are queued on host a; once
# two run, 3 high-priority ones (priority 5) are submitted on host b — one of them with
# `vramguard submit --wait`, which follows it wherever it runs and prints its result. The high
# band is read before the low one on every host: between the highs' submission and the last
# high's start, at most the lows already pulled (one running and one queued per host) may start,
# not the ~12 still waiting on Redis. `vramguard job ID` on host a answers for a job that ran
# anywhere (host, local id, estimate vs observed, result); `jobs --fleet` lists them all.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
source "$(dirname "$0")/fleet_lib.bash"
start_redis
FLEET_CONFIG_HOST=a
for h in a b; do
  IDEMPOTENT=true STEP=10ms demo_service i2v "$(free_port)" | host_config "$h" 24GiB
  start_host "$h"
done
for h in a b; do hwait_state "$h" i2v running 30; done
wait_hosts 2

# submit_prio HOST PRIORITY: a 512p/16f job of 40 steps (~400 ms); sets CODE, BODY, FJOB.
submit_prio() {
  hapi "$1" POST /v1/jobs \
    "{\"service\":\"i2v\",\"params\":{\"resolution\":512,\"frames\":16,\"steps\":40},\"priority\":$2}"
  FJOB=$(printf '%s' "$BODY" | jq -r '.fleet_job // empty')
}

note "16 low-priority jobs on host a"
LOW=()
for ((i = 0; i < 16; i++)); do
  submit_prio a -5
  expect_eq "$CODE" 202 "low submit: $BODY"
  expect_contains "$BODY" ':lo"' "the low band's stream"
  LOW+=("$FJOB")
done
for ((i = 0; i < 250; i++)); do
  running=$(fleet_json | jq '.pending')
  [ "$running" -ge 2 ] && break
  sleep 0.02
done
t_high=$(($(date +%s%N) / 1000000))

note "3 high-priority jobs on host b (one followed with submit --wait)"
hvg b submit i2v resolution=512 frames=16 steps=40 --priority 5 --wait >"$WORK/wait.out" \
  2>"$WORK/wait.err" &
WAITER=$!
HIGH=()
for ((i = 0; i < 2; i++)); do
  submit_prio b 5
  expect_eq "$CODE" 202 "high submit: $BODY"
  expect_contains "$BODY" ':hi"' "the high band's stream"
  HIGH+=("$FJOB")
done
wait "$WAITER" || fail "submit --wait exited $?: $(cat "$WORK/wait.err")"
cat "$WORK/wait.err" "$WORK/wait.out"
W=$(sed -n 's/^fleet job \([^ ]*\) .*/\1/p' "$WORK/wait.out" | head -1)
[ -n "$W" ] || fail "submit --wait printed no fleet job: $(cat "$WORK/wait.out")"
HIGH+=("$W")
expect_contains "$(cat "$WORK/wait.out")" "  done" "the followed job's state"
expect_contains "$(cat "$WORK/wait.out")" '"ok": true' "the followed job's result"
expect_contains "$(cat "$WORK/wait.err")" "fleet job $W: done on " "the followed job's progress"

for j in "${HIGH[@]}" "${LOW[@]}"; do wait_fleet_job "$j" done 60; done
started() { fleet_job_field "$1" started_unix_ms; }
last_high=0
for j in "${HIGH[@]}"; do
  s=$(started "$j")
  [ "$s" -gt "$last_high" ] && last_high=$s
done
waiting_then=0 overtook=0
for j in "${LOW[@]}"; do
  s=$(started "$j")
  [ "$s" -gt "$t_high" ] && waiting_then=$((waiting_then + 1))
  [ "$s" -gt "$t_high" ] && [ "$s" -lt "$last_high" ] && overtook=$((overtook + 1))
done
echo "low jobs not started when the highs came: $waiting_then; started before the last high: $overtook"
[ "$waiting_then" -ge 8 ] || fail "only $waiting_then low jobs were still waiting: the test proves nothing"
[ "$overtook" -le 4 ] || fail "$overtook low jobs started before the last high one (FIFO across bands?)"

note "any host answers for any fleet job"
for j in "${HIGH[@]}"; do
  ran_on=$(fleet_job_field "$j" host)
  other=a
  [ "$ran_on" == a ] && other=b
  out=$(hvg "$other" job "$j")
  expect_contains "$out" "fleet job $j  i2v  done" "job $j from host $other"
  expect_contains "$out" "host:      $ran_on (local job " "where $j ran"
  expect_contains "$out" "observed" "estimate vs observed of $j"
  expect_eq "$(hvg "$other" job "$j" --json | jq '.result.ok')" true "result of $j on host $other"
done
listed=$(hvg a jobs --fleet -n 100 --json | jq '[.jobs[] | select(.state == "done")] | length')
expect_eq "$listed" 19 "fleet jobs listed done"
hvg b jobs --fleet -n 3
expect_eq "$(hvg a job no-such-job-1 2>&1 >/dev/null | head -1)" \
  "vramguard: no fleet job 'no-such-job-1'; a record expires 7 days after its last change" \
  "an unknown fleet job"
host_no_oom a
host_no_oom b
echo "PASS"
