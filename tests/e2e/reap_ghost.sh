#!/usr/bin/env bash
# The ghost (docs/gpu-facts.md): a service forks a worker after CUDA init and crashes. NVML keeps
# listing the dead PID with its memory; `ps` names the worker that holds it; `reap --ghosts`
# kills exactly the worker and the driver gives the memory back.
source "$(dirname "$0")/lib.sh"
make_gpus --total 24GiB --overhead 500MiB
# A monitor: has the device node open, maps nothing. Must never be reaped by --ghosts.
bash -c 'exec 3<"$1"; exec sleep 60' _ "$VRAMGUARD_FAKE_GPU_DIR/dev/nvidia0" &
monitor=$!
STARTED_PIDS+=("$monitor")
sim svc --gpu 0 --alloc 10GiB --fork-worker --new-session --crash-after 200ms
wait_gone "$svc_PID" 5 || fail "simulated service did not crash"

vg ps
expect_rc 0
expect_contains "$OUT" "(exited) — held by $svc_WORKER"
expect_contains "$OUT" "child of $svc_PID"
expect_contains "$OUT" "reap --ghosts"

vg ps --json
ghost_bytes=$(jqo ".gpus[0].processes[] | select(.pid == $svc_PID) | .used_bytes")
expect_eq "$(jqo ".gpus[0].processes[] | select(.pid == $svc_PID) | .state")" exited "ghost state"
expect_eq "$(jqo ".gpus[0].processes[] | select(.pid == $svc_PID) | .holders | join(\",\")")" "$svc_WORKER" "holders"
expect_eq "$(jqo ".gpus[0].processes[] | select(.pid == $svc_WORKER) | .state")" holder "worker state"
expect_eq "$(jqo ".gpus[0].processes[] | select(.pid == $svc_WORKER) | .orphan")" true "worker orphan"
[ "$ghost_bytes" -eq $((10 * 1024 ** 3 + 500 * 1024 ** 2)) ] || fail "ghost bytes $ghost_bytes"
# The monitor is hidden without --all and marked with it.
expect_eq "$(jqo ".gpus[0].processes[] | select(.pid == $monitor) | .state")" "" "monitor hidden"
vg ps --all --json
expect_eq "$(jqo ".gpus[0].processes[] | select(.pid == $monitor) | .state")" monitor "monitor with --all"
expect_eq "$(jqo '[.gpus[0].processes[] | select(.self == true)] | length')" 1 "vramguard itself listed"

vg reap --ghosts --dry-run --json
expect_rc 0
expect_eq "$(jqo '[.targets[].pid] | join(",")')" "$svc_WORKER" "ghost targets"

vg reap --ghosts --yes --json
expect_rc 0
expect_eq "$(jqo '.result.verified')" true "verified"
expect_eq "$(jqo '.result.freed_bytes')" "$ghost_bytes" "freed"
wait_gone "$svc_WORKER" 1 || fail "worker still alive"
alive "$monitor" || fail "the monitor was killed"
expect_eq "$(gpu_used 0)" 0 "GPU used after reap"

vg reap --ghosts --yes
expect_rc 0
expect_contains "$OUT" "no ghosts: nothing to reap"
echo "PASS"
