#!/usr/bin/env bash
# `gpus` on two simulated GPUs: memory v2 (reserved separated), names, UUIDs, process counts.
source "$(dirname "$0")/lib.sh"
make_gpus --gpus 2 --total 24GiB --overhead 500MiB --reserved 256MiB
sim a --gpu 1 --alloc 2GiB

vg gpus --json
expect_rc 0
expect_eq "$(jqo '.gpus | length')" 2 "GPU count"
expect_eq "$(jqo '.gpus[1].process_count')" 1 "processes on GPU 1"
expect_eq "$(jqo '.gpus[0].process_count')" 0 "processes on GPU 0"
expect_eq "$(jqo '.gpus[1].used_bytes')" $((2 * 1024 ** 3 + 500 * 1024 ** 2)) "v2 used excludes reserved"
expect_eq "$(jqo '.gpus[1].reserved_bytes')" $((256 * 1024 ** 2)) "reserved"
expect_eq "$(jqo '.gpus[1].free_bytes')" $((24 * 1024 ** 3 - 256 * 1024 ** 2 - 2 * 1024 ** 3 - 500 * 1024 ** 2)) "free"
expect_eq "$(jqo '.gpus[1].minor')" 1 "minor"
expect_contains "$(jqo '.gpus[0].uuid')" "GPU-" "uuid"
expect_contains "$(jqo '.driver_version')" "sim" "driver version"

vg gpus
expect_rc 0
expect_contains "$OUT" "2.5 GiB"
expect_contains "$OUT" "24.0 GiB"
echo "PASS"
