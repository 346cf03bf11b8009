#!/usr/bin/env bash
# The main job: `vramguard up` in the foreground, supervising the demo image-to-video service
# (examples/demo.toml). Without an NVIDIA driver it runs on a simulated 24 GiB GPU; with one,
# on the real GPU 0. Ctrl-C stops the service and verifies its VRAM came back.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
[ -x "$BUILD/vramguard" ] && [ -x "$BUILD/vg-demo-service" ] || { echo "up: build first (make up does)" >&2; exit 1; }
export PATH="$PWD/$BUILD:$PATH"

RUN=${VRAMGUARD_DEMO_DIR:-${XDG_RUNTIME_DIR:-/tmp}/vramguard-demo}
mkdir -p "$RUN"
export VRAMGUARD_SOCKET="$RUN/vramguard.sock"
export XDG_STATE_HOME="$RUN/state"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  where="your real GPU 0"
else
  export VRAMGUARD_FAKE_GPU_DIR="$RUN/gpu"
  export VRAMGUARD_NVML_LIBRARY="$PWD/$BUILD/sim/libnvidia-ml.so.1"
  [ -d "$VRAMGUARD_FAKE_GPU_DIR/gpu0" ] ||
    vg-simgpu create --gpus 1 --total 24GiB --name "NVIDIA GeForce RTX 4090 (simulated)" >/dev/null
  where="a simulated 24 GiB GPU ($VRAMGUARD_FAKE_GPU_DIR)"
fi

# The dashboard (docs/dashboard.md) on loopback, without a token: this machine's users only.
DASHBOARD_PORT=${VRAMGUARD_DASHBOARD_PORT:-7861}
if python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))" \
  "$DASHBOARD_PORT" 2>/dev/null; then
  http_line="http = \"127.0.0.1:$DASHBOARD_PORT\""
  dashboard="Dashboard: http://127.0.0.1:$DASHBOARD_PORT/"
else
  http_line=""
  dashboard="Dashboard: off (port $DASHBOARD_PORT is taken; set VRAMGUARD_DASHBOARD_PORT)"
fi

cat <<MSG
vramguard up: supervising the demo image-to-video service on $where.
$dashboard
From a second terminal (paste these first):
  export PATH="$PWD/$BUILD:\$PATH" VRAMGUARD_SOCKET="$VRAMGUARD_SOCKET"${VRAMGUARD_FAKE_GPU_DIR:+ VRAMGUARD_FAKE_GPU_DIR="$VRAMGUARD_FAKE_GPU_DIR" VRAMGUARD_NVML_LIBRARY="$VRAMGUARD_NVML_LIBRARY"}
then try:
  vramguard status                      # services, VRAM, uptime
  vramguard submit i2v resolution=768 frames=24 steps=20 --wait   # admitted by estimated VRAM
  vramguard submit i2v resolution=1024 frames=32   # can never fit: refused with parameters that would
  curl -XPOST -d '{"resolution":1024,"frames":64}' http://127.0.0.1:7860/generate   # past vramguard: an OOM
  vramguard events --kind oom           # recognised, explained in a sentence, answered by a restart
  vramguard ps                          # the service keeps its high-water mark, like PyTorch
  vramguard restart i2v                 # release hook → TERM → memory verified back → start
  kill -9 \$(vramguard status i2v --json | jq .pid)   # a crash: reaped, verified, restarted
  vramguard events                      # what happened and why
  vramguard logs i2v -f
Ctrl-C here stops the service and checks its VRAM came back.

MSG
# The demo's own state directory, so it never touches a real one (root's default is /var/lib).
sed "s|^\[daemon\]\$|[daemon]\nstate_dir = \"$RUN/state\"\n$http_line|" examples/demo.toml >"$RUN/demo.toml"
exec vramguard up --config "$RUN/demo.toml"
