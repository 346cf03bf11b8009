#!/usr/bin/env bash
# An orphan: its parent (a start script) exited and it was reparented to init. `reap --orphans`
# takes it and leaves a process whose parent is alive.
source "$(dirname "$0")/lib.sh"
make_gpus
sim kept --gpu 0 --alloc 1GiB
bash -c '"$1" run --dir "$2" --alloc 2GiB --ready-file "$3" >/dev/null 2>&1 & exit 0' _ \
  "$VG_SIMGPU" "$VRAMGUARD_FAKE_GPU_DIR" "$WORK/orphan.ready"
wait_for_file "$WORK/orphan.ready" 5 || fail "orphan did not start"
read -r orphan <"$WORK/orphan.ready"
STARTED_PIDS+=("$orphan")
ppid=$(awk '{print $4}' "/proc/$orphan/stat")
if [ "$ppid" != 1 ]; then
  echo "SKIP: orphans are adopted by subreaper $ppid here, not init; the orphan rule needs init"
  exit 0
fi

vg ps --json
expect_eq "$(jqo ".gpus[0].processes[] | select(.pid == $orphan) | .state")" orphan "orphan state"
expect_eq "$(jqo ".gpus[0].processes[] | select(.pid == $kept_PID) | .state")" running "kept state"

vg reap --orphans --yes --json
expect_rc 0
expect_eq "$(jqo '[.targets[].pid] | join(",")')" "$orphan" "targets"
expect_eq "$(jqo '.result.verified')" true "verified"
alive "$kept_PID" || fail "a process with a live parent was reaped"
echo "PASS"
