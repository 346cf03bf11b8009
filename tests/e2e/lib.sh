# Shared helpers for end-to-end scenarios: a fresh simulated GPU per scenario, simulated CUDA
# processes started and waited for, assertions, and a cleanup that leaves no process behind.
# Each scenario sources this file; CTest passes VG_BIN, VG_SIMGPU and VG_FAKE_NVML.
set -euo pipefail

: "${VG_BIN:?VG_BIN must name the vramguard binary}"
: "${VG_SIMGPU:?VG_SIMGPU must name the vg-simgpu binary}"
: "${VG_FAKE_NVML:?VG_FAKE_NVML must name the fake libnvidia-ml.so.1}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vg-e2e.XXXXXX")
export VRAMGUARD_FAKE_GPU_DIR="$WORK/gpu"
export VRAMGUARD_NVML_LIBRARY="$VG_FAKE_NVML"
STARTED_PIDS=()

cleanup() {
  local status=$?
  for pid in "${STARTED_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

note() { echo "--- $*"; }

# make_gpus [ARGS…]: a simulated GPU (24 GiB, 500 MiB context overhead unless told otherwise).
make_gpus() { "$VG_SIMGPU" create --dir "$VRAMGUARD_FAKE_GPU_DIR" "$@" >/dev/null; }

# sim NAME ARGS…: start a simulated CUDA process, wait until it holds its memory.
# Sets NAME_PID and NAME_WORKER (empty without --fork-worker).
sim() {
  local name=$1
  shift
  local ready="$WORK/$name.ready"
  "$VG_SIMGPU" run --dir "$VRAMGUARD_FAKE_GPU_DIR" --ready-file "$ready" "$@" >"$WORK/$name.out" 2>&1 &
  STARTED_PIDS+=($!)
  wait_for_file "$ready" 5 || fail "simulated process $name did not start: $(cat "$WORK/$name.out")"
  local pid worker
  read -r pid worker <"$ready" || true
  STARTED_PIDS+=("$pid")
  [ -n "${worker:-}" ] && STARTED_PIDS+=("$worker")
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_WORKER" '%s' "${worker:-}"
}

wait_for_file() {
  local file=$1 seconds=$2 i
  for ((i = 0; i < seconds * 100; i++)); do
    [ -s "$file" ] && return 0
    sleep 0.01
  done
  return 1
}

# wait_gone PID [SECONDS]: until the process no longer runs (gone or zombie).
wait_gone() {
  local pid=$1 seconds=${2:-5} i
  for ((i = 0; i < seconds * 100; i++)); do
    alive "$pid" || return 0
    sleep 0.01
  done
  return 1
}

alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# vg ARGS…: run vramguard, capturing stdout in OUT, stderr in ERR and the status in RC.
vg() {
  set +e
  OUT=$("$VG_BIN" "$@" 2>"$WORK/stderr")
  RC=$?
  set -e
  ERR=$(cat "$WORK/stderr")
}

expect_rc() { [ "$RC" -eq "$1" ] || fail "expected exit $1, got $RC; stdout: $OUT; stderr: $ERR"; }

expect_eq() { [ "$1" == "$2" ] || fail "${3:-value}: expected '$2', got '$1'"; }

expect_contains() {
  case "$1" in *"$2"*) ;; *) fail "${3:-output} does not contain '$2': $1" ;; esac
}

expect_one_line_error() {
  [ -n "$ERR" ] || fail "expected an error on stderr"
  [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ] || fail "error is not one line: $ERR"
  expect_contains "$ERR" "vramguard: " "stderr"
}

jqo() { printf '%s' "$OUT" | jq -r "$@"; }

# GPU used bytes as the driver reports them.
gpu_used() {
  "$VG_BIN" gpus --json | jq -r ".gpus[${1:-0}].used_bytes"
}
