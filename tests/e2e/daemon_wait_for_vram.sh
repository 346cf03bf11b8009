#!/usr/bin/env bash
# Not enough VRAM: the service waits naming who holds the memory, and starts the moment the
# memory frees; with a short vram_wait it gives up naming the holders.
source "$(dirname "$0")/lib.sh"
make_gpus --total 24GiB --overhead 500MiB
sim hog --gpu 0 --alloc 16GiB
write_config <<EOF2
[[service]]
name = "big"
command = ["vg-simgpu", "run", "--alloc", "8GiB"]
gpus = [0]
vram = "8GiB"

[[service]]
name = "impatient"
command = ["vg-simgpu", "run", "--alloc", "8GiB"]
gpus = [0]
vram = "8GiB"
vram_wait = "500ms"
EOF2
start_daemon
wait_state big waiting-for-vram
expect_contains "$(event_message big waiting-for-vram)" "vg-simgpu (pid $hog_PID)"
wait_event impatient vram-timeout 5
expect_contains "$(event_message impatient vram-timeout)" "pid $hog_PID"
expect_eq "$("$VG_BIN" status impatient --json | jq -r .state)" failed "impatient state"

t0=$(date +%s%N)
kill -TERM "$hog_PID"
wait_state big running 5
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
note "started ${ms} ms after the memory was freed"
[ "$ms" -lt 2000 ] || fail "took $ms ms to notice the free memory"
echo "PASS"
