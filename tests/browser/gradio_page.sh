#!/usr/bin/env bash
# A Gradio-like page in a real browser through the front door: Debian's chromium (playwright-core,
# no browser download) opens the demo service's /app page via the service's proxy, whose
# `POST /gradio_api/queue/join` is a job route with ends = "gradio-queue" (docs/proxy.md). The
# checks are in gradio_page.js; screenshots go to $VG_ARTIFACTS. Skips (77) as browser_lib.bash says.
source "$(dirname "$0")/browser_lib.bash"
PROXY=$((PORT + 2))
make_gpus --total 24GiB
MODEL=4GiB VRAM=5GiB STEP=20ms demo_service i2v "$PORT" "$(proxy_route "$PROXY" \
  "POST /gradio_api/queue/join" 'protocol = "gradio"' 'ends = "gradio-queue"' \
  'params = { resolution = "/data/0", frames = "/data/1", steps = "/data/2" }')" | jobs_config
start_daemon
wait_state i2v running 30

note "the Gradio-like page through the proxy in chromium ($(${CHROMIUM} --version 2>/dev/null | head -1))"
VG_URL="http://127.0.0.1:$PROXY/app" VG_ARTIFACTS="$ARTIFACTS" VG_CHROMIUM="$CHROMIUM" \
  NODE_PATH="$ROOT/web/node_modules" node "$ROOT/tests/browser/gradio_page.js" ||
  fail "gradio_page.js failed (screenshots in $ARTIFACTS)"

# What the clicks were to vramguard: one door job done (the refused one never became a job), and
# nothing ran out of memory.
jobs=$("$VG_BIN" jobs --json -n 10)
expect_eq "$(printf '%s' "$jobs" | jq '[.jobs[] | select(.origin == "door" and .state == "done")] | length')" 1 \
  "door jobs done: $jobs"
expect_eq "$("$VG_BIN" events --json --kind oom | jq '.events | length')" 0 "oom events"
echo "PASS"
