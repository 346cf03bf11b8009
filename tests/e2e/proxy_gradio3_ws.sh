#!/usr/bin/env bash
# Gradio 3's WebSocket queue through the front door (docs/proxy.md, "Gradio 3's WebSocket
# queue"): AUTOMATIC1111's page is Gradio 3.41, whose every click is a WebSocket on /queue/join
# (send_hash → hash, send_data → the inputs, then process_starts … process_completed). The demo
# service speaks it (examples/demo_service/gradio_ws.h); service a's `GET /queue/join` is a job
# route with ends = "gradio-ws", service b's `POST /generate` an ordinary one; both share one
# simulated 24 GiB GPU. Checked: an event that can never fit is answered by the door as a failed
# event with the sizes that fit and never reaches the service; an admitted event's job lasts until
# its process_completed (b waits for it); an event that does not fit beside b's request is held at
# its data message and shown the door's queue position, then runs; one whose browser leaves while
# held leaves the queue and never runs; zero OOMs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
[ -n "${VG_DEMO:-}" ] || { echo "SKIP: vg-demo-service not built"; exit 0; }
CLIENT="$(dirname "$0")/gradio3_ws_client.py"
make_gpus --total 24GiB
PA=$((PORT + 2))
PB=$((PORT + 3))
{
  MODEL=4GiB VRAM=5GiB STEP=20ms demo_service a "$PORT" "$(proxy_route "$PA" \
    "GET /queue/join" 'protocol = "gradio"' 'ends = "gradio-ws"' \
    'params = { resolution = "/data/0", frames = "/data/1", steps = "/data/2" }' \
    'when = { "/fn_index" = 0 }')"
  MODEL=4GiB VRAM=5GiB STEP=20ms demo_service b "$((PORT + 1))" "$(proxy_route "$PB" "POST /generate")"
} | jobs_config
vg check-config "$WORK/vramguard.toml"
expect_rc 0
start_daemon
wait_state a running 20
wait_state b running 20

# ws DATA OUT [ARGS…]: one Gradio 3 event through a's proxy; its messages as JSON lines in OUT.
ws() {
  local data=$1 out=$2
  shift 2
  python3 "$CLIENT" --port "$PA" --data "$data" --session "s$RANDOM" "$@" >"$out" 2>"$out.err"
}
b_running() {  # until b's request runs
  for _ in $(seq 100); do
    [ "$("$VG_BIN" jobs --json --service b | jq '[.jobs[] | select(.state == "running")] | length')" = 1 ] && return
    sleep 0.02
  done
  fail "b's request is not running"
}
b_generate() {  # b's request, its head in $WORK/hb.$1
  curl -s -D "$WORK/hb.$1" -o "$WORK/ab.$1" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -d '{"resolution":768,"frames":24,"steps":40}' \
    "http://127.0.0.1:$PB/generate" || echo 000
}

note "an event that can never fit: a failed event with the sizes that fit, never run"
t0=$(date +%s%3N)
rc=0
ws '[1024,64,10]' "$WORK/big" || rc=$?
t1=$(date +%s%3N)
expect_eq "$rc" 1 "client exit (1: success false): $(cat "$WORK/big" "$WORK/big.err")"
failed=$(jq -c 'select(.msg == "process_completed")' "$WORK/big")
expect_eq "$(jq -r .success <<<"$failed")" false "the failed event"
expect_contains "$(jq -r .output.error <<<"$failed")" "GiB" "the error the page shows"
grep -q '"msg": *"process_starts"' "$WORK/big" && fail "the refused event reached the service"
grep -q '"closed": *true' "$WORK/big" || fail "the WebSocket was not closed: $(cat "$WORK/big")"
note "refused in $((t1 - t0)) ms: $(jq -r .output.error <<<"$failed")"
expect_eq "$("$VG_BIN" jobs --json --service a | jq '[.jobs[] | select(.state == "refused")] | length')" \
  1 "a's refused job in the queue's record"

note "an admitted event's job lasts until its process_completed: b waits for it"
ws '[768,24,40]' "$WORK/first" &
first=$!
for _ in $(seq 100); do grep -q process_starts "$WORK/first" 2>/dev/null && break; sleep 0.02; done
grep -q process_starts "$WORK/first" || fail "a's event did not start: $(cat "$WORK/first" "$WORK/first.err")"
t2=$(date +%s%3N)
code=$(b_generate 1)
t3=$(date +%s%3N)
wait "$first" || fail "a's event failed: $(cat "$WORK/first" "$WORK/first.err")"
expect_eq "$code" 200 "b's answer: $(cat "$WORK/ab.1")"
queued_b=$(grep -i '^x-vramguard-queued-ms:' "$WORK/hb.1" | cut -d: -f2 | tr -d ' \r')
note "b waited ${queued_b} ms for a's event (answered $((t3 - t2)) ms after asking)"
[ "${queued_b:-0}" -ge 300 ] || fail "b went after ${queued_b} ms: a's event was not counted"
job_a=$("$VG_BIN" jobs --json --service a | jq '[.jobs[] | select(.state == "done")] | first | .id')
vg job "$job_a" --json
expect_eq "$(jqo .origin)" door "a's job origin"
obs=$(jqo .observed_peak_bytes)
[ "$obs" != null ] && [ "$obs" -gt $((7 * 1073741824)) ] ||
  fail "a's observed peak $obs is not the 768p event's ~7.7 GiB"

note "an event that does not fit beside b's request waits at the door, shown its position"
( b_generate 2 >"$WORK/code.2" ) &
bg=$!
b_running
t4=$(date +%s%3N)
ws '[768,24,10]' "$WORK/held" || fail "the held event failed: $(cat "$WORK/held" "$WORK/held.err")"
wait "$bg"
expect_eq "$(cat "$WORK/code.2")" 200 "b's second answer"
# The door's estimation comes after the client sent its data (after send_data), before the start.
order=$(jq -r 'select(.msg) | .msg' "$WORK/held" | tr '\n' ' ')
expect_contains "$order" "send_data estimation process_starts" "the held event's messages"
held_ms=$(jq -s '(map(select(.msg == "process_starts"))[0].t_ms) - (map(select(.msg == "send_data"))[0].t_ms)' "$WORK/held")
note "held ${held_ms} ms at the door (b's request ran), then ran: $order"
[ "${held_ms%.*}" -ge 200 ] || fail "the event was not held (${held_ms} ms)"

note "a browser that leaves while its event is held: the job leaves the queue, never runs"
( b_generate 3 >"$WORK/code.3" ) &
bg=$!
b_running
rc=0
ws '[768,24,10]' "$WORK/left" --timeout 0.3 || rc=$?
expect_eq "$rc" 3 "the client gave up (timeout): $(cat "$WORK/left.err")"
wait "$bg"
grep -q process_starts "$WORK/left" && fail "the event of a client that left ran"
sleep 0.3
cancelled=$("$VG_BIN" jobs --json --service a | jq '[.jobs[] | select(.state == "cancelled")] | length')
expect_eq "$cancelled" 1 "a's job of the client that left"
expect_eq "$("$VG_BIN" jobs --json --service a | jq '[.jobs[] | select(.state == "queued" or .state == "running")] | length')" \
  0 "nothing of a's left queued or running"
no_oom
echo "PASS"
