#!/usr/bin/env bash
# Gradio's queue through the front door (docs/proxy.md, "Engines that answer at once"): the demo
# service speaks Gradio's queue protocol (POST /gradio_api/queue/join answers an event id at once;
# GET /gradio_api/queue/data?session_hash=… streams the event's process_completed when it has
# run). Service a's join is a job route with ends = "gradio-queue"; service b's POST /generate is
# an ordinary job route; both share one simulated 24 GiB GPU. A join that can never fit is refused
# at once in Gradio's error shape; an admitted join is answered at once, and its job runs until
# the event stream says the event completed — so b's request, which does not fit beside it,
# waits for the event's end (not for the join's answer) and nothing runs out of memory.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
[ -n "${VG_DEMO:-}" ] || { echo "SKIP: vg-demo-service not built"; exit 0; }
make_gpus --total 24GiB
PA=$((PORT + 2))
PB=$((PORT + 3))
{
  MODEL=4GiB VRAM=5GiB STEP=20ms demo_service a "$PORT" "$(proxy_route "$PA" \
    "POST /gradio_api/queue/join" 'protocol = "gradio"' 'ends = "gradio-queue"' \
    'params = { resolution = "/data/0", frames = "/data/1", steps = "/data/2" }')"
  MODEL=4GiB VRAM=5GiB STEP=20ms demo_service b "$((PORT + 1))" "$(proxy_route "$PB" "POST /generate")"
} | jobs_config
vg check-config "$WORK/vramguard.toml"
expect_rc 0
start_daemon
wait_state a running 20
wait_state b running 20

note "a join that can never fit: refused at once in Gradio's error shape, never queued"
code=$(curl -s -o "$WORK/answer" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -d '{"data":[1024,64,10],"fn_index":0,"session_hash":"big"}' \
  "http://127.0.0.1:$PA/gradio_api/queue/join" || echo 000)
expect_eq "$code" 422 "refusal status: $(cat "$WORK/answer")"
expect_contains "$(jq -r .detail "$WORK/answer")" "GiB" "the detail Gradio shows"

note "an admitted join answers at once; its job runs until the event stream completes it"
t0=$(date +%s%3N)
code=$(curl -s -D "$WORK/hj" -o "$WORK/join" -w '%{http_code}' -X POST \
  -H 'Content-Type: application/json' \
  -d '{"data":[768,24,40],"fn_index":0,"session_hash":"s1"}' \
  "http://127.0.0.1:$PA/gradio_api/queue/join" || echo 000)
t1=$(date +%s%3N)
expect_eq "$code" 200 "join answer: $(cat "$WORK/join")"
event=$(jq -r .event_id "$WORK/join")
job_a=$(grep -i '^x-vramguard-job:' "$WORK/hj" | cut -d: -f2 | tr -d ' \r')
[ -n "$event" ] && [ "$event" != null ] && [ -n "$job_a" ] || fail "join without event or job"
note "join answered in $((t1 - t0)) ms (event $event, job $job_a)"
# The browser's event stream for its session (Gradio's client opens it after the join).
( curl -s -o "$WORK/stream" "http://127.0.0.1:$PA/gradio_api/queue/data?session_hash=s1" || true ) &
stream=$!
sleep 0.2
expect_eq "$("$VG_BIN" job "$job_a" --json | jq -r .state)" running "a's job after its join answered"

note "b's request does not fit beside a's event: it waits for the event's end"
code_b=$(curl -s -D "$WORK/hb" -o "$WORK/ab" -w '%{http_code}' -X POST \
  -H 'Content-Type: application/json' -d '{"resolution":768,"frames":24,"steps":10}' \
  "http://127.0.0.1:$PB/generate" || echo 000)
t2=$(date +%s%3N)
wait "$stream"
expect_eq "$code_b" 200 "b's answer: $(cat "$WORK/ab")"
queued_b=$(grep -i '^x-vramguard-queued-ms:' "$WORK/hb" | cut -d: -f2 | tr -d ' \r')
note "b waited ${queued_b} ms; a's event ran ~800 ms after its join answered in $((t1 - t0)) ms"
[ "${queued_b:-0}" -ge 300 ] || fail "b went after ${queued_b} ms: the door ended a's job at its join answer"
grep -q '"msg":"process_completed"' "$WORK/stream" || fail "no process_completed: $(cat "$WORK/stream")"
grep -q "\"event_id\":\"$event\"" "$WORK/stream" || fail "the stream does not name $event"
no_oom
vg job "$job_a" --json
expect_eq "$(jqo .state)" done "a's job"
expect_eq "$(jqo .origin)" door "a's job origin"
obs=$(jqo .observed_peak_bytes)
[ "$obs" != null ] && [ "$obs" -gt $((7 * 1073741824)) ] ||
  fail "a's observed peak $obs is not the 768p job's ~7.7 GiB: the job ended before the work"
[ $((t2 - t1)) -ge 300 ] || fail "b answered $((t2 - t1)) ms after a's join: it did not wait"
echo "PASS"
