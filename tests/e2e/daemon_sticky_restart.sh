#!/usr/bin/env bash
# A service that keeps answering /health (its liveness probe passes) while its output says a
# sticky CUDA error happened: the `sticky` event restarts it (a new pid), and the liveness probe
# alone never would have.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
# The service: the demo WebUI, and after its ready line the error text a CUDA fault prints.
cat >"$WORK/sticky.sh" <<'EOS'
vg-demo-service --port "$1" --model 2GiB --load-time 50ms &
sleep 0.6
echo 'RuntimeError: CUDA error: an illegal memory access was encountered' >&2
echo 'CUDA kernel errors might be asynchronously reported at some other API call.' >&2
wait
EOS
write_config <<EOF2
[[service]]
name = "llm-sticky"
command = ["bash", "$WORK/sticky.sh", "$PORT"]
gpus = [0]
vram = "3GiB"
port = $PORT
ready = { http = "/health", timeout = "10s" }
liveness = { http = "/health", interval = "100ms", failures = 2 }
restart = { backoff = "100ms..1s", limit = "3 in 1m" }
EOF2
start_daemon
wait_event llm-sticky sticky 10
pid1=$(vg events --json --service llm-sticky --kind spawned; jqo '.events[0].data.pid')
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 || true  # still healthy or already gone
vg events --json --service llm-sticky --kind sticky
expect_eq "$(jqo '.events[0].data.incident.kind')" sticky "incident kind"
expect_contains "$(jqo '.events[0].data.incident.line')" "illegal memory access"
expect_contains "$(jqo '.events[0].data.action')" "restart"
# The human view says what the policy did, under the incident's line.
vg events --service llm-sticky --kind sticky
expect_contains "$OUT" "    action: restart"
expect_eq "$(event_count llm-sticky unhealthy)" 0 "unhealthy events (the probe kept passing)"
# Restarted: a second spawn with a new pid.
for ((i = 0; i < 250; i++)); do [ "$(event_count llm-sticky spawned)" -ge 2 ] && break; sleep 0.02; done
vg events --json --service llm-sticky --kind spawned
pid2=$(jqo '.events[1].data.pid')
[ "$pid2" != null ] && [ "$pid2" != "$pid1" ] || fail "not restarted (pids $pid1, $pid2)"
alive "$pid1" && fail "old instance $pid1 still runs"
echo "PASS"
