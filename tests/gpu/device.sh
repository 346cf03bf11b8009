#!/usr/bin/env bash
# On a borrowed GPU machine: tests/gpu/run.sh with the binaries that tests/gpu/bundle.sh packed
# into .gpu/ (the same as `make test-gpu` after its build), plus what the machine is. Results go
# to $OUT (gpu-results.md, machine.txt, run.log) when OUT is set.
set -uo pipefail
cd "$(dirname "$0")/../.."
[ -x .gpu/bin/vramguard ] || { echo "device: .gpu/ missing: run tests/gpu/bundle.sh here first" >&2; exit 1; }
OUT=${OUT:-$(mktemp -d)}
export OUT PATH="$PWD/.gpu/bin:$PATH" LD_LIBRARY_PATH="$PWD/.gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VG_BIN=$PWD/.gpu/bin/vramguard VG_CUDAHOLD=$PWD/.gpu/bin/vg-cudahold VG_DEMO=$PWD/.gpu/bin/vg-demo-service
{
  echo "date: $(date -u +%FT%TZ)"
  echo "kernel: $(uname -r)"
  grep -m1 PRETTY_NAME /etc/os-release 2>/dev/null
  echo "cpus: $(nproc); memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,pci.bus_id --format=csv 2>&1
  nvidia-smi 2>&1
  python3 -c 'import torch; print("torch", torch.__version__, torch.version.cuda, torch.cuda.is_available())' 2>&1
  command -v curl || echo "no curl"
  "$VG_BIN" --version 2>&1
  # The driver's own floor for any NVML tool: nvmlInit + nvmlShutdown in a fresh process (pynvml).
  for _ in 1 2 3 4 5; do
    python3 -c 'import time, pynvml
t = time.perf_counter(); pynvml.nvmlInit(); t1 = time.perf_counter(); pynvml.nvmlShutdown()
print(f"nvmlInit {1000 * (t1 - t):.1f} ms, nvmlShutdown {1000 * (time.perf_counter() - t1):.1f} ms")' 2>&1
  done
} >"$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
bash tests/gpu/run.sh 2>&1 | tee "$OUT/run.log"
rc=${PIPESTATUS[0]}
echo "device: tests/gpu/run.sh exit $rc"
exit "$rc"
