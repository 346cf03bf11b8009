#!/usr/bin/env bash
# Detection latency (issue 4, point 10): from a service writing a PyTorch OOM line to the `oom`
# event being visible over the daemon's API (`vramguard events --follow --json`), p50/p99 over
# N events (default 1,000), with on_oom = "ignore" so the service keeps running. Side by side in
# the same run, the usual alternative: `tail -F` on the same log piped to `grep --line-buffered`.
# Both latencies use one clock (CLOCK_REALTIME): the writer stamps each line with the time it
# wrote it; the readers stamp the moment the line reaches them. "recorded" is the event's own
# time_unix_ms (ms resolution) minus the write time. Timings are reported, never asserted.
#
# usage: bench/oom_latency.sh [N] [INTERVAL_MS]   (BUILD=build by default)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
N=${1:-1000}
INTERVAL=${2:-20}
VG="$PWD/$BUILD/vramguard"
command -v python3 >/dev/null || { echo "bench: python3 missing (scripts/setup.sh)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vg-oombench.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
export VRAMGUARD_FAKE_GPU_DIR="$WORK/gpu"
export VRAMGUARD_NVML_LIBRARY="$PWD/$BUILD/sim/libnvidia-ml.so.1"
export VRAMGUARD_SOCKET="$WORK/vg.sock"
"$PWD/$BUILD/vg-simgpu" create --gpus 1 --total 24GiB >/dev/null
cat >"$WORK/vg.toml" <<EOF2
[daemon]
state_dir = "$WORK/state"
socket = "$VRAMGUARD_SOCKET"

[[service]]
name = "bench"
command = ["python3", "$PWD/bench/oom_latency_writer.py", "$N", "$INTERVAL"]
on_oom = "ignore"
EOF2
"$VG" up --config "$WORK/vg.toml" >"$WORK/daemon.log" 2>&1 &
PIDS+=($!)
for ((i = 0; i < 500; i++)); do "$VG" status --json >/dev/null 2>&1 && break; sleep 0.02; done
log="$WORK/state/logs/bench.log"
for ((i = 0; i < 500; i++)); do [ -f "$log" ] && break; sleep 0.01; done

# vramguard: the API's follow stream. The alternative: tail -F | grep on the same file.
"$VG" events --follow --json --kind oom --service bench |
  python3 bench/oom_latency_reader.py "$N" vramguard "$WORK/vg.json" &
R1=$!
tail -n0 -F "$log" 2>/dev/null | grep --line-buffered "CUDA out of memory" |
  python3 bench/oom_latency_reader.py "$N" "tail -F | grep" "$WORK/grep.json" &
R2=$!
wait "$R1" "$R2" || true

python3 - "$WORK/vg.json" "$WORK/grep.json" "$N" "$INTERVAL" <<'EOF2'
import json, sys, os
vg, gr = (json.load(open(p)) for p in sys.argv[1:3])
print("OOM detection latency, %s events, one every %s ms (+ 12 filler lines each), %d cores, load %.2f"
      % (sys.argv[3], sys.argv[4], os.cpu_count(), os.getloadavg()[0]))
print("| path | n | p50 | p99 | max |")
print("|---|---|---|---|---|")
for r in (vg, gr):
    v = r["visible_ms"]
    print("| %s: write → line at the reader | %d | %.2f ms | %.2f ms | %.2f ms |"
          % (r["label"], r["n"], v["p50"], v["p99"], v["max"]))
if "recorded_ms" in vg:
    print("| vramguard: write → event time (ms clock) | %d | %.0f ms | %.0f ms | |"
          % (vg["n"], vg["recorded_ms"]["p50"], vg["recorded_ms"]["p99"]))
EOF2
