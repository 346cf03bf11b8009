#!/usr/bin/env bash
# --dry-run shows the plan and changes nothing.
source "$(dirname "$0")/lib.sh"
make_gpus
sim svc --gpu 0 --alloc 3GiB --fork-worker
before=$(gpu_used 0)

vg reap --pid "$svc_PID" --dry-run
expect_rc 0
expect_contains "$OUT" "dry run: nothing was signalled"
expect_contains "$OUT" "descendant of $svc_PID"

vg reap --pid "$svc_PID" --dry-run --json
expect_eq "$(jqo '.dry_run')" true "dry_run"
expect_eq "$(jqo '[.targets[].pid] | sort | join(",")')" "$(printf '%s\n' "$svc_PID" "$svc_WORKER" | sort | paste -sd,)" "targets"
expect_eq "$(jqo '.result')" null "no result in a dry run"
alive "$svc_PID" || fail "dry run killed the service"
alive "$svc_WORKER" || fail "dry run killed the worker"
expect_eq "$(gpu_used 0)" "$before" "GPU used"
echo "PASS"
