#!/usr/bin/env bash
# A real PyTorch OOM on a real GPU, classified by `vramguard explain`: the parsed numbers must
# agree with what PyTorch asked for and with NVML (nvidia-smi). Skips (exit 77), saying why,
# without an NVIDIA GPU or without a CUDA build of PyTorch.
#   VG_BIN=build/vramguard VG_GPU=0 bash tests/gpu/torch_oom.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
VG=${VG_BIN:-build/vramguard}
GPU=${VG_GPU:-0}
PY=${PYTHON:-python3}
unset VRAMGUARD_FAKE_GPU_DIR VRAMGUARD_NVML_LIBRARY

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "SKIP: no NVIDIA GPU here (nvidia-smi missing or lists no GPU)"
  exit 77
fi
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "SKIP: no CUDA build of PyTorch for $PY"
  exit 77
fi
[ -x "$VG" ] || { echo "FAIL: build $VG first"; exit 1; }
fail() { echo "FAIL: $*" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Ask for twice the free memory: the caching allocator raises its OOM with every number.
set +e
"$PY" - "$GPU" >"$WORK/asked" 2>"$WORK/service.log" <<'PY'
import sys, torch
gpu = int(sys.argv[1])
free, total = torch.cuda.mem_get_info(gpu)
ask = (2 * free // (2 << 20) + 1) * (2 << 20)  # a multiple of 2 MiB: PyTorch does not round it
print(ask, flush=True)
torch.empty(ask, dtype=torch.uint8, device=f"cuda:{gpu}")
PY
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "the allocation did not fail"
ask=$(cat "$WORK/asked")
"$VG" explain --json --service gpu-test "$WORK/service.log" >"$WORK/out.json"
jq -e '.incidents | length == 1' "$WORK/out.json" >/dev/null ||
  fail "expected one incident: $(cat "$WORK/out.json")"
get() { jq -r ".incidents[0].$1" "$WORK/out.json"; }
[ "$(get kind)" = oom ] || fail "kind $(get kind)"
[ "$(get gpu)" = "$GPU" ] || fail "gpu $(get gpu)"
req=$(get requested_bytes)
# The message prints two decimals of GiB: within 0.005 GiB (+ rounding) of what was asked.
[ $((req > ask ? req - ask : ask - req)) -le $((6 * 1024 ** 3 / 1000)) ] ||
  fail "requested_bytes $req vs asked $ask"
cap=$(get capacity_bytes)
smi=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits -i "$GPU")  # MiB
smi=$((smi * 1048576))
# PyTorch's capacity is cudaMemGetInfo's total; nvidia-smi's total includes driver-reserved memory.
[ "$cap" -le "$smi" ] && [ "$cap" -ge $((smi * 95 / 100)) ] || fail "capacity_bytes $cap vs NVML $smi"
echo "explanation: $(get explanation)"
echo "PASS: requested $req (asked $ask), capacity $cap (NVML total $smi), GPU $GPU"
