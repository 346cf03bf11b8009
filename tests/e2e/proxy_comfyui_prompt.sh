#!/usr/bin/env bash
# ComfyUI's prompt API through the front door (docs/proxy.md, "Engines that answer at once"): the
# demo service speaks it (POST /prompt answers a prompt id at once, the workflow runs afterwards,
# GET /history/<id> has it once it ended). Service a's POST /prompt is a job route with
# ends = "comfyui-history" and its parameters from the workflow graph; service b's POST /generate
# is an ordinary job route; both share one simulated 24 GiB GPU. A workflow that can never fit
# is refused at once; an admitted one is answered at once and its job runs until the door finds
# the prompt in the service's history — so b's request, which does not fit beside it, waits for
# the prompt's end (not for its answer), and nothing runs out of memory.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
[ -n "${VG_DEMO:-}" ] || { echo "SKIP: vg-demo-service not built"; exit 0; }
make_gpus --total 24GiB
PA=$((PORT + 2))
PB=$((PORT + 3))
{
  MODEL=4GiB VRAM=5GiB STEP=20ms demo_service a "$PORT" "$(proxy_route "$PA" \
    "POST /prompt" 'ends = "comfyui-history"' \
    'params = { resolution = "/prompt/*/inputs/width", frames = "/prompt/*/inputs/length", steps = "/prompt/*/inputs/steps" }')"
  MODEL=4GiB VRAM=5GiB STEP=20ms demo_service b "$((PORT + 1))" "$(proxy_route "$PB" "POST /generate")"
} | jobs_config
vg check-config "$WORK/vramguard.toml"
expect_rc 0
start_daemon
wait_state a running 20
wait_state b running 20
workflow() {  # WIDTH LENGTH STEPS: a video workflow's graph, as ComfyUI's UI posts it
  printf '{"prompt": {"3": {"class_type": "KSampler", "inputs": {"steps": %s, "seed": 7}}, "5": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": %s, "height": %s, "length": %s, "batch_size": 1}}}, "client_id": "e2e"}' \
    "$3" "$1" "$1" "$2"
}

note "a workflow that can never fit: refused at once, never queued"
code=$(curl -s -o "$WORK/answer" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -d "$(workflow 1024 64 10)" "http://127.0.0.1:$PA/prompt" || echo 000)
expect_eq "$code" 422 "refusal status: $(cat "$WORK/answer")"
expect_contains "$(cat "$WORK/answer")" "GiB" "the refusal's reason"

note "an admitted prompt answers at once; its job runs until the history has the prompt"
t0=$(date +%s%3N)
code=$(curl -s -D "$WORK/ha" -o "$WORK/prompt" -w '%{http_code}' -X POST \
  -H 'Content-Type: application/json' -d "$(workflow 768 24 40)" "http://127.0.0.1:$PA/prompt" || echo 000)
t1=$(date +%s%3N)
expect_eq "$code" 200 "prompt answer: $(cat "$WORK/prompt")"
prompt=$(jq -r .prompt_id "$WORK/prompt")
job_a=$(grep -i '^x-vramguard-job:' "$WORK/ha" | cut -d: -f2 | tr -d ' \r')
[ -n "$prompt" ] && [ "$prompt" != null ] && [ -n "$job_a" ] || fail "prompt without id or job"
note "prompt answered in $((t1 - t0)) ms (prompt $prompt, job $job_a)"
sleep 0.2
expect_eq "$("$VG_BIN" job "$job_a" --json | jq -r .state)" running "a's job after its answer"

note "b's request does not fit beside a's prompt: it waits for the prompt's end"
code_b=$(curl -s -D "$WORK/hb" -o "$WORK/ab" -w '%{http_code}' -X POST \
  -H 'Content-Type: application/json' -d '{"resolution":768,"frames":24,"steps":10}' \
  "http://127.0.0.1:$PB/generate" || echo 000)
t2=$(date +%s%3N)
expect_eq "$code_b" 200 "b's answer: $(cat "$WORK/ab")"
queued_b=$(grep -i '^x-vramguard-queued-ms:' "$WORK/hb" | cut -d: -f2 | tr -d ' \r')
note "b waited ${queued_b} ms; a's prompt ran ~800 ms after it was answered in $((t1 - t0)) ms"
[ "${queued_b:-0}" -ge 300 ] || fail "b went after ${queued_b} ms: the door ended a's job at its answer"
history=$(curl -s "http://127.0.0.1:$PA/history/$prompt")
expect_eq "$(printf '%s' "$history" | jq -r ".\"$prompt\".status.status_str")" success "a's prompt in the history"
no_oom
vg job "$job_a" --json
expect_eq "$(jqo .state)" done "a's job"
expect_eq "$(jqo .origin)" door "a's job origin"
obs=$(jqo .observed_peak_bytes)
[ "$obs" != null ] && [ "$obs" -gt $((7 * 1073741824)) ] ||
  fail "a's observed peak $obs is not the 768p job's ~7.7 GiB: the job ended before the work"
[ $((t2 - t1)) -ge 300 ] || fail "b answered $((t2 - t1)) ms after a's prompt: it did not wait"
echo "PASS"
