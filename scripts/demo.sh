#!/usr/bin/env bash
# The main job until the supervisor lands: the ghost scene, end to end, on the simulated GPU.
#   A "service" allocates 10 GiB, forks a worker (like a DataLoader), and crashes.
#   NVML keeps listing the dead PID; `vramguard ps` names the worker that holds the memory;
#   `vramguard reap --ghosts --yes` kills exactly that worker and proves the memory came back.
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
