#!/usr/bin/env bash
# A Gradio-like page in a real browser through the front door: Debian's chromium (playwright-core,
# no browser download) opens the demo service's /app page via the service's proxy, whose
# `POST /gradio_api/queue/join` is a job route with ends = "gradio-queue" and whose Gradio 3
# WebSocket `GET /queue/join` one with ends = "gradio-ws" (docs/proxy.md); the page is driven in
# both modes (/app and /app?queue=ws: chromium offers permessage-deflate, the door declines it). The
# checks are in gradio_page.js; screenshots go to $VG_ARTIFACTS. Skips (77) as browser_lib.bash says.
source "$(dirname "$0")/browser_lib.bash"
PROXY=$((PORT + 2))
make_gpus --total 24GiB
MODEL=4GiB VRAM=5GiB STEP=20ms demo_service i2v "$PORT" "$(proxy_route "$PROXY" \
  "POST /gradio_api/queue/join" 'protocol = "gradio"' 'ends = "gradio-queue"' \
  'params = { resolution = "/data/0", frames = "/data/1", steps = "/data/2" }'
  # Gradio 3's WebSocket queue, the page's ?queue=ws mode.
  printf '\n[[service.proxy.route]]\nmatch = "GET /queue/join"\nprotocol = "gradio"\n'
  printf 'ends = "gradio-ws"\nparams = { resolution = "/data/0", frames = "/data/1", steps = "/data/2" }\n')" |
  jobs_config
start_daemon
wait_state i2v running 30

note "the Gradio-like page through the proxy in chromium ($(${CHROMIUM} --version 2>/dev/null | head -1))"
for mode in sse ws; do
  note "Gradio's queue as $([ $mode = ws ] && echo "3.x speaks it (a WebSocket per click)" || echo "4.x/5.x speak it (join + event stream)")"
  query=$([ $mode = ws ] && echo "?queue=ws" || true)
  VG_URL="http://127.0.0.1:$PROXY/app$query" VG_MODE=$mode VG_ARTIFACTS="$ARTIFACTS" \
    VG_CHROMIUM="$CHROMIUM" NODE_PATH="$ROOT/web/node_modules" \
    node "$ROOT/tests/browser/gradio_page.js" ||
    fail "gradio_page.js ($mode) failed (screenshots in $ARTIFACTS)"
done

# What the clicks were to vramguard: one door job done (the refused one never became a job), and
# nothing ran out of memory.
jobs=$("$VG_BIN" jobs --json -n 10)
expect_eq "$(printf '%s' "$jobs" | jq '[.jobs[] | select(.origin == "door" and .state == "done")] | length')" 2 \
  "door jobs done: $jobs"
expect_eq "$("$VG_BIN" events --json --kind oom | jq '.events | length')" 0 "oom events"
echo "PASS"
