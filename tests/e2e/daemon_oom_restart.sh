#!/usr/bin/env bash
# The demo service runs out of memory on a job: within a second an `oom` event carries the numbers
# the service reported in its 500 answer (asked, capacity, free), a VRAM snapshot and a sentence;
# the policy (on_oom = "restart") stops it with verification and starts a new instance; a real
# local HTTP receiver gets the event as JSON by webhook; status shows the last incident.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
command -v python3 >/dev/null || fail "python3 is needed for the webhook receiver (scripts/setup.sh)"
make_gpus --total 24GiB --overhead 500MiB
sim other --gpu 0 --alloc 10GiB
start_receiver hook
write_config <<EOF2
[[service]]
name = "i2v-oom_restart"
command = ["vg-demo-service", "--port", "$PORT", "--model", "8GiB", "--load-time", "50ms"]
gpus = [0]
vram = "9GiB"
port = $PORT
ready = { log = "Running on local URL" }
restart = { backoff = "100ms..1s" }

[[alert]]
webhook = "http://127.0.0.1:$hook_PORT/vramguard"
kinds = ["oom"]
EOF2
start_daemon
wait_state i2v-oom_restart running 10
pid1=$(service_pid i2v-oom_restart)

t0=$(date +%s%3N)
demo_job "$PORT" '{"resolution":1024,"frames":32,"steps":10}'
expect_eq "$JOB_STATUS" 500 "job status"
wait_event i2v-oom_restart oom 5
vg events --json --service i2v-oom_restart --kind oom
expect_eq "$(jqo '.events | length')" 1 "oom events"
ev=$(jqo '.events[0]')
t_event=$(printf '%s' "$ev" | jq -r .time_unix_ms)
note "oom event $((t_event - t0)) ms after the job was sent"
[ $((t_event - t0)) -lt 1000 ] || fail "oom event came $((t_event - t0)) ms after the job"

# The parsed numbers are the service's (the message prints two decimals: within 0.005 GiB).
close() { # close A B: |A-B| <= 0.005 GiB
  local a=$1 b=$2
  [ "$a" != null ] && [ $(((a > b ? a - b : b - a) <= 5368709)) -eq 1 ] || fail "$3: $a vs $b"
}
close "$(printf '%s' "$ev" | jq .data.incident.requested_bytes)" \
  "$(printf '%s' "$JOB_BODY" | jq .tried_to_allocate_bytes)" "requested_bytes"
close "$(printf '%s' "$ev" | jq .data.incident.capacity_bytes)" \
  "$(printf '%s' "$JOB_BODY" | jq .total_bytes)" "capacity_bytes"
close "$(printf '%s' "$ev" | jq .data.incident.free_bytes)" \
  "$(printf '%s' "$JOB_BODY" | jq .free_bytes)" "free_bytes"
expect_eq "$(printf '%s' "$ev" | jq -r .data.incident.kind)" oom "incident kind"
expect_eq "$(printf '%s' "$ev" | jq -r .data.incident.gpu)" 0 "incident gpu"
expect_eq "$(printf '%s' "$ev" | jq '.data.vram[0].total_bytes')" $((24 << 30)) "snapshot total"
expect_contains "$(printf '%s' "$ev" | jq -c '.data.vram[0].top')" "\"pid\":$other_PID" "snapshot holders"
expect_contains "$(printf '%s' "$ev" | jq -r .data.explanation)" "i2v-oom_restart" "explanation"
expect_eq "$(printf '%s' "$ev" | jq -r .message)" "$(printf '%s' "$ev" | jq -r .data.explanation)" "message"
expect_contains "$(printf '%s' "$ev" | jq -r .data.action)" "restart" "action"

# The policy: stopped with verification, a new instance, memory as before.
wait_event i2v-oom_restart reaped 5
expect_eq "$(vg events --json --service i2v-oom_restart --kind reaped; jqo '.events[-1].data.verified')" true "verified"
wait_state i2v-oom_restart running 10
pid2=$(service_pid i2v-oom_restart)
[ "$pid2" != "$pid1" ] || fail "not restarted: same pid $pid1"
alive "$pid1" && fail "old instance $pid1 still runs"
expect_eq "$(gpu_used 0)" $(((10 << 30) + (8 << 30) + 2 * (500 << 20))) "GPU used after the restart"

# The webhook: one POST of the event as JSON.
wait_hooks hook 1 5
expect_contains "$(head -1 "$WORK/hook.hook")" "POST /vramguard content-type: application/json"
body=$(hook_bodies hook | head -1)
expect_eq "$(printf '%s' "$body" | jq -r .kind)" oom "webhook kind"
expect_eq "$(printf '%s' "$body" | jq -r .service)" i2v-oom_restart "webhook service"
expect_eq "$(printf '%s' "$body" | jq .count)" 1 "webhook count"
expect_eq "$(printf '%s' "$body" | jq .data.incident.requested_bytes)" \
  "$(printf '%s' "$ev" | jq .data.incident.requested_bytes)" "webhook requested_bytes"

# status: the last incident, in JSON and for people.
vg status i2v-oom_restart --json
expect_eq "$(jqo .last_incident.kind)" oom "last incident"
expect_eq "$(jqo .last_incident.sentence)" "$(printf '%s' "$ev" | jq -r .message)" "last incident sentence"
vg status i2v-oom_restart
expect_contains "$OUT" "last incident:"
vg status
expect_contains "$OUT" "oom "
# events --kind oom (human) and --follow --json both show it.
vg events --kind oom --service i2v-oom_restart
expect_contains "$OUT" "i2v-oom_restart  oom  "
timeout 1 "$VG_BIN" events --follow --json --kind oom --service i2v-oom_restart >"$WORK/follow.out" || true
expect_eq "$(jq -r .kind <"$WORK/follow.out" | sort -u)" oom "followed kinds"
echo "PASS"
