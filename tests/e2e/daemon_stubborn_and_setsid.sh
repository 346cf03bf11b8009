#!/usr/bin/env bash
# Two services that supervisors usually lose: one ignores SIGTERM (killed after the grace), one
# whose child calls setsid() and holds VRAM (still a member through its instance tag; stopped,
# memory verified).
source "$(dirname "$0")/lib.sh"
make_gpus --total 24GiB --overhead 500MiB
write_config <<EOF2
[[service]]
name = "stubborn"
command = ["vg-simgpu", "run", "--alloc", "2GiB", "--ignore-term"]
gpus = [0]
vram = "1GiB"
stop = { grace = "300ms" }

[[service]]
name = "escaper"
command = ["bash", "-c", "setsid vg-simgpu run --alloc 3GiB --ready-file $WORK/escaped & exec sleep 600"]
gpus = [0]
vram = "1GiB"
EOF2
start_daemon
wait_state stubborn running
wait_state escaper running
wait_for_file "$WORK/escaped" 5 || fail "escaper child did not start"
read -r escaped <"$WORK/escaped"
[ "$(awk '{print $6}' "/proc/$escaped/stat")" == "$escaped" ] || fail "child did not setsid"
stubborn=$(service_pid stubborn)

vg stop stubborn --json
expect_rc 0
expect_eq "$(jqo '.events[-1].data.killed[0]')" "$stubborn" "killed after grace"
wait_gone "$stubborn" 1 || fail "stubborn alive"

vg stop escaper --json
expect_rc 0
expect_eq "$(jqo '.events[-1].kind')" stopped "escaper stopped"
expect_eq "$(jqo '.events[-1].data.verified')" true "memory verified"
wait_gone "$escaped" 1 || fail "the setsid child survived the stop"
expect_eq "$(gpu_used 0)" 0 "GPU used"
echo "PASS"
