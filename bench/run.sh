#!/usr/bin/env bash
# Benchmarks for the foundation, measured side by side in one run on the simulated GPU:
#  1. `vramguard ps` with 1,000 extra processes on the machine, against `fuser -v` on the device
#     nodes (what users run when nvidia-smi shows a PID that is [Not Found]) and against
#     `nvidia-smi` where a real driver exists.
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
command -v hyperfine >/dev/null || { echo "bench: hyperfine missing (scripts/setup.sh installs it)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vg-bench.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
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

# --- 1. ps with 1,000 processes -------------------------------------------------------------
for _ in $(seq 1000); do
  sleep 3600 &
  PIDS+=($!)
done
for i in 1 2 3; do
  "$SIMGPU" run --alloc ${i}GiB --fork-worker --ready-file "$WORK/r$i" >/dev/null &
  PIDS+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 500); do [ -s "$WORK/r$i" ] && break; sleep 0.01; done
  read -r a b <"$WORK/r$i"
  PIDS+=("$a" "$b")
done
nproc_now=$(ls -d /proc/[0-9]* | wc -l)
cmds=("$VG ps --json" "fuser -v $VRAMGUARD_FAKE_GPU_DIR/dev/nvidia0 $VRAMGUARD_FAKE_GPU_DIR/dev/nvidiactl")
names=("vramguard ps --json" "fuser -v (device nodes)")
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  cmds+=("nvidia-smi")
  names+=("nvidia-smi")
fi
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$WORK/ps.json" \
  -n "${names[0]}" "${cmds[0]}" -n "${names[1]}" "${cmds[1]}" \
  ${cmds[2]:+-n "${names[2]}" "${cmds[2]}"} >/dev/null 2>&1 || true
{
  echo "## 1. \`vramguard ps\` with $nproc_now processes on the machine ($RUNS runs, hyperfine)"
  echo
  echo "| command | mean | median | min | max |"
  echo "|---|---|---|---|---|"
  jq -r '.results[] | "| \(.command) | \(.mean*1000|.*10|round/10) ms | \(.median*1000|.*10|round/10) ms | \(.min*1000|.*10|round/10) ms | \(.max*1000|.*10|round/10) ms |"' "$WORK/ps.json"
  base=$(jq '.results[0].median' "$WORK/ps.json")
  echo
  jq -r --argjson b "$base" '.results[1:][] | "ratio: \(.command) median / vramguard ps median = \((.median/$b)*100|round/100)"' "$WORK/ps.json"
  echo
} >>"$out"
for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
PIDS=()
sleep 0.2

# --- 2. reap overhead ------------------------------------------------------------------------
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
