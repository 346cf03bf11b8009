#!/usr/bin/env bash
# GPU scenarios on real hardware. Skips (exit 77) with the reason where there is no NVIDIA GPU.
set -u
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "SKIP: no NVIDIA GPU on this machine (nvidia-smi missing or reports none)"
  exit 77
fi
echo "SKIP: placeholder until the GPU scenarios land"
exit 77
