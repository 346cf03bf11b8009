#!/usr/bin/env bash
# Malformed configs: check-config and up name file:line:col and refuse; a broken SIGHUP reload keeps
# the old config running; a good reload adds a service without touching the others.
source "$(dirname "$0")/lib.sh"
make_gpus --total 24GiB
printf '[[service]]\nname = "x"\ncomand = ["true"]\n' >"$WORK/bad.toml"
vg check-config "$WORK/bad.toml"
expect_rc 2
expect_contains "$ERR" "bad.toml:3:1"
expect_contains "$ERR" "did you mean 'command'"
vg up --config "$WORK/bad.toml"
expect_rc 2
expect_contains "$ERR" "bad.toml:3:1"

write_config <<EOF2
[[service]]
name = "one"
command = ["vg-simgpu", "run", "--alloc", "1GiB"]
EOF2
start_daemon
wait_state one running
pid=$(service_pid one)
cp "$WORK/vramguard.toml" "$WORK/good.toml"
printf '\n[[service]]\nname = "two"\ncommand = "not an array"\n' >>"$WORK/vramguard.toml"
kill -HUP "$DAEMON_PID"
wait_event "" config-error 5
vg events --json --kind config-error
expect_contains "$(jqo '.events[-1].message')" "vramguard.toml:"
kill -0 "$DAEMON_PID" || fail "daemon died on a bad reload"
expect_eq "$(service_pid one)" "$pid" "service untouched by the bad reload"
vg events --kind ooom # a filter that can match nothing is a mistake, said as one
expect_rc 2
expect_contains "$ERR" "no event kind 'ooom' (did you mean 'oom'?)"
vg events --service nope
expect_rc 3
expect_contains "$ERR" "no service named 'nope'"
vg reload # the same broken file through the CLI: an invalid config is status 2 (docs/cli.md)
expect_rc 2
expect_one_line_error
expect_contains "$ERR" "the configuration has errors"

cp "$WORK/good.toml" "$WORK/vramguard.toml"
printf '\n[[service]]\nname = "two"\ncommand = ["vg-simgpu", "run", "--alloc", "1GiB"]\n' >>"$WORK/vramguard.toml"
vg reload
expect_rc 0
wait_state two running
expect_eq "$(service_pid one)" "$pid" "unchanged service untouched by reload"
echo "PASS"
