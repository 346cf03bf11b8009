#!/usr/bin/env bash
# Routes that are jobs ([[service.proxy.route]], docs/proxy.md): two demo services on one
# simulated 24 GiB GPU, each behind its own proxy whose POST /generate is a job route (a generic
# one and an OpenAI-style one). A request that can never fit is refused at once, in its route's
# protocol, with suggestions, and never reaches the service; two requests that together do not
# fit (one per service) are serialised by the door with zero OOMs; the answers carry the job and
# its wait; the job's observation is recorded like a submitted job's; a client that leaves while
# its request is queued is dropped from the queue and its request never runs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
[ -n "${VG_DEMO:-}" ] || { echo "SKIP: vg-demo-service not built"; exit 0; }
make_gpus --total 24GiB
PA=$((PORT + 2))
PB=$((PORT + 3))
route() { proxy_route "$1" "POST /generate" "protocol = \"$2\""; }
{
  MODEL=4GiB VRAM=5GiB STEP=20ms demo_service a "$PORT" "$(route "$PA" generic)"
  MODEL=4GiB VRAM=5GiB STEP=20ms demo_service b "$((PORT + 1))" "$(route "$PB" openai)"
} | jobs_config
vg check-config "$WORK/vramguard.toml"
expect_rc 0
start_daemon
wait_state a running 20
wait_state b running 20
used0=$(gpu_used 0)

# post URL JSON [CURL ARGS…]: POST through a proxy; the answer in $WORK/answer, headers in
# $WORK/headers; prints the status.
post() {
  local url=$1 data=$2
  shift 2
  curl -s -D "$WORK/headers" -o "$WORK/answer" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -d "$data" "$@" "$url" || true
}
header() { grep -i "^$1:" "$WORK/headers" | head -1 | cut -d: -f2- | tr -d ' \r'; }

note "a request that can never fit: refused at once with suggestions, the service never sees it"
t0=$(date +%s%3N)
code=$(post "http://127.0.0.1:$PA/generate" '{"resolution":1024,"frames":64,"steps":10}')
t1=$(date +%s%3N)
expect_eq "$code" 422 "generic refusal status: $(cat "$WORK/answer")"
note "refused in $((t1 - t0)) ms"
[ $((t1 - t0)) -lt 2000 ] || fail "the refusal took $((t1 - t0)) ms"
expect_contains "$(jq -r .error "$WORK/answer")" "GiB" "refusal sentence"
[ "$(jq '.suggestions | length' "$WORK/answer")" -gt 0 ] || fail "no suggestions: $(cat "$WORK/answer")"
refused=$(jq -r .job "$WORK/answer")
vg job "$refused" --json
expect_eq "$(jqo .state)" refused "the refused request's job"
expect_eq "$(jqo .origin)" door "its origin"
vg events --json --service a --kind job-started
expect_eq "$(jqo '.events | length')" 0 "jobs started on a"
expect_eq "$(gpu_used 0)" "$used0" "GPU memory after the refusal"

note "the OpenAI-style route refuses in OpenAI's error format"
code=$(post "http://127.0.0.1:$PB/generate" '{"resolution":1024,"frames":64,"steps":10}')
expect_eq "$code" 400 "openai refusal status"
expect_eq "$(jq -r .error.type "$WORK/answer")" invalid_request_error "openai error type"
expect_eq "$(jq -r .error.code "$WORK/answer")" insufficient_vram "openai error code"
[ "$(jq '.vramguard.suggestions | length' "$WORK/answer")" -gt 0 ] || fail "no suggestions: $(cat "$WORK/answer")"
code=$(post "http://127.0.0.1:$PB/generate" 'not json')
expect_eq "$code" 400 "a body that is not JSON"
expect_eq "$(jq -r .error.type "$WORK/answer")" invalid_request_error "its error type"

note "two requests that together do not fit (7.8 GiB each, 13 GiB free): serialised, no OOM"
# Each alone fits; both at once would not (the simulated GPU would refuse the second allocation).
( code=$(post "http://127.0.0.1:$PA/generate" '{"resolution":768,"frames":24,"steps":40}')
  echo "$code $(header x-vramguard-job) $(header x-vramguard-queued-ms)" >"$WORK/ra" ) &
ra=$!
sleep 0.2
( curl -s -D "$WORK/hb" -o "$WORK/ab" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"resolution":768,"frames":24,"steps":40}' "http://127.0.0.1:$PB/generate" >"$WORK/rb" || true ) &
rb=$!
wait "$ra" "$rb"
read -r code_a job_a queued_a <"$WORK/ra"
code_b=$(cat "$WORK/rb")
expect_eq "$code_a" 200 "a's answer"
expect_eq "$code_b" 200 "b's answer: $(cat "$WORK/ab")"
job_b=$(grep -i '^x-vramguard-job:' "$WORK/hb" | cut -d: -f2 | tr -d ' \r')
queued_b=$(grep -i '^x-vramguard-queued-ms:' "$WORK/hb" | cut -d: -f2 | tr -d ' \r')
[ -n "$job_a" ] && [ -n "$job_b" ] || fail "answers without X-Vramguard-Job: a '$job_a', b '$job_b'"
note "a waited ${queued_a} ms, b waited ${queued_b} ms"
[ "$queued_b" -ge 300 ] || fail "b went after ${queued_b} ms: it did not wait for a's job"
no_oom
vg job "$job_a" --json
expect_eq "$(jqo .state)" done "a's job"
expect_eq "$(jqo .origin)" door "a's job origin"
obs=$(jqo .observed_peak_bytes)
[ "$obs" != null ] && [ "$obs" -gt $((7 * 1073741824)) ] && [ "$obs" -lt $((9 * 1073741824)) ] ||
  fail "a's observed peak $obs is not the 768p job's ~7.7 GiB"
expect_eq "$("$VG_BIN" job "$job_b" --json | jq -r .state)" done "b's job"

note "a client that leaves while queued is dropped; its request never runs"
( post "http://127.0.0.1:$PA/generate" '{"resolution":768,"frames":24,"steps":150}' >/dev/null ) &
long=$!
wait_job_started() {
  local i
  for ((i = 0; i < 250; i++)); do
    [ "$("$VG_BIN" events --json --service a --kind job-started | jq '.events | length')" -ge 2 ] && return 0
    sleep 0.02
  done
  fail "the long job on a did not start"
}
wait_job_started
code=$(post "http://127.0.0.1:$PB/generate" '{"resolution":768,"frames":24,"steps":10}' --max-time 1)
expect_eq "$code" 000 "the impatient client's request (it gave up)"
for _ in $(seq 100); do
  n=$("$VG_BIN" events --json --service b --kind job-cancelled | jq '.events | length')
  [ "$n" -ge 1 ] && break
  sleep 0.05
done
expect_eq "$n" 1 "job-cancelled events on b"
wait "$long"
sleep 0.3
vg events --json --service b --kind job-started
expect_eq "$(jqo '.events | length')" 1 "jobs started on b (the served one only)"
no_oom
echo "PASS"
