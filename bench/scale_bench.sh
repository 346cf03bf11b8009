#!/usr/bin/env bash
# The machine-size axis (issue 12): what the daemon's operations cost with 100, 1,000 and 3,000
# processes on the machine, side by side in one run on the simulated GPU. At each size, extra
# idle processes (`sleep`) are started until /proc holds that many, then:
#  - `vramguard status --json` (the daemon answers from its own tree and NVML), median of N_STATUS;
#  - `vramguard restart demo` until the demo service answers `/health` again, median of
#    N_RESTART, beside restart-poll.sh: the honest anchor, a restart script with no fixed sleeps
#    (kill, poll every 10 ms until the process is gone, start, poll `/health` every 10 ms). The
#    difference is vramguard's overhead over the service's own exit and start-up;
#  - `vramguard reap --pid` of a simulated GPU holder (the CLI reads the whole machine by design:
#    it must see every holder), median of N_REAP;
#  - OOM detection: bench/oom_latency.sh with N_OOM lines 20 ms apart, p50/p99 of write → event.
# With BASELINE_BUILD set (a build directory of an older commit), status, restart and reap are
# measured for that binary too, interleaved with the current one, so a before/after is one run.
# Prints a markdown report and writes it to bench/results/scale.md. Timings are reported, never
# asserted. Every process and directory it creates is removed on exit, Ctrl-C included.
#
# Environment: BUILD (default build), BASELINE_BUILD (optional), SIZES (default "100 1000 3000"),
# N_STATUS (20), N_RESTART (5), N_REAP (10), N_OOM (200; 0 skips it).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SIZES=${SIZES:-"100 1000 3000"}
N_STATUS=${N_STATUS:-20}
N_RESTART=${N_RESTART:-5}
N_REAP=${N_REAP:-10}
N_OOM=${N_OOM:-200}
for t in jq curl python3; do
  command -v "$t" >/dev/null || { echo "bench: $t missing (scripts/setup.sh --test installs it)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vg-scale.XXXXXX")
FILLERS=()
DAEMON_PID=""
export VG_BENCH_WORK="$WORK"
log() { echo "bench: $*" >&2; }
now_us() { local t=${EPOCHREALTIME/./}; echo "$((10#$t))"; }
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
stop_pid() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 1000; i++)); do alive "$pid" || break; sleep 0.02; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
kill_marked() {
  local d
  for d in /proc/[0-9]*; do
    [ "${d#/proc/}" == $$ ] && continue
    grep -qxzF "VG_BENCH_WORK=$WORK" "$d/environ" 2>/dev/null && kill -KILL "${d#/proc/}" 2>/dev/null
  done
  return 0
}
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [ "$status" == 0 ] || { [ -s "$WORK/daemon.log" ] && tail -20 "$WORK/daemon.log" >&2; }
  stop_pid "$DAEMON_PID"
  kill -KILL "${FILLERS[@]}" 2>/dev/null || true
  kill_marked
  sleep 0.2
  kill_marked
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Binaries, copied so a rebuild during the run cannot swap them: bin-new/, bin-old/.
copy_bins() {
  local from=$1 to=$2
  mkdir -p "$to/sim"
  for f in vramguard vg-simgpu vg-demo-service; do
    [ -x "$from/$f" ] || { log "$from/$f missing (build first)"; exit 1; }
    cp "$from/$f" "$to/"
  done
  cp "$from/sim/libnvidia-ml.so.1" "$to/sim/"
}
copy_bins "$BUILD" "$WORK/bin-new"
LABELS=(new)
if [ -n "${BASELINE_BUILD:-}" ]; then
  copy_bins "$BASELINE_BUILD" "$WORK/bin-old"
  LABELS=(new old)
fi
export VRAMGUARD_FAKE_GPU_DIR="$WORK/gpu"
export VRAMGUARD_SOCKET="$WORK/vg.sock"
"$WORK/bin-new/vg-simgpu" create --gpus 1 --total 80GiB >/dev/null

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
P=""
for _ in $(seq 50); do
  P=$((20000 + RANDOM % 40000))
  port_free "$P" && break
done
health() { curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$P/health"; }
wait_health() {
  local i
  for ((i = 0; i < 3000; i++)); do health && return 0; sleep 0.01; done
  return 1
}

# use LABEL: point VG and friends at one binary set.
use() {
  local b="$WORK/bin-$1"
  VG="$b/vramguard"
  export VRAMGUARD_NVML_LIBRARY="$b/sim/libnvidia-ml.so.1"
  DEMO="$b/vg-demo-service"
  SIMGPU="$b/vg-simgpu"
}
start_daemon() {
  cat >"$WORK/vg.toml" <<EOF
[daemon]
state_dir = "$WORK/state-$1"
socket = "$VRAMGUARD_SOCKET"
reserve = "2GiB"
poll = "100ms"

[[service]]
name = "demo"
command = ["$DEMO", "--port", "$P", "--model", "8GiB", "--load-time", "100ms"]
gpus = [0]
vram = "9GiB"
port = $P
ready = { log = "Running on local URL", timeout = "60s" }
restart = { when = "on-failure", backoff = "1s", limit = "1000 in 10m" }
EOF
  "$VG" up --config "$WORK/vg.toml" >>"$WORK/daemon.log" 2>&1 &
  DAEMON_PID=$!
  local i
  for ((i = 0; i < 1000; i++)); do
    [ "$("$VG" status demo --json 2>/dev/null | jq -r .state)" == running ] && health && return 0
    alive "$DAEMON_PID" || { log "daemon exited"; exit 1; }
    sleep 0.02
  done
  log "demo did not come up"
  exit 1
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]}'; }
procs_now() { local n=0 d; for d in /proc/[0-9]*; do n=$((n + 1)); done; echo "$n"; }
ms_since() { awk -v a="$1" -v b="$(now_us)" 'BEGIN{printf "%.2f", (b-a)/1000}'; }

# The anchor: restart without fixed sleeps.
cat >"$WORK/restart-poll.sh" <<'EOF'
#!/usr/bin/env bash
# kill the service, poll every 10 ms until it is gone, start it, poll /health every 10 ms.
pid=$(cat "$1/anchor.pid" 2>/dev/null || true)
if [ -n "$pid" ]; then
  kill -TERM "$pid" 2>/dev/null || true
  # gone = no such process or a zombie (its parent, init here, reaps it when it gets to it)
  while [ -r "/proc/$pid/stat" ] && ! grep -q '^[0-9]* (.*) [ZX] ' "/proc/$pid/stat" 2>/dev/null; do
    sleep 0.01
  done
fi
"$2" --port "$3" --model 8GiB --load-time 100ms >>"$1/anchor.out" 2>&1 &
echo $! >"$1/anchor.pid"
until curl -sf -o /dev/null "http://127.0.0.1:$3/health"; do sleep 0.01; done
EOF
chmod +x "$WORK/restart-poll.sh"

REPORT="$WORK/report.md"
{
  echo "# vramguard at machine size — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')${BASELINE_BUILD:+; baseline (old): $BASELINE_BUILD}"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); N_STATUS=$N_STATUS N_RESTART=$N_RESTART N_REAP=$N_REAP N_OOM=$N_OOM"
  echo
  echo "| processes | binary | status median | restart median | restart-poll.sh median | restart overhead over the anchor | reap median | OOM p50 / p99 (events seen) | load |"
  echo "|---|---|---|---|---|---|---|---|---|"
} >"$REPORT"

for size in $SIZES; do
  have=$(procs_now)
  need=$((size - have))
  for ((i = 0; i < need; i++)); do
    sleep 100000 </dev/null >/dev/null 2>&1 &
    FILLERS+=($!)
    disown $!  # killed at the end without a job report each
  done
  sleep 1
  actual=$(procs_now)
  log "size $size: $actual processes on the machine"
  declare -A st=() rs=() rp=() rap=()
  for label in "${LABELS[@]}"; do
    use "$label"
    start_daemon "$label"
    s=()
    for ((i = 0; i < N_STATUS; i++)); do
      t0=$(now_us)
      "$VG" status --json >/dev/null
      s+=("$(ms_since "$t0")")
    done
    st[$label]=$(median "${s[@]}")
    r=()
    for ((i = 0; i < N_RESTART; i++)); do
      t0=$(now_us)
      "$VG" restart demo --json >/dev/null 2>&1 || log "restart $i ($label) reported a failure"
      health || wait_health || { log "demo never answered after restart"; exit 1; }
      r+=("$(ms_since "$t0")")
    done
    rs[$label]=$(median "${r[@]}")
    "$VG" stop demo --json >/dev/null
    a=()
    for ((i = 0; i < N_REAP; i++)); do
      "$SIMGPU" run --alloc 4GiB --ready-file "$WORK/h$i" >/dev/null 2>&1 &
      for _ in $(seq 500); do [ -s "$WORK/h$i" ] && break; sleep 0.005; done
      read -r h <"$WORK/h$i"
      rm -f "$WORK/h$i"
      t0=$(now_us)
      "$VG" reap --pid "$h" --yes --json >/dev/null
      a+=("$(ms_since "$t0")")
    done
    rap[$label]=$(median "${a[@]}")
    stop_pid "$DAEMON_PID"
    DAEMON_PID=""
  done
  use new
  rm -f "$WORK/anchor.pid"
  "$WORK/restart-poll.sh" "$WORK" "$DEMO" "$P"  # first start, not timed
  r=()
  for ((i = 0; i < N_RESTART; i++)); do
    t0=$(now_us)
    "$WORK/restart-poll.sh" "$WORK" "$DEMO" "$P"
    r+=("$(ms_since "$t0")")
  done
  anchor=$(median "${r[@]}")
  stop_pid "$(cat "$WORK/anchor.pid")"
  oom="skipped"
  if [ "$N_OOM" -gt 0 ]; then
    line=$(BUILD="$BUILD" bash bench/oom_latency.sh "$N_OOM" 20 2>/dev/null | grep '^| vramguard: write → line' || true)
    oom=$(echo "$line" | awk -F'|' -v n="$N_OOM" '{gsub(/ /,"",$3); gsub(/ /,"",$4); gsub(/ /,"",$5); print $4 " / " $5 " (" $3 " of " n ")"}')
    [ -n "$oom" ] || oom="failed"
  fi
  load=$(cut -d' ' -f1 /proc/loadavg)
  for label in "${LABELS[@]}"; do
    over=$(awk -v a="${rs[$label]}" -v b="$anchor" 'BEGIN{printf "%+.1f ms", a-b}')
    o="$oom"
    [ "$label" == old ] && o="(not run)"
    echo "| $actual | $label | ${st[$label]} ms | ${rs[$label]} ms | $anchor ms | $over | ${rap[$label]} ms | $o | $load |" >>"$REPORT"
  done
done
echo >>"$REPORT"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$REPORT"
mkdir -p bench/results
cp "$REPORT" bench/results/scale.md
cat "$REPORT"
