#!/usr/bin/env bash
# Bad requests are refused with one clear line and a non-zero status; nothing is signalled.
source "$(dirname "$0")/lib.sh"
make_gpus
sim svc --gpu 0 --alloc 1GiB
sleep 60 &
plain=$!
STARTED_PIDS+=("$plain")

vg reap --pid 1 --yes
expect_rc 5; expect_one_line_error; expect_contains "$ERR" "init"

vg reap --pid "$plain" --yes
expect_rc 5; expect_one_line_error; expect_contains "$ERR" "holds no VRAM"
alive "$plain" || fail "a process without VRAM was killed"

vg reap --pid 3999999 --yes
expect_rc 3; expect_one_line_error; expect_contains "$ERR" "no running process with PID 3999999"

vg reap --pid "$$" --yes
expect_rc 5; expect_one_line_error; expect_contains "$ERR" "ancestor"

vg reap --pid nope --yes
expect_rc 2; expect_one_line_error; expect_contains "$ERR" "invalid PID 'nope'"

vg reap --ghosts --orphans --yes
expect_rc 2; expect_one_line_error; expect_contains "$ERR" "exactly one target"

vg reap --yes
expect_rc 2; expect_one_line_error

vg reap --pid "$svc_PID" --grace soon --yes
expect_rc 2; expect_one_line_error; expect_contains "$ERR" "invalid duration 'soon'"

vg reap --pid "$svc_PID" </dev/null
expect_rc 2; expect_one_line_error; expect_contains "$ERR" "--yes"
alive "$svc_PID" || fail "reap without confirmation killed the holder"

vg reap --bogus
expect_rc 2; expect_one_line_error

vg frobnicate
expect_rc 2; expect_one_line_error

# Another user's process: only when running as root can we make one to test against.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
  chmod 755 "$WORK" && chmod -R a+rwX "$VRAMGUARD_FAKE_GPU_DIR"
  setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$VG_SIMGPU" run --dir "$VRAMGUARD_FAKE_GPU_DIR" --alloc 1GiB --ready-file "$VRAMGUARD_FAKE_GPU_DIR/nobody.ready" >"$VRAMGUARD_FAKE_GPU_DIR/nobody.out" 2>&1 &
  STARTED_PIDS+=($!)
  wait_for_file "$VRAMGUARD_FAKE_GPU_DIR/nobody.ready" 5 || fail "could not start a process as nobody: $(cat "$VRAMGUARD_FAKE_GPU_DIR/nobody.out")"
  read -r other <"$VRAMGUARD_FAKE_GPU_DIR/nobody.ready"
  STARTED_PIDS+=("$other")
  set +e
  OUT=$(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups \
    env VRAMGUARD_FAKE_GPU_DIR="$VRAMGUARD_FAKE_GPU_DIR" VRAMGUARD_NVML_LIBRARY="$VG_FAKE_NVML" \
    "$VG_BIN" reap --pid "$svc_PID" --yes 2>"$WORK/stderr")
  RC=$?
  set -e
  ERR=$(cat "$WORK/stderr")
  expect_rc 4; expect_one_line_error; expect_contains "$ERR" "belongs to root"
  alive "$svc_PID" || fail "another user's process was killed"
else
  note "skipped the other-user check: needs root and the user nobody"
fi
echo "PASS"
