#!/usr/bin/env bash
# A user's pattern (config `patterns`) recognises a line the catalogue does not know, as the kind
# it names; with on_sticky = "ignore" the event is recorded and the service keeps running. A
# top-level [[pattern]] applies to every service.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
cat >"$WORK/svc.sh" <<'EOS'
sleep 0.3
echo "worker 3: MYKERNEL-FAULT code=77"
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
sleep 0.3
expect_eq "$(service_pid custom-pat)" "$pid" "pid"
echo "PASS"
