#!/usr/bin/env bash
# GPU scenarios: the end-to-end scenarios on real hardware with real CUDA processes
# (vg-cudahold), plus `gpus` against nvidia-smi. Skips (exit 77) with the reason where there is no
# NVIDIA GPU or no CUDA driver. Figures go to $OUT/gpu-results.md when OUT is set (device runs),
# else tests/gpu/results/latest.md.
# Each scenario runs on its own (a subshell with `set -e`): a failing one is reported and the rest
# still run, so one session on a borrowed GPU shows every failure; the exit status is 1 if any
# failed. ONLY="ghost oom" runs just those scenarios.
# VG_GPU_REHEARSAL=1 runs the same script on the simulated GPU (vg-simgpu for vg-cudahold, the
# demo's sim backend, tests/gpu/rehearsal/nvidia-smi for nvidia-smi; no PyTorch): CI proves the
# script itself works, so a session on a borrowed GPU spends its minutes on the hardware.
set -euo pipefail
cd "$(dirname "$0")/../.."
VG=${VG_BIN:-build/vramguard}
HOLD=${VG_CUDAHOLD:-build/vg-cudahold}
GPU=${VG_GPU:-0}
DEMO=${VG_DEMO:-build/vg-demo-service}
HOLD_CMD=("$HOLD")
BACKEND=cuda
ON="real CUDA"
unset VRAMGUARD_FAKE_GPU_DIR VRAMGUARD_NVML_LIBRARY
if [ "${VG_GPU_REHEARSAL:-0}" = 1 ]; then
  SIMGPU=${VG_SIMGPU:-build/vg-simgpu}
  [ -x "$SIMGPU" ] && [ -n "${VG_FAKE_NVML:-}" ] || { echo "FAIL: rehearsal needs VG_SIMGPU and VG_FAKE_NVML"; exit 1; }
  REHEARSAL_DIR=$(mktemp -d)
  VG=$(realpath "$VG")
  export VRAMGUARD_FAKE_GPU_DIR="$REHEARSAL_DIR/gpu" VRAMGUARD_NVML_LIBRARY=$VG_FAKE_NVML VG_BIN=$VG
  export PATH="$PWD/tests/gpu/rehearsal:$PATH"
  # Sized and reserved like an H200: admission must plan with total − reserved, not total.
  "$SIMGPU" create --gpus 1 --total 143771MiB --reserved 615MiB >/dev/null
  HOLD=$SIMGPU HOLD_CMD=("$SIMGPU" run) BACKEND=sim ON="the simulated GPU (rehearsal)" VG_PYTHON=${VG_PYTHON:-false}
  RELEASE_SIZES=${RELEASE_SIZES:-1GiB 16GiB} RELEASE_RUNS=${RELEASE_RUNS:-2}
fi

PY=${VG_PYTHON:-python3}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "SKIP: no NVIDIA GPU here (nvidia-smi missing or lists no GPU)"
  exit 77
fi
[ -x "$VG" ] && [ -x "$HOLD" ] || { echo "FAIL: build first ($VG, $HOLD)"; exit 1; }

command -v jq >/dev/null || { echo "FAIL: jq missing (scripts/setup.sh --test installs it)"; exit 1; }

WORK=$(mktemp -d)
# Every process a scenario starts is written to $WORK/pids, so that the cleanup reaches those of
# scenarios that failed half-way (each runs in a subshell whose variables do not come back).
track() { echo "$@" >>"$WORK/pids"; }
cleanup() {
  if [ -f "$WORK/pids" ]; then
    for p in $(cat "$WORK/pids"); do kill -KILL "$p" 2>/dev/null || true; done
  fi
  rm -rf "$WORK" "${REHEARSAL_DIR:-}"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" | tee -a "$results" >&2; exit 1; }
http_post() { # http_post URL [JSON]: curl where there is one, else python3 (bare GPU images)
  if command -v curl >/dev/null; then
    curl -sf -X POST -H 'Content-Type: application/json' -d "${2:-}" "$1" >/dev/null
  else
    python3 -c 'import sys, urllib.request as u
u.urlopen(u.Request(sys.argv[1], data=sys.argv[2].encode(), headers={"Content-Type": "application/json"}), timeout=120).read()' "$1" "${2:-}"
  fi
}
results=${OUT:+$OUT/gpu-results.md}
[ "${VG_GPU_REHEARSAL:-0}" = 1 ] && results=$REHEARSAL_DIR/results.md  # never over real figures
results=${results:-tests/gpu/results/latest.md}
mkdir -p "$(dirname "$results")"
log() { echo "$*" | tee -a "$results"; }
: >"$results"

hold() {  # hold NAME ARGS…: start a real CUDA process; sets NAME_PID, NAME_WORKER
  local name=$1; shift
  "${HOLD_CMD[@]}" --gpu "$GPU" --ready-file "$WORK/$name.ready" "$@" >"$WORK/$name.out" 2>&1 &
  track $!
  for _ in $(seq 3000); do [ -s "$WORK/$name.ready" ] && break; sleep 0.01; done
  if [ ! -s "$WORK/$name.ready" ]; then
    if grep -q "no CUDA driver" "$WORK/$name.out"; then
      echo "SKIP: NVML works but libcuda.so.1 does not load: $(cat "$WORK/$name.out")"
      exit 77
    fi
    fail "vg-cudahold $name did not start: $(cat "$WORK/$name.out")"
  fi
  local p w; read -r p w <"$WORK/$name.ready"
  track "$p" ${w:+"$w"}
  printf -v "${name}_PID" '%s' "$p"; printf -v "${name}_WORKER" '%s' "${w:-}"
}
free_port() { # a port nothing listens on now (the kernel's pick), for a service of a scenario
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
within() { # within A B PERMILLE: |A − B| ≤ B·PERMILLE/1000
  local d=$(($1 - $2)); d=${d#-}; [ "$d" -le $(($2 * $3 / 1000)) ]
}
alive() { local s; s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1; [ "$s" != Z ]; }

log "# GPU scenarios — $(date -u +%Y-%m-%dT%H:%MZ)"
log ""
log "card: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader -i "$GPU")"
log ""

# 1. gpus agrees with nvidia-smi.
s_gpus() {
  "$VG" gpus --json >"$WORK/gpus.json"
  total=$(jq ".gpus[$GPU].total_bytes" "$WORK/gpus.json")
  smi_total=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits -i "$GPU")
  [ $((total / 1048576)) -ge $((smi_total - 1)) ] && [ $((total / 1048576)) -le $((smi_total + 1)) ] ||
    fail "total $total B vs nvidia-smi $smi_total MiB"
  log "- gpus: total $(( total / 1048576 )) MiB = nvidia-smi $smi_total MiB; reserved $(jq ".gpus[$GPU].reserved_bytes" "$WORK/gpus.json") B"
}

# 2. A plain holder reaped by --pid.
s_reap_pid() {
  hold plain --alloc 2GiB
  "$VG" ps --json >"$WORK/ps.json"
  state=$(jq -r ".gpus[$GPU].processes[] | select(.pid == $plain_PID) | .state" "$WORK/ps.json")
  [ "$state" = running ] || fail "plain holder state '$state'"
  "$VG" reap --pid "$plain_PID" --yes --json >"$WORK/r.json" || fail "reap --pid: $(cat "$WORK/r.json")"
  [ "$(jq .result.verified "$WORK/r.json")" = true ] || fail "plain: not verified"
  log "- reap --pid (2 GiB): freed $(jq .result.freed_bytes "$WORK/r.json") B; exit $(jq .result.exit_s "$WORK/r.json") s; back after exit $(jq '.result.gpus[0].back_s' "$WORK/r.json") s"
}

# A ghost after its parent PARENT died: `ps` must still list the dead pid, name WORKER as its
# holder, and `reap --ghosts` must get the memory back, verified. Logs one line about WHAT.
expect_ghost_reaped() { # WHAT PARENT WORKER
  local what=$1 parent=$2 worker=$3 gstate holders
  for _ in $(seq 500); do alive "$parent" || break; sleep 0.01; done
  sleep 0.5
  "$VG" ps --json >"$WORK/ps.json"
  gstate=$(jq -r ".gpus[$GPU].processes[] | select(.pid == $parent) | .state" "$WORK/ps.json")
  holders=$(jq -r ".gpus[$GPU].processes[] | select(.pid == $parent) | .holders | join(\",\")" "$WORK/ps.json")
  [ "$gstate" = exited ] || fail "$what: state '$gstate' (NVML did not keep listing the dead pid?)"
  [ "$holders" = "$worker" ] || fail "$what: holders '$holders', expected $worker"
  "$VG" reap --ghosts --yes --json >"$WORK/r.json" || fail "reap --ghosts: $(cat "$WORK/r.json")"
  [ "$(jq .result.verified "$WORK/r.json")" = true ] || fail "$what: not verified"
  log "- $what: held by $holders; reap --ghosts freed $(jq .result.freed_bytes "$WORK/r.json") B; back after exit $(jq '.result.gpus[0].back_s' "$WORK/r.json") s"
}

# 3. The ghost: fork after CUDA init, parent crashes, worker keeps the memory.
s_ghost() {
  hold ghost --alloc 4GiB --fork-worker --new-session --crash-after 1s
  expect_ghost_reaped "ghost (4 GiB, forked worker, parent crashed)" "$ghost_PID" "$ghost_WORKER"
}

# 3b. The ghost as PyTorch users meet it: a process with a PyTorch CUDA tensor forks a worker
#     (as DataLoader workers and multiprocessing do) and is SIGKILLed; the worker keeps the
#     memory. `ps` must name the worker as the holder and `reap --ghosts` must get it back.
s_torch_ghost() {
  if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    log "- PyTorch ghost skipped: no python3 with torch and CUDA here"
    return 0
  fi
  cat >"$WORK/ghost.py" <<'EOF2'
import os, sys, time, torch
x = torch.empty(2 << 30, dtype=torch.uint8, device="cuda")  # 2 GiB through PyTorch's allocator
torch.cuda.synchronize()
worker = os.fork()
if worker == 0:  # makes no CUDA call; holds what it inherited
    time.sleep(600)
    os._exit(0)
open(sys.argv[1], "w").write(f"{os.getpid()} {worker}\n")
time.sleep(600)
EOF2
  "$PY" "$WORK/ghost.py" "$WORK/tghost.ready" >"$WORK/tghost.out" 2>&1 &
  track $!
  for _ in $(seq 6000); do [ -s "$WORK/tghost.ready" ] && break; sleep 0.01; done
  [ -s "$WORK/tghost.ready" ] || fail "PyTorch ghost script did not start: $(tail -3 "$WORK/tghost.out")"
  local parent worker
  read -r parent worker <"$WORK/tghost.ready"
  track "$worker"
  kill -KILL "$parent"
  expect_ghost_reaped "PyTorch ghost (2 GiB tensor, forked worker, parent SIGKILLed)" "$parent" "$worker"
}

# 4. SIGTERM ignored → SIGKILL after grace.
s_term_ignored() {
  hold stubborn --alloc 1GiB --ignore-term
  "$VG" reap --pid "$stubborn_PID" --grace 500ms --yes --json >"$WORK/r.json" || fail "reap stubborn"
  [ "$(jq -r '.result.killed[0]' "$WORK/r.json")" = "$stubborn_PID" ] || fail "stubborn not killed"
  log "- TERM ignored: SIGKILL after 0.5 s grace; exit $(jq .result.exit_s "$WORK/r.json") s; back after exit $(jq '.result.gpus[0].back_s' "$WORK/r.json") s"
}

# 5. Dry run changes nothing.
s_dry_run() {
  hold dry --alloc 1GiB
  "$VG" reap --pid "$dry_PID" --dry-run --json >/dev/null
  alive "$dry_PID" || fail "dry run killed"
  kill -KILL "$dry_PID"
}

# 6. The supervisor on real CUDA: the demo service starts when its VRAM is free, a job leaves
#    cached memory, stop (release hook, TERM) verifies it all came back, a crash with a forked
#    worker is reaped before the restart.
s_daemon() {
  if [ -x "$DEMO" ]; then
    port=$(free_port)
    export VRAMGUARD_SOCKET="$WORK/vg.sock" PATH="$(dirname "$DEMO"):$PATH"
    cat >"$WORK/gpu.toml" <<EOF2
[daemon]
state_dir = "$WORK/state"
socket = "$WORK/vg.sock"

[[service]]
name = "i2v"
command = ["vg-demo-service", "--backend", "$BACKEND", "--port", "$port", "--model", "2GiB", "--load-time", "0s"]
gpus = [$GPU]
vram = "3GiB"
port = $port
ready = { log = "Running on local URL", timeout = "60s" }
stop = { grace = "5s", release = { http = "POST http://127.0.0.1:$port/free" } }
restart = { when = "on-failure", backoff = "200ms..1s", limit = "3 in 1m" }
EOF2
    "$VG" up --config "$WORK/gpu.toml" >"$WORK/daemon.log" 2>&1 &
    track $!
    daemon=$!
    for _ in $(seq 3000); do
      [ "$("$VG" status i2v --json 2>/dev/null | jq -r .state)" == running ] && break
      sleep 0.02
    done
    [ "$("$VG" status i2v --json | jq -r .state)" == running ] || fail "daemon: i2v not running: $(tail "$WORK/daemon.log")"
    http_post "http://127.0.0.1:$port/generate" '{"resolution":512,"frames":16,"steps":2}' || log "- daemon: the demo job failed (GPU too small?)"
    "$VG" stop i2v --json >"$WORK/stop.json" || fail "daemon stop: $(cat "$WORK/stop.json")"
    [ "$(jq -r '.events[-1].kind' "$WORK/stop.json")" == stopped ] || fail "daemon stop did not verify"
    log "- daemon stop ($ON): $(jq -r '.events[-1].message' "$WORK/stop.json")"
    "$VG" start i2v >/dev/null || fail "daemon start"
    "$VG" restart i2v --json >"$WORK/restart.json" || fail "daemon restart"
    log "- daemon restart ($ON): $(jq -r '[.events[] | select(.kind == "stopped" or .kind == "ready") | .message] | join(" / ")' "$WORK/restart.json")"
    kill -TERM "$daemon"
    for _ in $(seq 1000); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.01; done
    log "- daemon exit: $(grep -c 'stopped i2v' "$WORK/daemon.log") verified stop(s) in its log"
  else
    log "- daemon scenarios skipped: $DEMO not built"
  fi
}

# 8. A real PyTorch OOM: `explain` must parse what PyTorch printed, and the numbers must agree
#    with NVML (capacity = total − reserved; this process's use; what was asked).
s_oom() {
  if "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    cat >"$WORK/oom.py" <<'EOF2'
import sys, time, traceback, torch
gpu, ready = int(sys.argv[1]), sys.argv[2]
torch.cuda.set_device(gpu)
keep = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")  # 1 GiB that stays
free, total = torch.cuda.mem_get_info()
print(f"asked={total} free_before={free}", flush=True)
try:
    torch.empty(total, dtype=torch.uint8, device="cuda")  # the whole card: cannot fit
except torch.OutOfMemoryError:
    traceback.print_exc()
sys.stderr.flush()
open(ready, "w").write("ok")
time.sleep(600)
EOF2
    "$PY" "$WORK/oom.py" "$GPU" "$WORK/oom.ready" >"$WORK/oom.log" 2>&1 &
    oom_pid=$!
    track "$oom_pid"
    for _ in $(seq 6000); do [ -s "$WORK/oom.ready" ] && break; sleep 0.01; done
    [ -s "$WORK/oom.ready" ] || fail "torch OOM script did not finish: $(tail -3 "$WORK/oom.log")"
    "$VG" explain "$WORK/oom.log" --json >"$WORK/explain.json" || fail "explain failed"
    "$VG" gpus --json >"$WORK/gpus.json"
    "$VG" ps --json >"$WORK/ps.json"
    kill -KILL "$oom_pid"
    inc='[.incidents[] | select(.kind == "oom")][0]'
    [ "$(jq -r "$inc.kind" "$WORK/explain.json")" = oom ] || fail "explain found no oom: $(cat "$WORK/oom.log")"
    asked=$(sed -n 's/^asked=\([0-9]*\) .*/\1/p' "$WORK/oom.log")
    req=$(jq "$inc.requested_bytes" "$WORK/explain.json")
    cap=$(jq "$inc.capacity_bytes" "$WORK/explain.json")
    own=$(jq "$inc.process_bytes" "$WORK/explain.json")
    nv_total=$(jq ".gpus[$GPU].total_bytes" "$WORK/gpus.json")
    nv_res=$(jq ".gpus[$GPU].reserved_bytes // 0" "$WORK/gpus.json")
    nv_own=$(jq ".gpus[$GPU].processes[] | select(.pid == $oom_pid) | .used_bytes" "$WORK/ps.json")
    within "$req" "$asked" 5 || fail "requested $req B vs asked $asked B"
    within "$cap" $((nv_total - nv_res)) 10 || fail "capacity $cap B vs NVML total−reserved $((nv_total - nv_res)) B"
    within "$own" "$nv_own" 50 || fail "this process $own B vs NVML $nv_own B"
    log "- real PyTorch OOM: explain parsed asked $req B (script asked $asked), capacity $cap B (NVML total−reserved $((nv_total - nv_res)) B), this process $own B (NVML per-process $nv_own B)"
    log "  sentence: $(jq -r "$inc.explanation" "$WORK/explain.json")"
  else
    log "- real PyTorch OOM skipped: no python3 with torch and CUDA here"
  fi
}

# 11. A supervised service dies of a real PyTorch OOM: the daemon must recognise it in the
#     service's own output (an `oom` event whose numbers agree with what was asked and with NVML),
#     stop it with verification and start it again (on_oom = "restart"); the second instance runs.
#     Rehearsal: no PyTorch, so the script prints PyTorch 2.11's message itself and only the
#     event and the restart are checked.
s_service_oom() {
  local fake=0 port
  if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    [ "${VG_GPU_REHEARSAL:-0}" = 1 ] || { log "- service OOM skipped: no python3 with torch and CUDA here"; return 0; }
    fake=1 PY=python3
  fi
  port=$(free_port)
  export VRAMGUARD_SOCKET="$WORK/vg11.sock"
  cat >"$WORK/svc_oom.py" <<'EOF2'
import os, sys, time
port, marker, fake = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if not fake:
    import torch
    keep = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")  # the model: 1 GiB
    free, total = torch.cuda.mem_get_info()
print(f"Running on local URL:  http://127.0.0.1:{port}", flush=True)
if os.path.exists(marker):  # the second instance: stays up
    time.sleep(3600)
open(marker, "w").write("1")
time.sleep(1.5)
if fake:
    sys.stderr.write("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 80.00 GiB. GPU 0 has a "
                     "total capacity of 79.19 GiB of which 78.42 GiB is free. Including non-PyTorch memory, this "
                     "process has 784.00 MiB memory in use. Of the allocated memory 0 bytes is allocated by "
                     "PyTorch, and 0 bytes is reserved by PyTorch but unallocated.\n")
    sys.exit(1)
print(f"asked={total}", flush=True)
torch.empty(total, dtype=torch.uint8, device="cuda")  # the whole card: an uncaught OOM
EOF2
  cat >"$WORK/svc_oom.toml" <<EOF2
[daemon]
state_dir = "$WORK/state11"
socket = "$WORK/vg11.sock"

[[service]]
name = "torch-svc"
command = ["$PY", "$WORK/svc_oom.py", "$port", "$WORK/svc_oom.marker", "$fake"]
gpus = [$GPU]
vram = "2GiB"
ready = { log = "Running on local URL", timeout = "120s" }
stop = { grace = "5s" }
restart = { when = "on-failure", backoff = "200ms..1s", limit = "3 in 1m" }
on_oom = "restart"
EOF2
  "$VG" up --config "$WORK/svc_oom.toml" >"$WORK/daemon11.log" 2>&1 &
  local daemon11=$!
  track "$daemon11"
  local first="" n=0
  for _ in $(seq 6000); do  # the first instance runs, then dies of its OOM
    n=$("$VG" events --kind oom --service torch-svc --json 2>/dev/null | jq '.events | length' 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 1 ] && break
    sleep 0.02
  done
  [ "${n:-0}" -ge 1 ] || fail "no oom event for torch-svc: $(tail -20 "$WORK/daemon11.log")"
  "$VG" events --kind oom --service torch-svc --json >"$WORK/oom11.json"
  local inc='.events[0].data.incident'
  local req cap
  req=$(jq "$inc.requested_bytes // 0" "$WORK/oom11.json")
  cap=$(jq "$inc.capacity_bytes // 0" "$WORK/oom11.json")
  local state=""
  for _ in $(seq 6000); do  # restarted: the second instance (the marker exists) stays up
    state=$("$VG" status torch-svc --json 2>/dev/null | jq -r .state)
    [ "$state" = running ] && [ "$(grep -c 'torch-svc is ready' "$WORK/daemon11.log")" -ge 2 ] && break
    sleep 0.02
  done
  [ "$state" = running ] || fail "torch-svc not running again after its OOM (state $state): $(tail -20 "$WORK/daemon11.log")"
  if [ "$fake" = 0 ]; then
    local asked nv_total nv_res
    asked=$("$VG" logs torch-svc 2>/dev/null | sed -n 's/.*asked=\([0-9]*\).*/\1/p' | head -1)
    "$VG" gpus --json >"$WORK/gpus11.json"
    nv_total=$(jq ".gpus[$GPU].total_bytes" "$WORK/gpus11.json")
    nv_res=$(jq ".gpus[$GPU].reserved_bytes // 0" "$WORK/gpus11.json")
    within "$req" "$asked" 5 || fail "service OOM: requested $req B vs asked $asked B"
    within "$cap" $((nv_total - nv_res)) 10 || fail "service OOM: capacity $cap B vs NVML total−reserved $((nv_total - nv_res)) B"
  fi
  log "- supervised service OOM on $ON: oom event ($(jq -r '.events[0].message' "$WORK/oom11.json")); asked $req B, capacity $cap B; restarted and running again"
  kill -TERM "$daemon11"
  for _ in $(seq 1000); do kill -0 "$daemon11" 2>/dev/null || break; sleep 0.01; done
}

# demo_daemon N NAME [EXTRA]: `vramguard up` (its pid in daemonN) with one service NAME, the demo
# on this GPU behind the job API, on a card made to look like 16 GiB (reserve = total − 16 GiB);
# EXTRA (TOML) goes after the service's keys. Its socket is exported; returns once it answers.
demo_daemon() {
  local n=$1 name=$2 extra=${3:-} port
  port=$(free_port)
  [ "$port" != "${avoid_port:-}" ] || port=$(free_port)  # the scenario's own pick (a proxy's)
  export VRAMGUARD_SOCKET="$WORK/vg$n.sock" PATH="$(dirname "$DEMO"):$PATH"
  "$VG" gpus --json >"$WORK/gpus$n.json"
  total_gib=$(( $(jq ".gpus[$GPU].total_bytes" "$WORK/gpus$n.json") / 1073741824 ))
  cat >"$WORK/demo$n.toml" <<EOF2
[daemon]
state_dir = "$WORK/state$n"
socket = "$WORK/vg$n.sock"
reserve = "$((total_gib - 16))GiB"

[[service]]
name = "$name"
command = ["vg-demo-service", "--backend", "$BACKEND", "--port", "$port", "--model", "2GiB", "--load-time", "0s", "--step-time", "1ms"]
gpus = [$GPU]
vram = "3GiB"
port = $port
ready = { log = "Running on local URL", timeout = "60s" }
stop = { grace = "5s", release = { http = "POST http://127.0.0.1:$port/free" } }
jobs = { endpoint = "POST http://127.0.0.1:$port/generate" }
$extra

$(awk '/^\[\[service\.param\]\]/ { p = 1 } p' examples/demo.toml)
EOF2
  "$VG" up --config "$WORK/demo$n.toml" >"$WORK/daemon$n.log" 2>&1 &
  printf -v "daemon$n" '%s' "$!"
  track "$!"
  for _ in $(seq 3000); do
    "$VG" status --json >/dev/null 2>&1 && break
    sleep 0.02
  done
}

# 9. Jobs on real CUDA: the demo service behind the job API on a GPU made to look like a 16 GiB
#    card (reserve = total − 16 GiB): 512p and 768p run, 1024p/32f is refused at once with
#    suggestions, a suggestion then runs, and no job OOMs; the observed peaks (real NVML
#    per-process samples) are compared with the demo's memory model.
s_jobs() {
  if [ -x "$DEMO" ]; then
    demo_daemon 9 i2v-gpu
    model() { # the demo's activations: round_up_2MiB(2150 KiB × resolution × √frames)
      awk -v r="$1" -v f="$2" 'BEGIN { b = 2150 * 1024 * r * sqrt(f); m = 2097152; printf "%.0f", int((b + m - 1) / m) * m }'
    }
    for job in "512 16" "768 24"; do
      set -- $job
      timeout 180 "$VG" submit i2v-gpu resolution="$1" frames="$2" steps=3 --wait --json >"$WORK/job.json" ||
        fail "job ${1}p/${2}f: $(cat "$WORK/job.json"; tail -5 "$WORK/daemon9.log")"
      id=$(jq -r .id "$WORK/job.json")
      "$VG" job "$id" --json >"$WORK/job.json"
      [ "$(jq -r .state "$WORK/job.json")" = done ] || fail "job $id: $(cat "$WORK/job.json")"
      est=$(jq .estimate_bytes "$WORK/job.json")
      obs=$(jq '.observed_peak_bytes // 0' "$WORK/job.json")
      want=$(model "$1" "$2")
      within "$obs" "$want" 100 || fail "job ${1}p/${2}f: observed peak $obs B, the demo allocated $want B"
      log "- job ${1}p/${2}f on $ON: estimate $est B, observed peak $obs B ($(jq -r '.observation // "none"' "$WORK/job.json")), demo model $want B"
    done
    set +e
    "$VG" submit i2v-gpu resolution=1024 frames=32 steps=3 --json >"$WORK/refused.json" 2>"$WORK/refused.err"
    rc=$?
    set -e
    [ "$rc" -eq 5 ] || fail "1024p/32f not refused (exit $rc): $(cat "$WORK/refused.json")"
    sugg=$(jq -c '.suggestions[0].params' "$WORK/refused.json")
    args=$(jq -r 'to_entries | map("\(.key)=\(.value)") | join(" ")' <<<"$sugg")
    # shellcheck disable=SC2086
    timeout 180 "$VG" submit i2v-gpu $args --wait --json >"$WORK/sugg.json" ||
      fail "suggestion $sugg did not run: $(cat "$WORK/sugg.json"; "$VG" gpus --json | jq -c '.gpus[0] | del(.processes)'; tail -15 "$WORK/daemon9.log")"
    ooms=$("$VG" events --kind oom --json | jq '.events | length')
    [ "${ooms:-0}" = 0 ] || fail "$ooms oom events during the job scenario"
    log "- 1024p/32f refused (exit 5) with $(jq '.suggestions | length' "$WORK/refused.json") suggestion(s); $sugg then ran: $(jq -r .state "$WORK/sugg.json"); oom events: ${ooms:-0}"
    kill -TERM "$daemon9"
    for _ in $(seq 1000); do kill -0 "$daemon9" 2>/dev/null || break; sleep 0.01; done
  fi
}

# 10. The front door on real CUDA, as AUTOMATIC1111's page talks to it: Gradio 3's WebSocket queue
#     (the demo speaks it) through the service's proxy with ends = "gradio-ws", on a GPU made to
#     look like a 16 GiB card. An event that fits runs and its job's observed peak is what the
#     demo allocated; one that can never fit is answered by the door as a failed event naming
#     sizes that fit, and never reaches CUDA; zero OOMs.
s_door_ws() {
  if [ -x "$DEMO" ]; then
    listen=$(free_port)
    avoid_port=$listen demo_daemon 10 webui-gpu "
[service.proxy]
listen = \"127.0.0.1:$listen\"

[[service.proxy.route]]
match = \"GET /queue/join\"
protocol = \"gradio\"
ends = \"gradio-ws\"
params = { resolution = \"/data/0\", frames = \"/data/1\", steps = \"/data/2\" }"
    for _ in $(seq 3000); do
      [ "$("$VG" status --json 2>/dev/null | jq -r '.services[0].state' 2>/dev/null)" = running ] && break
      sleep 0.02
    done
    client=(python3 tests/e2e/gradio3_ws_client.py --port "$listen" --timeout 120)
    t0=$(date +%s%N)
    "${client[@]}" --data '[768,24,3]' --session gpu1 >"$WORK/ws-ok.jsonl" 2>"$WORK/ws-ok.err" ||
      fail "768p/24f through the door: $(cat "$WORK/ws-ok.jsonl" "$WORK/ws-ok.err"; tail -5 "$WORK/daemon10.log")"
    t1=$(date +%s%N)
    job=$("$VG" jobs --json --service webui-gpu | jq '[.jobs[] | select(.state == "done")] | first | .id')
    "$VG" job "$job" --json >"$WORK/ws-job.json"
    obs=$(jq '.observed_peak_bytes // 0' "$WORK/ws-job.json")
    want=$(awk 'BEGIN { b = 2150 * 1024 * 768 * sqrt(24); m = 2097152; printf "%.0f", int((b + m - 1) / m) * m }')
    within "$obs" "$want" 100 || fail "the door's job: observed peak $obs B, the demo allocated $want B"
    set +e
    "${client[@]}" --data '[1024,32,3]' --session gpu2 >"$WORK/ws-no.jsonl" 2>"$WORK/ws-no.err"
    rc=$?
    set -e
    [ "$rc" -eq 1 ] || fail "1024p/32f through the door: exit $rc: $(cat "$WORK/ws-no.jsonl" "$WORK/ws-no.err")"
    why=$(jq -r 'select(.msg == "process_completed") | .output.error' "$WORK/ws-no.jsonl")
    [[ $why == *fits:* ]] || fail "the refusal names no size that fits: $why"
    ! grep -q process_starts "$WORK/ws-no.jsonl" || fail "the refused event reached the service"
    ooms=$("$VG" events --kind oom --json | jq '.events | length')
    [ "${ooms:-0}" = 0 ] || fail "$ooms oom events during the door scenario"
    log "- Gradio 3 WebSocket event through the door on $ON: 768p/24f done in $(( (t1 - t0) / 1000000 )) ms (client start included), observed peak $obs B (demo model $want B); 1024p/32f answered by the door: \"${why:0:120}…\"; oom events: ${ooms:-0}"
    kill -TERM "$daemon10"
    for _ in $(seq 1000); do kill -0 "$daemon10" 2>/dev/null || break; sleep 0.01; done
  fi
}

# 7. vramguard gpus vs nvidia-smi, side by side.
s_bench() {
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 3 --runs 30 --export-json "$WORK/h.json" \
      "$VG gpus --json" \
      "nvidia-smi --query-gpu=index,name,memory.total,memory.used,memory.free --format=csv" \
      "$VG ps --json" "nvidia-smi" >/dev/null 2>&1
    log ""
    log "| command | median | mean |"
    log "|---|---|---|"
    jq -r '.results[] | "| \(.command) | \(.median*1000|.*10|round/10) ms | \(.mean*1000|.*10|round/10) ms |"' "$WORK/h.json" | tee -a "$results"
    b=$(jq '.results[0].median' "$WORK/h.json")
    log "ratio nvidia-smi --query-gpu / vramguard gpus --json: $(jq --argjson b "$b" '.results[1].median/$b*100|round/100' "$WORK/h.json")"
  fi
}

# 10. Release on real hardware: how long after a holder's exit the driver gives its memory back,
#     by allocation size, and the whole `reap` against the usual recipe (kill, sleep 1, then
#     check nvidia-smi once a second until the memory is back). Timings are reported, never
#     asserted. RELEASE_SIZES="1GiB 16GiB 64GiB" and RELEASE_RUNS=3 by default.
s_release() {
  local sizes=${RELEASE_SIZES:-1GiB 16GiB 64GiB} runs=${RELEASE_RUNS:-3} size i
  log ""
  log "| holder | reap: SIGTERM → exit | exit → memory back (driver + vramguard's check) | whole \`reap --pid\` |"
  log "|---|---|---|---|"
  for size in $sizes; do
    local e=() b=() w=()
    for i in $(seq "$runs"); do
      hold "rel${size}_$i" --alloc "$size"
      local pid_var="rel${size}_${i}_PID" t0 t1
      t0=$(date +%s%N)
      "$VG" reap --pid "${!pid_var}" --yes --json >"$WORK/rel.json" || fail "reap $size: $(cat "$WORK/rel.json")"
      t1=$(date +%s%N)
      [ "$(jq .result.verified "$WORK/rel.json")" = true ] || fail "reap $size: not verified"
      e+=("$(jq '.result.exit_s * 1000' "$WORK/rel.json")")
      b+=("$(jq '.result.gpus[0].back_s * 1000' "$WORK/rel.json")")
      w+=("$(( (t1 - t0) / 1000000 ))")
    done
    med() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {printf "%.1f ms", a[int((NR + 1) / 2)]}'; }
    log "| $size (median of $runs) | $(med "${e[@]}") | $(med "${b[@]}") | $(med "${w[@]}") |"
  done
  # The usual recipe on the largest size: kill -TERM, sleep 1, then nvidia-smi once a second.
  local big=${sizes##* } used0 r=()
  used0=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$GPU")
  for i in $(seq "$runs"); do
    hold "rec$i" --alloc "$big"
    local pid_var="rec${i}_PID" t0 t1
    t0=$(date +%s%N)
    kill -TERM "${!pid_var}"
    sleep 1
    while [ "$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$GPU")" -gt $((used0 + 64)) ]; do
      sleep 1
    done
    t1=$(date +%s%N)
    r+=("$(( (t1 - t0) / 1000000 ))")
  done
  log "| usual recipe, $big: \`kill\`, \`sleep 1\`, \`nvidia-smi\` each second | | | $(printf '%s\n' "${r[@]}" | sort -g | awk '{a[NR] = $1} END {printf "%.0f ms", a[int((NR + 1) / 2)]}') |"
}

# Run each scenario on its own; report them all.
failed=()
for s in gpus reap_pid ghost torch_ghost term_ignored dry_run daemon oom service_oom jobs door_ws bench release; do
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $s "* ]]; then continue; fi
  set +e
  (set -e; "s_$s")
  rc=$?
  set -e
  [ "$rc" -eq 77 ] && exit 77  # the scenario found no usable CUDA driver: say so, skip the rest
  [ "$rc" -eq 0 ] || failed+=("$s")
done
if [ "${#failed[@]}" -gt 0 ]; then
  log ""
  log "FAILED: ${failed[*]}"
  exit 1
fi
echo "PASS"
