#!/usr/bin/env bash
# Benchmarks for the foundation, measured side by side in one run on the simulated GPU:
#  1. `vramguard ps` with 200, 1,000 and 3,000 extra processes on the machine (SIZES="…" to
#     choose), interleaved with `ls -l /proc/*/fd` (a baseline that reads every fd link once) and
#     `fuser -v` on the device nodes (what users run when nvidia-smi shows a PID that is
#     [Not Found]), and `nvidia-smi` where a real driver exists.
#     SKIP_REAP=1 measures only this. VG_BASELINE=/path/to/an/older/vramguard times that binary's
#     `ps --json` in the same interleaved rounds (before/after figures from one run).
#  2. reap of a TERM-obeying holder: vramguard's overhead over the driver's own release (time
#     from the holder's exit to the memory verified back), and the whole reap against the usual
#     recipe (kill, then poll for the memory once a second).
# Prints a table and writes it to bench/results/latest.md. Timings are reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
VG="$PWD/$BUILD/vramguard"
SIMGPU="$PWD/$BUILD/vg-simgpu"
RUNS=${RUNS:-30}
SIZES=${SIZES:-200 1000 3000}
for tool in jq fuser python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (scripts/setup.sh --test installs it)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vg-bench.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [ -f "$WORK/sleepers" ]; then
    while read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$WORK/sleepers"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
export VRAMGUARD_FAKE_GPU_DIR="$WORK/gpu"
export VRAMGUARD_NVML_LIBRARY="$PWD/$BUILD/sim/libnvidia-ml.so.1"
"$SIMGPU" create --gpus 1 --total 80GiB >/dev/null

out="bench/results/latest.md"
mkdir -p bench/results
{
  echo "# vramguard benchmarks — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
} >"$out"

# --- 1. ps on machines of three sizes ------------------------------------------------------
# SIZES extra processes (default 200, 1,000 and 3,000), each a `sleep` holding stdin, stdout and
# stderr like an ordinary process, plus three simulated CUDA processes with a forked worker each.
# At each size, interleaved in one run (bench/interleave.py): `vramguard ps --json`, `ls -l` of
# every /proc/*/fd (a baseline that lists every process's fds and reads every link once, as a
# holder scan must), and `fuser -v` on the device nodes (what users run when nvidia-smi shows a
# PID that is [Not Found]); `nvidia-smi` too where a real driver exists.
# Starts N sleeps from a subshell that closed every descriptor above 2 (so they hold exactly
# /dev/null and the log, not whatever this script inherited); their pids go to $WORK/sleepers.
spawn_sleepers() {
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
    done
    for _ in $(seq "$1"); do
      sleep 3600 </dev/null >>"$WORK/sleepers.log" 2>&1 &
      echo $!
    done
  ) >>"$WORK/sleepers"
}
for i in 1 2 3; do
  "$SIMGPU" run --alloc ${i}GiB --fork-worker --ready-file "$WORK/r$i" >/dev/null &
  PIDS+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 500); do [ -s "$WORK/r$i" ] && break; sleep 0.01; done
  read -r a b <"$WORK/r$i"
  PIDS+=("$a" "$b")
done
nodes="$VRAMGUARD_FAKE_GPU_DIR/dev/nvidia0 $VRAMGUARD_FAKE_GPU_DIR/dev/nvidiactl"
cmds=("vramguard ps --json=$VG ps --json" "ls -l /proc/*/fd=ls -l /proc/*/fd >/dev/null 2>&1"
      "fuser -v (device nodes)=fuser -v $nodes")
extra=()  # names of the commands after the three of the table, in order
if [ -n "${VG_BASELINE:-}" ]; then
  cmds+=("baseline ps --json=$VG_BASELINE ps --json")
  extra+=("baseline \`$VG_BASELINE ps --json\`")
fi
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  cmds+=("nvidia-smi=nvidia-smi")
  extra+=("nvidia-smi")
fi
{
  echo "## 1. \`vramguard ps\` by machine size ($RUNS interleaved rounds per size, bench/interleave.py)"
  echo
  echo "Medians in ms (min–max). Load average: the 1-minute figure before and after each size."
  echo
  echo "| extra processes | processes in /proc | vramguard ps --json | ls -l /proc/*/fd | fuser -v | vramguard / ls | fuser / vramguard | load before → after |"
  echo "|---|---|---|---|---|---|---|---|"
} >>"$out"
procs_now=(/proc/[0-9]*)
base_procs=${#procs_now[@]}
spawned=0
for size in $SIZES; do
  spawn_sleepers $((size - spawned))
  spawned=$size
  sleep 0.5
  procs_now=(/proc/[0-9]*)
  nproc_now=${#procs_now[@]}
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  python3 bench/interleave.py --runs "$RUNS" --warmup 3 --json "$WORK/ps-$size.json" "${cmds[@]}"
  load_after=$(cut -d' ' -f1 /proc/loadavg)
  jq -r --arg size "$size" --arg n "$nproc_now" --arg lb "$load_before" --arg la "$load_after" '
    def ms: . * 1000 | . * 10 | round / 10;
    def cell: "\(.median|ms) (\(.min|ms)–\(.max|ms))";
    .results as $r |
    "| \($size) | \($n) | \($r[0]|cell) | \($r[1]|cell) | \($r[2]|cell) | \(($r[0].median / $r[1].median) * 100 | round / 100) | \(($r[2].median / $r[0].median) * 100 | round / 100) | \($lb) → \($la) |"
  ' "$WORK/ps-$size.json" >>"$out"
  for i in "${!extra[@]}"; do
    jq -r --arg size "$size" --arg name "${extra[$i]}" --argjson k $((i + 3)) '
      "\($name) at \($size): median \(.results[$k].median * 1000 | . * 10 | round / 10) ms, vramguard ps / it = \((.results[0].median / .results[$k].median) * 100 | round / 100)"
    ' "$WORK/ps-$size.json" >>"$WORK/extra.txt"
  done
done
{
  echo
  if [ -s "$WORK/extra.txt" ]; then cat "$WORK/extra.txt"; echo; fi
  echo "Targets: vramguard ps ≤ 20 ms at 1,000 extra processes; vramguard / ls ≤ 0.5 at every size."
  echo
} >>"$out"
while read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$WORK/sleepers"
: >"$WORK/sleepers"
for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
PIDS=()
# Thousands of exits take the kernel a while: let the table shrink back before timing reap.
for _ in $(seq 100); do
  procs_now=(/proc/[0-9]*)
  [ "${#procs_now[@]}" -le $((base_procs + 20)) ] && break
  sleep 0.05
done
sleep 0.2

# --- 2. reap overhead ------------------------------------------------------------------------
if [ "${SKIP_REAP:-0}" = 1 ]; then
  cat "$out"
  exit 0
fi
exit_ms=()
back_ms=()
total_ms=()
for i in $(seq "$RUNS"); do
  "$SIMGPU" run --alloc 20GiB --ready-file "$WORK/h$i" >/dev/null &
  PIDS+=($!)
  for _ in $(seq 500); do [ -s "$WORK/h$i" ] && break; sleep 0.005; done
  read -r h <"$WORK/h$i"
  t0=$(date +%s%N)
  "$VG" reap --pid "$h" --yes --json >"$WORK/reap.json"
  t1=$(date +%s%N)
  exit_ms+=("$(jq '.result.exit_s*1000' "$WORK/reap.json")")
  back_ms+=("$(jq '.result.gpus[0].back_s*1000' "$WORK/reap.json")")
  total_ms+=("$(( (t1 - t0) / 1000 ))")
done
# The usual recipe: kill, then check the memory once a second until it is back.
recipe_ms=()
for i in $(seq 5); do
  "$SIMGPU" run --alloc 20GiB --ready-file "$WORK/k$i" >/dev/null &
  PIDS+=($!)
  for _ in $(seq 500); do [ -s "$WORK/k$i" ] && break; sleep 0.005; done
  read -r h <"$WORK/k$i"
  t0=$(date +%s%N)
  kill -TERM "$h"
  sleep 1
  while [ "$("$VG" gpus --json | jq '.gpus[0].used_bytes')" != 0 ]; do sleep 1; done
  t1=$(date +%s%N)
  recipe_ms+=("$(( (t1 - t0) / 1000 ))")
done
stats() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.2f|%.2f|%.2f", a[int((NR+1)/2)], a[int(NR*0.99+0.999)], a[NR]}'; }
IFS='|' read -r e50 e99 emax <<<"$(stats "${exit_ms[@]}")"
IFS='|' read -r b50 b99 bmax <<<"$(stats "${back_ms[@]}")"
IFS='|' read -r t50 t99 tmax <<<"$(stats "${total_ms[@]}")"
t50=$(awk -v v="$t50" 'BEGIN{printf "%.1f", v/1000}'); t99=$(awk -v v="$t99" 'BEGIN{printf "%.1f", v/1000}')
IFS='|' read -r r50 r99 rmax <<<"$(stats "${recipe_ms[@]}")"
r50=$(awk -v v="$r50" 'BEGIN{printf "%.1f", v/1000}')
{
  echo "## 2. reap of a TERM-obeying 20 GiB holder ($RUNS runs; the simulated driver releases at exit)"
  echo
  echo "| measure | p50 | p99 | max |"
  echo "|---|---|---|---|"
  echo "| SIGTERM → exit seen on the pidfd | $e50 ms | $e99 ms | $emax ms |"
  echo "| exit → memory verified back by the driver (vramguard's overhead) | $b50 ms | $b99 ms | $bmax ms |"
  echo "| whole \`vramguard reap --pid … --yes --json\` (process start to end) | $t50 ms | $t99 ms | |"
  echo "| usual recipe: \`kill\`, \`sleep 1\`, check memory each second (5 runs) | $r50 ms | | |"
  echo
  echo "ratio: usual recipe / vramguard reap (median wall) = $(awk -v a="$r50" -v b="$t50" 'BEGIN{printf "%.1f", a/b}')"
} >>"$out"
cat "$out"
