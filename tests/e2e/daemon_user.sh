#!/usr/bin/env bash
# `user = "nobody"`: the daemon (root) starts the service as that user, and still stops it.
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ] || ! id nobody >/dev/null 2>&1; then
  echo "SKIP: needs root and the user nobody"
  exit 0
fi
make_gpus --total 24GiB
write_config <<EOF2
[[service]]
name = "lowly"
command = ["sleep", "600"]
user = "nobody"
cwd = "/"
EOF2
start_daemon
wait_state lowly running
pid=$(service_pid lowly)
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
expect_eq "$uid" "$(id -u nobody)" "service uid"
vg stop lowly
expect_rc 0
wait_gone "$pid" 1 || fail "service still alive"

# A user that does not exist: the start fails with one clear line, the daemon goes on.
printf '\n[[service]]\nname = "ghostuser"\ncommand = ["sleep", "600"]\nuser = "no-such-user-vg"\nautostart = false\n' >>"$WORK/vramguard.toml"
vg reload
expect_rc 0
vg start ghostuser
expect_rc 5
expect_one_line_error
expect_contains "$ERR" "user 'no-such-user-vg' does not exist"
echo "PASS"
