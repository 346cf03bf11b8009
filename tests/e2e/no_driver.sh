#!/usr/bin/env bash
# No NVIDIA library at all: `gpus` says so in one line; `ps` still works from /proc.
source "$(dirname "$0")/lib.sh"
export VRAMGUARD_NVML_LIBRARY="$WORK/does-not-exist/libnvidia-ml.so.1"

vg gpus
expect_rc 6; expect_one_line_error; expect_contains "$ERR" "no NVIDIA driver found"
vg gpus --json
expect_rc 6; expect_one_line_error
[ -z "$OUT" ] || fail "--json printed something on failure: $OUT"

vg ps
expect_rc 0
expect_contains "$OUT" "no NVIDIA driver found"
vg ps --json
expect_rc 0
expect_contains "$(jqo '.warnings[0]')" "no NVIDIA driver found"

# The library exists but the driver is not loaded (the fake without a GPU directory).
export VRAMGUARD_NVML_LIBRARY="$VG_FAKE_NVML"
export VRAMGUARD_FAKE_GPU_DIR="$WORK/no-gpus-here"
vg gpus
expect_rc 6; expect_one_line_error; expect_contains "$ERR" "DRIVER_NOT_LOADED"

# Something that is not NVML at all.
export VRAMGUARD_NVML_LIBRARY=libc.so.6
vg gpus
expect_rc 6; expect_one_line_error; expect_contains "$ERR" "not an NVML library"
echo "PASS"
