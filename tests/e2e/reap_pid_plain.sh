#!/usr/bin/env bash
# A plain holder, reaped by --pid: it exits on SIGTERM and the driver gives its memory back.
source "$(dirname "$0")/lib.sh"
make_gpus --total 24GiB --overhead 500MiB
sim svc --gpu 0 --alloc 4GiB

vg ps --json
expect_rc 0
expect_eq "$(jqo ".gpus[0].processes[] | select(.pid == $svc_PID) | .state")" running "state"
held=$(jqo ".gpus[0].processes[] | select(.pid == $svc_PID) | .used_bytes")
expect_eq "$held" $((4 * 1024 ** 3 + 500 * 1024 ** 2)) "used_bytes"

vg reap --pid "$svc_PID" --yes --json
expect_rc 0
expect_eq "$(jqo '.result.verified')" true "verified"
expect_eq "$(jqo '.result.terminated[0]')" "$svc_PID" "terminated"
expect_eq "$(jqo '.result.freed_bytes')" "$held" "freed_bytes"
expect_eq "$(jqo '.result.gpus[0].free_after_bytes')" $((24 * 1024 ** 3)) "free after"
wait_gone "$svc_PID" 1 || fail "process $svc_PID still alive after reap"
expect_eq "$(gpu_used 0)" 0 "GPU used after reap"

# Human output names bytes and times.
sim again --gpu 0 --alloc 1GiB
vg reap --pid "$again_PID" --yes
expect_rc 0
expect_contains "$OUT" "GPU 0: 1.5 GiB back, verified by the driver"
expect_contains "$OUT" "SIGTERM: $again_PID exited"
echo "PASS"
