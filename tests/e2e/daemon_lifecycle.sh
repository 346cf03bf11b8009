#!/usr/bin/env bash
# The supervisor's happy path with the demo service on a simulated 24 GiB GPU: up → ready →
# status → stop (release hook, TERM, memory verified back, timings printed) → start → restart
# (a new process, never exec) → daemon SIGTERM stops everything and leaves no VRAM behind.
source "$(dirname "$0")/lib.sh"
[ -n "${VG_DEMO:-}" ] || { echo "SKIP: vg-demo-service not built"; exit 0; }
make_gpus --total 24GiB --overhead 500MiB
write_config <<EOF2
[[service]]
name = "i2v"
command = ["vg-demo-service", "--port", "$PORT", "--model", "8GiB", "--load-time", "200ms"]
gpus = [0]
vram = "10GiB"
port = $PORT
ready = { log = "Running on local URL", timeout = "20s" }
stop = { grace = "5s", release = { http = "POST http://127.0.0.1:$PORT/free" } }
EOF2
start_daemon
wait_state i2v running 20
pid1=$(service_pid i2v)

vg status --json
expect_rc 0
expect_eq "$(jqo '.services[0].name')" i2v "service name"
expect_eq "$(jqo '.services[0].vram_bytes["0"]')" $((8 * 1024 ** 3 + 500 * 1024 ** 2)) "service VRAM"
tr '\0' '\n' <"/proc/$pid1/environ" | grep -q '^VRAMGUARD_INSTANCE=i2v\.' || fail "no instance tag"
tr '\0' '\n' <"/proc/$pid1/environ" | grep -q '^CUDA_VISIBLE_DEVICES=GPU-' || fail "no CUDA_VISIBLE_DEVICES"
[ "$(awk '{print $6}' "/proc/$pid1/stat")" == "$pid1" ] || fail "service is not a session leader"

# `ps` names the service each process belongs to when the daemon answers.
vg ps --json
expect_rc 0
expect_eq "$(jq -r --argjson p "$pid1" '.gpus[0].processes[] | select(.pid == $p) | .service' <<<"$OUT")" i2v "ps service"
vg ps
expect_contains "$OUT" "SERVICE"

# A job leaves cached memory behind (like PyTorch); the release hook gives it back before TERM.
curl -sf -X POST -H 'Content-Type: application/json' -d '{"resolution":768,"frames":24,"steps":5}' \
  "http://127.0.0.1:$PORT/generate" >/dev/null || fail "generate failed"

vg stop i2v
expect_rc 0
expect_contains "$OUT" "release hook POST"
expect_contains "$OUT" "stopped i2v: TERM → exited in"
expect_contains "$OUT" "back in"
wait_gone "$pid1" 1 || fail "service still alive after stop"
expect_eq "$(gpu_used 0)" 0 "GPU used after stop"
expect_eq "$("$VG_BIN" status i2v --json | jq -r .state)" stopped "state after stop"

vg start i2v --json
expect_rc 0
expect_eq "$(jqo '.ok')" true "start ok"
expect_eq "$(jqo '.events[-1].kind')" ready "last event"
pid2=$(service_pid i2v)

vg restart i2v
expect_rc 0
expect_contains "$OUT" "stopped i2v"
expect_contains "$OUT" "is ready"
pid3=$(service_pid i2v)
[ "$pid3" != "$pid2" ] || fail "restart kept the same process"
wait_gone "$pid2" 1 || fail "old instance alive after restart"

vg logs i2v -n 50
expect_contains "$OUT" "Running on local URL"

stop_daemon
wait_gone "$pid3" 2 || fail "daemon exit left the service running"
expect_eq "$(gpu_used 0)" 0 "GPU used after daemon exit"
expect_contains "$(cat "$WORK/daemon.log")" "stopped i2v"
echo "PASS"
