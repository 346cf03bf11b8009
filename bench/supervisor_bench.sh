#!/usr/bin/env bash
# Benchmarks for the supervisor daemon (issue 3, point 11), measured side by side in one run on the
# simulated GPU:
#  1. `vramguard stop` of the demo service: the service's own exit (signal → every member gone) and
#     vramguard's overhead over it (exited → memory verified back by the driver), from the stop's
#     final event, plus the wall time of the whole `vramguard stop` command.
#  2. `vramguard restart` against the usual restart.sh recipe (pkill by name, the PyTorch
#     cache-clearing step when Python has torch, sleep 2, nohup start, poll /health every 0.5 s):
#     wall time until the service answers HTTP again.
#  3. The daemon's own footprint (RSS, CPU) supervising 8 idle demo services for DURATION seconds,
#     against supervisord (Debian package `supervisor`) supervising the same 8 programs.
# Prints a markdown report and writes it to bench/results/supervisor.md. Timings are reported,
# never asserted. Every process and temporary directory it creates is removed on exit, failure
# and Ctrl-C included; the simulated GPU lives in the temporary directory.
#
# Environment: BUILD (build directory, default build), N_STOP (default 20), N_RESTART (default
# 10), DURATION (seconds of idle supervision in part 3, default 60).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
VG="$PWD/$BUILD/vramguard"
SIMGPU="$PWD/$BUILD/vg-simgpu"
DEMO="$PWD/$BUILD/vg-demo-service"
FAKE_NVML="$PWD/$BUILD/sim/libnvidia-ml.so.1"
N_STOP=${N_STOP:-20}
N_RESTART=${N_RESTART:-10}
DURATION=${DURATION:-60}
for f in "$VG" "$SIMGPU" "$DEMO" "$FAKE_NVML"; do
  [ -e "$f" ] || { echo "bench: $f missing (build first: make build)" >&2; exit 1; }
done
for t in jq curl; do
  command -v "$t" >/dev/null || { echo "bench: $t missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vg-sbench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# A snapshot of the binaries: a rebuild during the run must not swap them (or make them briefly
# unreadable) under the benchmark.
BUILT=$(date -u -r "$VG" +%Y-%m-%dT%H:%MZ)
mkdir -p "$WORK/bin/sim"
for try in $(seq 30); do
  if cp "$VG" "$SIMGPU" "$DEMO" "$WORK/bin/" 2>/dev/null && cp "$FAKE_NVML" "$WORK/bin/sim/" 2>/dev/null &&
    "$WORK/bin/vramguard" --version >/dev/null 2>&1 && "$WORK/bin/vg-simgpu" state --dir "$WORK/none" >/dev/null 2>&1; then
    break
  fi
  [ "$try" == 30 ] && { echo "bench: cannot copy working binaries from $BUILD (a rebuild in progress?)" >&2; exit 1; }
  sleep 2
done
VG="$WORK/bin/vramguard"
SIMGPU="$WORK/bin/vg-simgpu"
DEMO="$WORK/bin/vg-demo-service"
FAKE_NVML="$WORK/bin/sim/libnvidia-ml.so.1"
# Every process this benchmark starts carries this variable: cleanup finds them by it.
export VG_BENCH_WORK="$WORK"
export VRAMGUARD_FAKE_GPU_DIR="$WORK/gpu"
export VRAMGUARD_NVML_LIBRARY="$FAKE_NVML"
export VRAMGUARD_SOCKET="$WORK/vg.sock"
export PATH="$WORK/bin:$PATH"
DAEMON_PID=""
SUPD_PID=""

log() { echo "bench: $*" >&2; }
now_us() { local t=${EPOCHREALTIME/./}; echo "$((10#$t))"; }

alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# TERM, wait up to SECONDS, then KILL.
stop_pid() {
  local pid=$1 seconds=${2:-20} i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < seconds * 50; i++)); do alive "$pid" || break; sleep 0.02; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Processes this run started (services, daemons, the recipe's shell and its sleep), found by the
# marker in their environment; this script and its own subshells are not among them.
marked_processes() {
  local d p comm
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    comm=$(cat "$d/comm" 2>/dev/null) || continue
    case "$comm" in
      vg-demo-service | vramguard | supervisord | sleep | curl | python3 | nohup) ;;
      bash) tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -q "$WORK/restart.sh" || continue ;;
      *) continue ;;
    esac
    grep -qxzF "VG_BENCH_WORK=$WORK" "$d/environ" 2>/dev/null && alive "$p" && echo "$p"
  done
  return 0
}

kill_marked() {
  local p
  for p in $(marked_processes); do kill -KILL "$p" 2>/dev/null || true; done
}

# Demo services of this run still alive (the recipe's nohup ones included).
demo_pids() {
  local p
  for p in $(marked_processes); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" == vg-demo-service ] && echo "$p"
  done
  return 0
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "$status" != 0 ] && [ -s "$WORK/daemon.log" ]; then
    { echo "--- daemon log (last 30 lines):"; tail -30 "$WORK/daemon.log"; } >&2
  fi
  stop_pid "$DAEMON_PID" 20
  stop_pid "$SUPD_PID" 20
  kill_marked
  sleep 0.1
  kill_marked
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A base port with COUNT free ports above it (5 digits, so `pkill -f "… --port P"` names one port).
pick_ports() {
  local count=$1 base i ok
  for _ in $(seq 50); do
    base=$((20000 + RANDOM % 40000))
    ok=1
    for ((i = 0; i < count; i++)); do port_free $((base + i)) || { ok=0; break; }; done
    [ $ok == 1 ] && { echo "$base"; return 0; }
  done
  log "no free ports found"
  return 1
}

health() { curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$1/health"; }

# wait_health PORT SECONDS: poll every 10 ms.
wait_health() {
  local deadline=$(($(now_us) + $2 * 1000000))
  while [ "$(now_us)" -lt "$deadline" ]; do health "$1" && return 0; sleep 0.01; done
  return 1
}

start_daemon() {
  "$VG" up --config "$1" >>"$WORK/daemon.log" 2>&1 &
  DAEMON_PID=$!
  local i
  for ((i = 0; i < 500; i++)); do
    "$VG" status --json >/dev/null 2>&1 && return 0
    alive "$DAEMON_PID" || { log "daemon exited: $(tail -5 "$WORK/daemon.log")"; return 1; }
    sleep 0.02
  done
  log "daemon did not answer: $(tail -5 "$WORK/daemon.log")"
  return 1
}

wait_state() {
  local i st=""
  for ((i = 0; i < ${3:-30} * 50; i++)); do
    st=$("$VG" status "$1" --json 2>/dev/null | jq -r .state) || true
    [ "$st" == "$2" ] && return 0
    sleep 0.02
  done
  log "$1 did not reach $2 (is $st): $(tail -5 "$WORK/daemon.log")"
  return 1
}

gpu_used() { "$VG" gpus --json | jq -r ".gpus[0].used_bytes"; }

# Nothing of ours may hold the simulated GPU between parts.
expect_gpu_empty() {
  local i used
  for ((i = 0; i < 250; i++)); do
    used=$(gpu_used)
    [ "$used" == 0 ] && return 0
    sleep 0.02
  done
  log "simulated GPU still shows $used bytes used after $1"
  return 1
}

# stats VALUES…: p50|p99|max (nearest rank) of numbers, printed with one decimal.
stats() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {
    printf "%.1f|%.1f|%.1f", a[int((NR+1)/2)], a[int(NR*0.99+0.999)], a[NR] }'
}
median() { stats "$@" | cut -d'|' -f1; }
us_to_ms() { awk -v v="$1" 'BEGIN{printf "%.1f", v/1000}'; }

# ---- header ---------------------------------------------------------------------------------
out="bench/results/supervisor.md"
mkdir -p bench/results
REPORT="$WORK/report.md"
{
  echo "# vramguard supervisor benchmarks — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (working tree modified)')"
  build_type=$(grep -m1 '^CMAKE_BUILD_TYPE' "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2 || true)
  echo "build: $BUILD (${build_type:-RelWithDebInfo, the project default}), vramguard linked $BUILT, copied at start"
  echo "load average at start (1/5/15 min): $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "simulated GPU (vg-simgpu); N_STOP=$N_STOP, N_RESTART=$N_RESTART, DURATION=${DURATION}s"
  echo
} >"$REPORT"

# ---- 1 & 2: one demo service under the daemon -------------------------------------------------
"$SIMGPU" create --gpus 1 --total 24GiB >/dev/null
P=$(pick_ports 1)
MODEL_ARGS=(--model 8GiB --load-time 100ms)
cat >"$WORK/vg.toml" <<EOF
[daemon]
state_dir = "$WORK/state"
socket = "$VRAMGUARD_SOCKET"
reserve = "2GiB"
poll = "100ms"

[[service]]
name = "demo"
command = ["vg-demo-service", "--port", "$P", "${MODEL_ARGS[0]}", "${MODEL_ARGS[1]}", "${MODEL_ARGS[2]}", "${MODEL_ARGS[3]}"]
gpus = [0]
vram = "9GiB"
port = $P
ready = { log = "Running on local URL", timeout = "60s" }
# A fixed 1 s backoff and a high limit: a failed start during the runs must not end the benchmark.
restart = { when = "on-failure", backoff = "1s", limit = "1000 in 10m" }
EOF
"$VG" check-config "$WORK/vg.toml" >/dev/null
log "part 1: stop → VRAM back, $N_STOP runs (port $P)"
start_daemon "$WORK/vg.toml"
wait_state demo running 60

exit_ms=()
back_ms=()
wall_ms=()
over_ms=()
stop_fail=0
start_fail=0
for i in $(seq "$N_STOP"); do
  t0=$(now_us)
  "$VG" stop demo --json >"$WORK/stop.json" 2>>"$WORK/cli.err" || true
  t1=$(now_us)
  if [ "$(jq -r '.ok and (.events[-1].data.verified == true)' "$WORK/stop.json" 2>/dev/null)" != true ]; then
    stop_fail=$((stop_fail + 1))
    log "stop $i did not verify: $(jq -c '.events[-1].message' "$WORK/stop.json" 2>/dev/null || cat "$WORK/stop.json")"
  else
    e=$(jq '.events[-1].data.exit_s * 1000' "$WORK/stop.json")
    exit_ms+=("$e")
    back_ms+=("$(jq '.events[-1].data.back_s * 1000' "$WORK/stop.json")")
    w=$(us_to_ms $((t1 - t0)))
    wall_ms+=("$w")
    over_ms+=("$(awk -v w="$w" -v e="$e" 'BEGIN{printf "%.3f", w-e}')")
  fi
  if ! "$VG" start demo --json >"$WORK/start.json" 2>>"$WORK/cli.err"; then
    start_fail=$((start_fail + 1))
    log "start $i failed: $(jq -c '.events[-1].message' "$WORK/start.json" 2>/dev/null || true); waiting for the restart policy"
  fi
  wait_state demo running 60
done

# -- 2a: vramguard restart --
log "part 2a: vramguard restart, $N_RESTART runs"
vg_restart_ms=()
vg_restart_ok_ms=()
restart_fail=0
restart_fail_msgs=()
for i in $(seq "$N_RESTART"); do
  wait_state demo running 60
  health "$P" || wait_health "$P" 30
  t0=$(now_us)
  ok=1
  "$VG" restart demo --json >"$WORK/restart.json" 2>>"$WORK/cli.err" || ok=0
  health "$P" || wait_health "$P" 60 || { log "demo never answered again after restart $i"; exit 1; }
  t1=$(now_us)
  vg_restart_ms+=("$(us_to_ms $((t1 - t0)))")
  if [ $ok == 1 ]; then
    vg_restart_ok_ms+=("$(us_to_ms $((t1 - t0)))")
  else
    restart_fail=$((restart_fail + 1))
    msg=$(jq -r '[.events[] | select(.kind == "crashed" or .kind == "start-failed")][0].message // .error // "?"' "$WORK/restart.json" 2>/dev/null || echo "?")
    restart_fail_msgs+=("$msg")
    log "restart $i failed: $msg (the restart policy brought it back)"
  fi
done
wait_state demo running 60

# -- 2b: the usual restart.sh --
log "part 2b: restart.sh recipe, $N_RESTART runs"
"$VG" stop demo --json >/dev/null
[ -z "$(demo_pids)" ] || { log "a demo service outlived vramguard stop"; exit 1; }
expect_gpu_empty "vramguard stop"
port_free "$P" || { log "port $P still taken after vramguard stop"; exit 1; }
if python3 -c "import torch" >/dev/null 2>&1; then
  TORCH_STEP='python3 -c "import torch; torch.cuda.empty_cache()"'
  torch_note="python3 can import torch: the recipe runs \`python3 -c \"import torch; torch.cuda.empty_cache()\"\` (it frees nothing in another process)"
else
  TORCH_STEP=': # python3 cannot import torch here: the cache-clearing step is skipped'
  torch_note="python3 cannot import torch on this machine: the recipe's \`torch.cuda.empty_cache()\` step was skipped (with torch it adds ~2–3 s of import per restart and frees nothing in another process)"
fi
cat >"$WORK/restart.sh" <<EOF
#!/usr/bin/env bash
# What users' restart.sh does: kill by name, clear "the CUDA cache", wait for it to die, start
# again in the background, poll the port until it answers.
pkill -f "vg-demo-service --port $P" || true
$TORCH_STEP
sleep 2
nohup vg-demo-service --port $P ${MODEL_ARGS[*]} >>"$WORK/nohup.out" 2>&1 &
until curl -sf -o /dev/null "http://127.0.0.1:$P/health"; do sleep 0.5; done
EOF
chmod +x "$WORK/restart.sh"
# The first instance, started the recipe's way (not timed).
nohup vg-demo-service --port "$P" "${MODEL_ARGS[@]}" >>"$WORK/nohup.out" 2>&1 &
wait_health "$P" 30 || { log "nohup demo did not answer: $(tail -3 "$WORK/nohup.out")"; exit 1; }
recipe_ms=()
for i in $(seq "$N_RESTART"); do
  t0=$(now_us)
  timeout 120 bash "$WORK/restart.sh"
  t1=$(now_us)
  recipe_ms+=("$(us_to_ms $((t1 - t0)))")
  n=$(demo_pids | wc -l)
  [ "$n" == 1 ] || { log "after recipe run $i: $n demo services running (expected 1)"; exit 1; }
done
for p in $(demo_pids); do stop_pid "$p" 10; done
expect_gpu_empty "the recipe runs"
stop_pid "$DAEMON_PID" 20
DAEMON_PID=""
[ -z "$(marked_processes)" ] || { log "left behind after parts 1–2: $(marked_processes | tr '\n' ' ')"; exit 1; }

IFS='|' read -r e50 e99 emax <<<"$(stats "${exit_ms[@]}")"
IFS='|' read -r b50 b99 bmax <<<"$(stats "${back_ms[@]}")"
IFS='|' read -r w50 w99 wmax <<<"$(stats "${wall_ms[@]}")"
IFS='|' read -r o50 o99 omax <<<"$(stats "${over_ms[@]}")"
n_ok=${#exit_ms[@]}
vgr50=$(median "${vg_restart_ms[@]}")
rec50=$(median "${recipe_ms[@]}")
{
  echo "## 1. stop → VRAM verified back ($n_ok of $N_STOP runs verified; demo service with an 8 GiB model)"
  echo
  echo "From the final event of \`vramguard stop demo --json\` (\`.events[-1].data\`); p99 is nearest-rank, so with fewer than 100 runs it is the maximum."
  echo
  echo "| measure | p50 | p99 | max |"
  echo "|---|---|---|---|"
  echo "| exit_s: TERM → every member exited (the service's own exit) | $e50 ms | $e99 ms | $emax ms |"
  echo "| back_s: exited → memory verified back by the driver (vramguard's overhead; target ≤ 20 ms) | $b50 ms | $b99 ms | $bmax ms |"
  echo "| whole \`vramguard stop demo --json\` (CLI process start to exit) | $w50 ms | $w99 ms | $wmax ms |"
  echo "| whole command − exit_s (CLI, API, state store, verification) | $o50 ms | $o99 ms | $omax ms |"
  echo
  [ "$stop_fail" == 0 ] || echo "stops not verified: $stop_fail of $N_STOP"
  [ "$start_fail" == 0 ] || echo "\`vramguard start\` failures between stops: $start_fail of $N_STOP (the restart policy brought the service back)"
  echo
  echo "## 2. \`vramguard restart\` vs the usual restart.sh ($N_RESTART runs each; wall time until \`GET /health\` answers again)"
  echo
  echo "| method | median | min | max |"
  echo "|---|---|---|---|"
  echo "| \`vramguard restart demo\` (returns when ready; one \`curl\` confirms) | $vgr50 ms | $(printf '%s\n' "${vg_restart_ms[@]}" | sort -g | head -1) ms | $(printf '%s\n' "${vg_restart_ms[@]}" | sort -g | tail -1) ms |"
  if [ "$restart_fail" != 0 ] && [ ${#vg_restart_ok_ms[@]} -gt 0 ]; then
    echo "| \`vramguard restart demo\`, successful runs only (${#vg_restart_ok_ms[@]}) | $(median "${vg_restart_ok_ms[@]}") ms | | |"
  fi
  echo "| restart.sh: \`pkill -f\`, sleep 2, \`nohup\` start, poll \`/health\` every 0.5 s | $rec50 ms | $(printf '%s\n' "${recipe_ms[@]}" | sort -g | head -1) ms | $(printf '%s\n' "${recipe_ms[@]}" | sort -g | tail -1) ms |"
  echo
  echo "ratio: restart.sh / vramguard restart (medians) = $(awk -v a="$rec50" -v b="$vgr50" 'BEGIN{printf "%.1f", a/b}')"
  echo
  echo "$torch_note."
  echo "restart.sh does not check that the old process is gone or that its memory came back before starting the new one; vramguard restart verifies both."
  if [ "$restart_fail" != 0 ]; then
    echo
    echo "**\`vramguard restart\` failed in $restart_fail of $N_RESTART runs** (the time above includes the restart policy's 1 s backoff until it answered again):"
    printf -- '- %s\n' "${restart_fail_msgs[@]}"
  fi
  echo
} >>"$REPORT"

# ---- 3: footprint supervising 8 idle services ---------------------------------------------
# cpu_ns PID: CPU time of the process itself (children not included), summed over its threads:
# the scheduler's nanosecond counters (/proc/PID/task/*/schedstat) where the kernel has them,
# else utime + stime in clock ticks.
TCK=$(getconf CLK_TCK)
if [ -r /proc/self/schedstat ]; then CPU_SOURCE="schedstat (ns)"; else CPU_SOURCE="utime+stime (clock tick $((1000 / TCK)) ms)"; fi
cpu_ns() {
  if [ -r "/proc/$1/schedstat" ]; then
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d", s}'
  else
    awk -v hz="$TCK" '{printf "%d", ($14 + $15) * 1e9 / hz}' "/proc/$1/stat"
  fi
}
proc_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# measure PID: sleeps DURATION (interruptibly: a signal ends the run at once), then sets M_RSS_KIB
# and M_CPU (percent of one core).
measure() {
  local pid=$1 c0 c1 t0 t1
  c0=$(cpu_ns "$pid")
  t0=$(now_us)
  sleep "$DURATION" &
  wait $!
  c1=$(cpu_ns "$pid")
  t1=$(now_us)
  M_RSS_KIB=$(proc_rss_kib "$pid")
  M_CPU=$(awk -v d=$((c1 - c0)) -v us=$((t1 - t0)) 'BEGIN{printf "%.3f", d/1e3/us*100}')
  M_CPU_MS=$(awk -v d=$((c1 - c0)) 'BEGIN{printf "%.1f", d/1e6}')
  M_THREADS=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")
}

if ! command -v supervisord >/dev/null; then
  log "part 3 skipped: supervisord missing"
  {
    echo "## 3. footprint with 8 idle services vs supervisord"
    echo
    echo "skipped: \`supervisord\` is not installed (\`sudo apt-get install supervisor\`; \`scripts/setup.sh\` installs it)."
    echo
  } >>"$REPORT"
else
  export VRAMGUARD_FAKE_GPU_DIR="$WORK/gpu80"
  "$SIMGPU" create --gpus 1 --total 80GiB >/dev/null
  Q=$(pick_ports 8)
  log "part 3: vramguard supervising 8 idle services for ${DURATION}s (ports $Q..$((Q + 7)))"
  {
    printf '[daemon]\nstate_dir = "%s"\nsocket = "%s"\nreserve = "2GiB"\npoll = "100ms"\n' \
      "$WORK/state8" "$VRAMGUARD_SOCKET"
    for i in $(seq 0 7); do
      cat <<EOF

[[service]]
name = "idle$i"
command = ["vg-demo-service", "--port", "$((Q + i))", "--model", "256MiB", "--load-time", "0s"]
gpus = [0]
vram = "256MiB"
port = $((Q + i))
ready = { log = "Running on local URL" }
EOF
    done
  } >"$WORK/vg8.toml"
  "$VG" check-config "$WORK/vg8.toml" >/dev/null
  start_daemon "$WORK/vg8.toml"
  for i in $(seq 0 7); do wait_state "idle$i" running 60; wait_health $((Q + i)) 30; done
  sleep 1
  measure "$DAEMON_PID"
  vg_rss=$M_RSS_KIB
  vg_cpu=$M_CPU
  vg_cpu_ms=$M_CPU_MS
  vg_threads=$M_THREADS
  n=$(demo_pids | wc -l)
  [ "$n" == 8 ] || log "warning: $n demo services under vramguard at the end (expected 8)"
  stop_pid "$DAEMON_PID" 30
  DAEMON_PID=""
  [ -z "$(marked_processes)" ] || { log "left behind by vramguard: $(marked_processes | tr '\n' ' ')"; exit 1; }
  expect_gpu_empty "vramguard's 8 services"

  log "part 3: supervisord supervising the same 8 for ${DURATION}s"
  S="$WORK/supervisord"
  mkdir -p "$S"
  {
    cat <<EOF
[supervisord]
nodaemon=true
logfile=$S/supervisord.log
pidfile=$S/supervisord.pid
childlogdir=$S
user=$(id -un)

[unix_http_server]
file=$S/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$S/supervisor.sock
EOF
    for i in $(seq 0 7); do
      cat <<EOF

[program:idle$i]
command=$DEMO --port $((Q + i)) --model 256MiB --load-time 0s
autorestart=true
stopsignal=TERM
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=$S/idle$i.log
environment=VRAMGUARD_FAKE_GPU_DIR="$VRAMGUARD_FAKE_GPU_DIR",VRAMGUARD_NVML_LIBRARY="$VRAMGUARD_NVML_LIBRARY",VG_BENCH_WORK="$WORK"
EOF
    done
  } >"$S/supervisord.conf"
  supervisord -c "$S/supervisord.conf" >"$S/stdout" 2>&1 &
  SUPD_PID=$!
  for i in $(seq 0 7); do
    wait_health $((Q + i)) 60 || { log "supervisord's idle$i did not answer: $(tail -5 "$S/supervisord.log")"; exit 1; }
  done
  sleep 1
  measure "$SUPD_PID"
  sd_rss=$M_RSS_KIB
  sd_cpu=$M_CPU
  sd_cpu_ms=$M_CPU_MS
  sd_threads=$M_THREADS
  n=$(demo_pids | wc -l)
  [ "$n" == 8 ] || log "warning: $n demo services under supervisord at the end (expected 8)"
  sd_version=$(supervisord --version)
  stop_pid "$SUPD_PID" 30
  SUPD_PID=""
  sleep 0.2
  [ -z "$(marked_processes)" ] || { log "left behind by supervisord: $(marked_processes | tr '\n' ' ')"; exit 1; }
  expect_gpu_empty "supervisord's 8 services"

  mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
  {
    echo "## 3. footprint supervising 8 idle demo services for ${DURATION} s (256 MiB model each)"
    echo
    echo "The supervisor's own process only (children excluded): VmRSS at the end, CPU time over the window as a share of one core, from $CPU_SOURCE."
    echo
    echo "| supervisor | RSS | CPU (one core) | CPU time in the window | threads |"
    echo "|---|---|---|---|---|"
    echo "| \`vramguard up\` (log readiness, VRAM and port checks; no liveness probes) | $(mib "$vg_rss") MiB | $vg_cpu % | $vg_cpu_ms ms | $vg_threads |"
    echo "| supervisord $sd_version (autorestart=true) | $(mib "$sd_rss") MiB | $sd_cpu % | $sd_cpu_ms ms | $sd_threads |"
    echo
    echo "ratios: RSS vramguard / supervisord = $(awk -v a="$vg_rss" -v b="$sd_rss" 'BEGIN{printf "%.2f", a/b}') (target < 0.5); CPU vramguard / supervisord = $(awk -v a="$vg_cpu" -v b="$sd_cpu" 'BEGIN{if (b > 0) printf "%.2f", a/b; else print "n/a (supervisord used no measurable CPU)"}') (target: vramguard < 0.5 % of a core)"
    echo
  } >>"$REPORT"
fi

echo "load average at end (1/5/15 min): $(cut -d' ' -f1-3 /proc/loadavg)" >>"$REPORT"
cp "$REPORT" "$out"
cat "$out"
