#!/usr/bin/env bash
# A user's pattern (config `patterns`) recognises a line the catalogue does not know, as the kind
# it names; with on_sticky = "ignore" the event is recorded and the service keeps running. A
# top-level [[pattern]] applies to every service. A matched line that is not valid UTF-8 reaches
# every reader (stored, listed, followed live) with its bad bytes replaced.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
cat >"$WORK/svc.sh" <<'EOS'
sleep 1
printf 'worker 3: MYKERNEL-FAULT code=77 \xff\xfe(not UTF-8)\n'
for k in $(seq 12); do echo "step $k"; done
echo "fatal: gpu memory exhausted in arena 2"
exec sleep 120
EOS
write_config <<EOF2
[[service]]
name = "custom-pat"
command = ["bash", "$WORK/svc.sh"]
on_sticky = "ignore"
on_oom = "ignore"
patterns = [{ match = "MYKERNEL-FAULT code=[0-9]+", regex = true, kind = "sticky", what = "custom kernel fault" }]

[[pattern]]
match = "gpu memory exhausted"
kind = "oom"
EOF2
start_daemon
# Following live, from before the line is printed (the live path, not a replay from the store).
timeout 4 "$VG_BIN" events --follow --json --service custom-pat --kind sticky >"$WORK/follow.out" &
follower=$!
wait_state custom-pat running 5
pid=$(service_pid custom-pat)
wait_event custom-pat sticky 5
vg events --json --service custom-pat --kind sticky
expect_eq "$(jqo '.events[0].data.incident.engine')" user "engine"
expect_contains "$(jqo '.events[0].data.incident.signature')" "user:"
expect_contains "$(jqo '.events[0].data.incident.line')" "MYKERNEL-FAULT code=77"
expect_contains "$(jqo '.events[0].data.action')" "left running"
wait_event custom-pat oom 5
expect_contains "$(event_message custom-pat oom)" "custom-pat"
wait "$follower" || true
expect_contains "$(jq -r .data.incident.line <"$WORK/follow.out")" "MYKERNEL-FAULT code=77"
sleep 0.3
expect_eq "$(service_pid custom-pat)" "$pid" "pid"
kill -0 "$DAEMON_PID" || fail "the daemon died"
echo "PASS"
