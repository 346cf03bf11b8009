#!/usr/bin/env bash
# The CLI finds the daemon without exported variables: a daemon started with a custom socket in
# its config is found by `--config` alone (or VRAMGUARD_CONFIG); `--socket` names one directly;
# when none answers, the one-line error names every socket tried.
source "$(dirname "$0")/lib.sh"
make_gpus --total 24GiB
unset VRAMGUARD_SOCKET
export HOME="$WORK/home" XDG_RUNTIME_DIR="$WORK/run" XDG_CONFIG_HOME="$WORK/config"
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
custom="$WORK/custom.sock"
cat >"$WORK/custom.toml" <<EOF2
[daemon]
state_dir = "$WORK/state"
socket = "$custom"
EOF2
"$VG_BIN" up --config "$WORK/custom.toml" >>"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
STARTED_PIDS+=("$DAEMON_PID")
for ((i = 0; i < 500; i++)); do [ -S "$custom" ] && break; sleep 0.02; done
[ -S "$custom" ] || fail "the daemon did not create $custom: $(cat "$WORK/daemon.log")"

vg status --config "$WORK/custom.toml" --json
expect_rc 0
expect_eq "$(jqo '.services | length')" 0 "services of the daemon found through --config"
VRAMGUARD_CONFIG="$WORK/custom.toml" vg status --json
expect_rc 0
vg status --socket "$custom" --json
expect_rc 0

# Nothing named: the user's default socket, then the system daemon's; neither answers here.
if [ -e /run/vramguard/vramguard.sock ]; then
  note "skipping the none-answers case: a system daemon's socket exists on this machine"
else
  vg status
  expect_rc 3
  expect_one_line_error
  expect_contains "$ERR" "no vramguard daemon answers (tried "
  expect_contains "$ERR" "/run/vramguard/vramguard.sock ("
  if [ "$(id -u)" -ne 0 ]; then
    expect_contains "$ERR" "$XDG_RUNTIME_DIR/vramguard.sock (your default socket)"
    # The user's default config names the custom socket: found with nothing named.
    mkdir -p "$XDG_CONFIG_HOME/vramguard"
    cp "$WORK/custom.toml" "$XDG_CONFIG_HOME/vramguard/vramguard.toml"
    vg status --json
    expect_rc 0
  fi
fi

vg status --socket "$WORK/nothing.sock"
expect_rc 3
expect_one_line_error
expect_contains "$ERR" "no vramguard daemon answers (tried $WORK/nothing.sock (--socket))"
vg status --config "$WORK/missing.toml"
expect_rc 3
expect_one_line_error
expect_contains "$ERR" "--config names $WORK/missing.toml: no such file"

kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "the daemon exited with $?: $(cat "$WORK/daemon.log")"
echo "PASS"
