#!/usr/bin/env bash
# A holder that ignores SIGTERM is killed with SIGKILL after the grace period, not before.
source "$(dirname "$0")/lib.sh"
make_gpus
sim stubborn --gpu 0 --alloc 2GiB --ignore-term

vg reap --pid "$stubborn_PID" --grace 300ms --yes --json
expect_rc 0
expect_eq "$(jqo '.result.killed[0]')" "$stubborn_PID" "killed"
expect_eq "$(jqo '.result.terminated | length')" 0 "terminated by TERM"
exit_s=$(jqo '.result.exit_s')
awk -v s="$exit_s" 'BEGIN { exit !(s >= 0.3 && s < 5) }' || fail "exit_s $exit_s not in [0.3, 5)"
expect_eq "$(jqo '.result.verified')" true "verified"
wait_gone "$stubborn_PID" 1 || fail "still alive"

# Slow but obedient: exits 200 ms after TERM, within the grace: no SIGKILL.
sim slow --gpu 0 --alloc 1GiB --term-delay 200ms
vg reap --pid "$slow_PID" --grace 5s --yes --json
expect_rc 0
expect_eq "$(jqo '.result.terminated[0]')" "$slow_PID" "terminated"
expect_eq "$(jqo '.result.killed | length')" 0 "killed"
echo "PASS"
