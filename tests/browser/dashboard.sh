#!/usr/bin/env bash
# The web dashboard in a real browser: Debian's chromium driven by playwright-core (web/'s
# devDependency; nothing downloads a browser) against `vramguard up` on the simulated GPU, with
# the TCP listener, a token and http_public_read = true. The checks are in dashboard.js;
# screenshots go to $VG_ARTIFACTS (CTest: build/browser-artifacts/).
# Skips (77) as browser_lib.bash says.
source "$(dirname "$0")/browser_lib.bash"

# Free ports for the dashboard and the second service (the first uses lib.sh's $PORT).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port)
PORT_B=$(free_port)
TOKEN="browser-test-$RANDOM$RANDOM"

make_gpus --total 24GiB
{
  printf '[daemon]\nstate_dir = "%s"\nsocket = "%s"\nreserve = "2GiB"\npoll = "20ms"\nkernel_log = ""\n' \
    "$WORK/state" "$VRAMGUARD_SOCKET"
  printf 'http = "127.0.0.1:%s"\ntoken = "%s"\nhttp_public_read = true\n\n' "$HTTP_PORT" "$TOKEN"
  demo_service svc-a "$PORT"
  cat <<EOF2
[[service]]
name = "svc-b"
command = ["vg-demo-service", "--port", "$PORT_B", "--model", "4GiB", "--load-time", "100ms"]
gpus = [0]
vram = "5GiB"
port = $PORT_B
ready = { log = "Running on local URL", timeout = "30s" }
stop = { grace = "5s" }
restart = { when = "no" }
EOF2
} >"$WORK/vramguard.toml"
start_daemon
wait_state svc-a running 30
wait_state svc-b running 30

note "the dashboard in chromium ($(${CHROMIUM} --version 2>/dev/null | head -1))"
VG_URL="http://127.0.0.1:$HTTP_PORT/" VG_TOKEN="$TOKEN" VG_ARTIFACTS="$ARTIFACTS" VG_PORT_A="$PORT" \
  VG_CHROMIUM="$CHROMIUM" NODE_PATH="$ROOT/web/node_modules" \
  node "$ROOT/tests/browser/dashboard.js" || fail "dashboard.js failed (screenshots in $ARTIFACTS)"
echo "PASS"
