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

# ---- The supervisor daemon -----------------------------------------------------------------
# Services are found on PATH next to vramguard (vg-demo-service, vg-simgpu).
export PATH="$(dirname "$VG_BIN"):$(dirname "$VG_SIMGPU"):${VG_DEMO:+$(dirname "$VG_DEMO"):}$PATH"
export VRAMGUARD_SOCKET="$WORK/vramguard.sock"
# A base port for the scenario's services (PORT to PORT+3 may be used): below the kernel's ephemeral
# range, so no outgoing connection of a test running beside this one can take it before the service
# binds, and with nothing listening on either port now. Scenarios run in parallel under CTest.
pick_port() {
  local lo hi base try listening
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
  [ "$lo" -gt 12000 ] || lo=32768  # an unusual range: stay in the usual free band
  # Local ports in LISTEN state (0A), as the 4-digit hex /proc/net/tcp writes them.
  listening=$(awk 'NR > 1 && $4 == "0A" { n = split($2, a, ":"); print a[n] }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u)
  for ((try = 0; try < 50; try++)); do
    base=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000 - 4)))
    grep -qxE "$(printf '%04X|%04X|%04X|%04X' "$base" $((base + 1)) $((base + 2)) $((base + 3)))" \
      <<<"$listening" || { echo "$base"; return 0; }
  done
  echo "$base"
}
PORT=$(pick_port)
DAEMON_PID=""

# write_config: stdin → $WORK/vramguard.toml with a [daemon] section pointing into $WORK.
# instance_tag SERVICE: a tag as this scenario's daemon gives them out (core/instance_tag.h:
# "<service>.<FNV-1a of the state dir, 8 hex>-<12 hex>").
instance_tag() {
  local s="$WORK/state" h=2166136261 i c
  for ((i = 0; i < ${#s}; i++)); do
    printf -v c '%d' "'${s:i:1}"
    h=$(((h ^ c) * 16777619 & 0xffffffff))
  done
  printf '%s.%08x-0123456789ab' "$1" "$h"
}

write_config() {
  {
    printf '[daemon]\nstate_dir = "%s"\nsocket = "%s"\nreserve = "1GiB"\npoll = "20ms"\n\n' \
      "$WORK/state" "$VRAMGUARD_SOCKET"
    cat
  } >"$WORK/vramguard.toml"
}

# start_daemon: `vramguard up` in the background; waits until its socket answers.
start_daemon() {
  "$VG_BIN" up --config "$WORK/vramguard.toml" >>"$WORK/daemon.log" 2>&1 &
  DAEMON_PID=$!
  local i
  for ((i = 0; i < 500; i++)); do
    "$VG_BIN" status --json >/dev/null 2>&1 && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "daemon exited: $(cat "$WORK/daemon.log")"
    sleep 0.02
  done
  fail "daemon did not answer: $(cat "$WORK/daemon.log")"
}

stop_daemon() {
  [ -n "$DAEMON_PID" ] || return 0
  kill -TERM "$DAEMON_PID" 2>/dev/null || true
  local i
  for ((i = 0; i < 1000; i++)); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.01; done
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=""
}

# wait_state SERVICE STATE [SECONDS]
wait_state() {
  local i st
  for ((i = 0; i < ${3:-10} * 50; i++)); do
    # A failed call is noted, not fatal (set -e would end the scenario without a word).
    st=$("$VG_BIN" status "$1" --json 2>"$WORK/wait.err" | jq -r .state) ||
      st="(status failed: $(cat "$WORK/wait.err"))"
    [ "$st" == "$2" ] && return 0
    sleep 0.02
  done
  fail "$1 did not reach state $2 (is $st): $(tail -20 "$WORK/daemon.log")"
}

# wait_event SERVICE KIND [SECONDS]: until the daemon recorded such an event.
wait_event() {
  local i n
  for ((i = 0; i < ${3:-10} * 50; i++)); do
    n=$("$VG_BIN" events --json --service "$1" --kind "$2" 2>"$WORK/wait.err" | jq '.events | length') ||
      { n=0; echo "wait_event: $(cat "$WORK/wait.err")" >&2; }
    [ "${n:-0}" -gt 0 ] && return 0
    sleep 0.02
  done
  fail "no '$2' event for $1: $(tail -20 "$WORK/daemon.log")"
}

event_message() {
  "$VG_BIN" events --json --service "$1" --kind "$2" | jq -r '.events[-1].message'
}

service_pid() { "$VG_BIN" status "$1" --json | jq -r .pid; }

# Processes started for this scenario (they inherit VRAMGUARD_FAKE_GPU_DIR=$WORK/…).
# This script's own subshells (same command line as $$) are not counted.
scenario_processes() {
  local p self
  self=$(tr '\0' ' ' </proc/$$/cmdline)
  exec 3>&2 2>/dev/null  # processes vanish while we look: not worth a line each
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" == "$self" ] && continue
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "VRAMGUARD_FAKE_GPU_DIR=$VRAMGUARD_FAKE_GPU_DIR" &&
      alive "$p" && echo "$p"
  done
  exec 2>&3 3>&-
  return 0
}

cleanup_daemon() {
  stop_daemon
  local p
  for p in $(scenario_processes); do kill -KILL "$p" 2>/dev/null || true; done
}
cleanup() {
  local status=$?
  cleanup_daemon
  for pid in "${STARTED_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  [ $status -ne 0 ] && [ -f "$WORK/daemon.log" ] && { echo "--- daemon log:"; tail -40 "$WORK/daemon.log"; } >&2
  rm -rf "$WORK"
  exit $status
}
