#!/usr/bin/env bash
# Service output that is not valid UTF-8 in an event's data (a crash's last lines) followed live:
# the follower gets the event with the bad bytes replaced, and the daemon survives it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
cat >"$WORK/svc.sh" <<'EOS'
sleep 1
printf 'loading weights \xff\xfe\xc3(\n'
exit 3
EOS
write_config <<EOF2
[[service]]
name = "bad-bytes"
command = ["bash", "$WORK/svc.sh"]
restart = "no"
EOF2
start_daemon
timeout 4 "$VG_BIN" events --follow --json --service bad-bytes --kind crashed >"$WORK/follow.out" &
follower=$!
wait_event bad-bytes crashed 5
wait "$follower" || true
expect_contains "$(jq -r '.data.last_lines | join(" ")' <"$WORK/follow.out")" "loading weights"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died"
vg status bad-bytes --json
expect_rc 0
echo "PASS"
