#!/usr/bin/env bash
# [service.proxy] with the real daemon, the demo service and the simulated GPU: the proxy listens
# from the daemon's start; a request while the service is stopped starts it and is answered once
# it is ready (start on demand); the demo's API (GET /health, POST /generate, keep-alive) works
# through the proxy with the forwarding headers; with idle_unload the service is unloaded after
# the last request and the next request loads it again; the daemon's SIGTERM closes the port.
source "$(dirname "$0")/lib.sh"
[ -n "${VG_DEMO:-}" ] || { echo "SKIP: vg-demo-service not built"; exit 0; }
make_gpus --total 24GiB --overhead 500MiB
PROXY_PORT=$((PORT + 1))
write_config <<EOF2
[[service]]
name = "i2v"
command = ["vg-demo-service", "--port", "$PORT", "--model", "2GiB", "--load-time", "100ms"]
gpus = [0]
vram = "4GiB"
port = $PORT
autostart = false
idle_unload = "2s"
ready = { log = "Running on local URL", timeout = "20s" }

[service.proxy]
listen = "127.0.0.1:$PROXY_PORT"
EOF2
vg check-config "$WORK/vramguard.toml"
expect_rc 0
start_daemon
event_count() { "$VG_BIN" events --json --service "$1" --kind "$2" --limit 1000 | jq '.events | length'; }
URL="http://127.0.0.1:$PROXY_PORT"
grep -q "proxy: i2v on 127.0.0.1:$PROXY_PORT" "$WORK/daemon.log" || fail "start-up does not name the proxy: $(cat "$WORK/daemon.log")"

note "stopped service: a request through the proxy starts it and is answered when it is ready"
expect_eq "$("$VG_BIN" status i2v --json | jq -r .state)" stopped "state before the request"
code=$(curl -s --max-time 30 -o "$WORK/body" -w '%{http_code}' "$URL/health")
expect_eq "$code" 200 "status of the request that started it"
expect_eq "$(jq -r .status "$WORK/body")" ok "health answer after start on demand"
expect_eq "$(event_count i2v start-on-demand)" 1 "start-on-demand events"
wait_state i2v running 5

curl -sf -D "$WORK/headers" -o "$WORK/body" "$URL/health" || fail "GET /health through the proxy failed"
expect_eq "$(jq -r .status "$WORK/body")" ok "health through the proxy"
grep -qi '^via: 1.1 vramguard' "$WORK/headers" || fail "no Via header: $(cat "$WORK/headers")"
curl -sf -X POST -H 'Content-Type: application/json' -d '{"resolution":512,"frames":8,"steps":2}' \
  -o "$WORK/generate" "$URL/generate" || fail "POST /generate through the proxy failed"
direct=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -d '{"resolution":512,"frames":8,"steps":2}' "http://127.0.0.1:$PORT/generate")
expect_eq "$direct" 200 "the same POST directly"
jq -e . "$WORK/generate" >/dev/null || fail "generate answer is not JSON: $(cat "$WORK/generate")"
# Keep-alive: several requests on one client connection (curl reuses it within one call).
out=$(curl -sf -w '%{num_connects}\n' "$URL/health" "$URL/health" "$URL/health" -o /dev/null -o /dev/null -o /dev/null)
expect_eq "$(printf '%s\n' "$out" | awk '{s += $1} END {print s}')" 1 "client connections for three requests"
# An unknown path is the service's own 404, passed through.
code=$(curl -s -o "$WORK/body" -w '%{http_code}' "$URL/nope")
expect_eq "$code" 404 "the service's 404 through the proxy"
expect_contains "$(cat "$WORK/body")" "no such endpoint" "the service's own error"

note "idle_unload counts proxy traffic: unloaded after the last request, loaded by the next"
wait_event i2v idle-unload 15
wait_state i2v stopped 10
code=$(curl -s --max-time 30 -o /dev/null -w '%{http_code}' "$URL/health")
expect_eq "$code" 200 "request after the idle unload"
expect_eq "$(event_count i2v start-on-demand)" 2 "start-on-demand events after the unload"

note "daemon stop closes the proxy"
stop_daemon
if curl -s -o /dev/null --max-time 2 "$URL/health"; then fail "the proxy still answers after the daemon stopped"; fi
echo "PASS"
