#!/usr/bin/env bash
# A scripted tour on the simulated GPU that ends by itself (CI runs it; `make up` is the
# interactive daemon):
#  1. The ghost: a "service" allocates 10 GiB, forks a worker (like a DataLoader), and crashes.
#     NVML keeps listing the dead PID; `vramguard ps` names the worker that holds the memory;
#     `vramguard reap --ghosts --yes` kills exactly that worker and proves the memory came back.
#  2. The supervisor: `vramguard up` with examples/demo.toml runs the demo WebUI; a job that fits
#     runs, an impossible one is refused with advice, an OOM past vramguard is recognised,
#     explained and answered by a verified restart; the cached memory, a restart, a crash and a
#     stop all end with the memory verified back.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
VG="$BUILD/vramguard"
SIMGPU="$BUILD/vg-simgpu"
[ -x "$VG" ] && [ -x "$SIMGPU" ] || { echo "demo: build first (make demo does)" >&2; exit 1; }

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "== A real NVIDIA driver is here. Your GPUs, as vramguard sees them:"
  "$VG" gpus
  "$VG" ps
  echo
  echo "== The scene below runs on a simulated GPU, so nothing of yours is touched."
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vramguard-demo.XXXXXX")
cleanup() {
  [ -n "${worker:-}" ] && kill -KILL "$worker" 2>/dev/null || true
  [ -n "${service:-}" ] && kill -KILL "$service" 2>/dev/null || true
  if [ -n "${daemon:-}" ]; then
    kill -TERM "$daemon" 2>/dev/null || true
    for _ in $(seq 500); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.01; done
    kill -KILL "$daemon" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
export VRAMGUARD_FAKE_GPU_DIR="$WORK/gpu"
export VRAMGUARD_NVML_LIBRARY="$PWD/$BUILD/sim/libnvidia-ml.so.1"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

echo "== A simulated 24 GiB GPU in $VRAMGUARD_FAKE_GPU_DIR"
"$SIMGPU" create --gpus 1 --total 24GiB --name "NVIDIA GeForce RTX 4090 (simulated)" >/dev/null
step "vg-simgpu run --alloc 10GiB --fork-worker --crash-after 1s   # the service"
"$SIMGPU" run --alloc 10GiB --fork-worker --new-session --crash-after 1s --ready-file "$WORK/ready" &
disown  # its crash is the point of the scene; no job-control obituary
for _ in $(seq 500); do [ -s "$WORK/ready" ] && break; sleep 0.01; done
read -r service worker <"$WORK/ready"
step "vramguard gpus"
"$VG" gpus
echo "(waiting for the service to crash…)"
while [ "$(awk '{print $3}' "/proc/$service/stat" 2>/dev/null || echo gone)" != gone ] &&
      [ "$(awk '{print $3}' "/proc/$service/stat" 2>/dev/null)" != Z ]; do sleep 0.05; done
echo "The service crashed. nvidia-smi would now show '$service  [Not Found]  10.5 GiB' and no process to kill."
step "vramguard ps"
"$VG" ps
step "vramguard reap --ghosts --yes"
"$VG" reap --ghosts --yes
step "vramguard gpus"
"$VG" gpus
echo
echo "The memory is back, and only the process that held it was touched."

echo
echo "== The supervisor: vramguard up with examples/demo.toml"
export PATH="$PWD/$BUILD:$PATH" VRAMGUARD_SOCKET="$WORK/vramguard.sock" XDG_STATE_HOME="$WORK/state"
# The demo's own state directory, so it never touches a real one (root's default is /var/lib).
sed "s|^\[daemon\]\$|[daemon]\nstate_dir = \"$WORK/state\"|" examples/demo.toml >"$WORK/demo.toml"
step "vramguard up --config examples/demo.toml &"
"$VG" up --config "$WORK/demo.toml" >"$WORK/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 1000); do
  [ "$("$VG" status i2v --json 2>/dev/null | jq -r .state)" == running ] && break
  kill -0 "$daemon" 2>/dev/null || { cat "$WORK/daemon.log"; exit 1; }
  sleep 0.02
done
sed 's/^/  | /' "$WORK/daemon.log"
step "vramguard status"
"$VG" status
wait_running() {
  for _ in $(seq 1500); do
    [ "$("$VG" status i2v --json | jq -r .state)" == running ] && return 0
    sleep 0.02
  done
  echo "demo: i2v is not running again: $(tail -5 "$WORK/daemon.log")" >&2
  exit 1
}
step "vramguard submit i2v resolution=768 frames=24 steps=20 --wait   # admitted: it fits"
"$VG" submit i2v resolution=768 frames=24 steps=20 --wait
step "vramguard ps   # the service keeps its high-water mark, like PyTorch's caching allocator"
"$VG" ps
step "vramguard submit i2v resolution=1024 frames=32   # can never fit: refused at once, with advice"
"$VG" submit i2v resolution=1024 frames=32 || echo "(exit $? — refused, nothing ran)"
step "vramguard jobs"
"$VG" jobs
step "curl …/generate '{\"resolution\":1024,\"frames\":64}'   # straight to the service, past vramguard: an OOM"
curl -s -X POST -H 'Content-Type: application/json' -d '{"resolution":1024,"frames":64,"steps":5}' \
  http://127.0.0.1:7860/generate | jq -c '{error, tried_to_allocate_bytes, free_bytes}' || true
for _ in $(seq 500); do
  [ "$("$VG" events --kind oom --json | jq '.events | length')" -gt 0 ] && break
  sleep 0.02
done
step "vramguard events --kind oom   # recognised in the output, explained, and acted on (on_oom = restart)"
"$VG" events --kind oom
wait_running
step "vramguard explain <state_dir>/logs/i2v.log   # the same classifier over any log file"
"$VG" explain "$WORK/state/logs/i2v.log" | head -12
step "vramguard restart i2v   # release hook frees the cache, TERM, memory verified, start"
"$VG" restart i2v
step "kill -9 <i2v>   # a crash"
kill -KILL "$("$VG" status i2v --json | jq .pid)"
sleep 0.2
for _ in $(seq 1000); do
  [ "$("$VG" status i2v --json | jq -r .state)" == running ] && break
  sleep 0.02
done
step "vramguard events -n 6"
"$VG" events -n 6
step "vramguard stop i2v"
"$VG" stop i2v
step "vramguard gpus"
"$VG" gpus
kill -TERM "$daemon"
wait "$daemon" 2>/dev/null || true
daemon=""
echo
echo "Every stop ended with the driver confirming the memory was back."
