#!/usr/bin/env bash
# The GPU falls off the bus (Xid 79 in the output): the service is stopped, marked failed with
# that reason, the `device-lost` event is alerted, and it is NOT restarted (no loop).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
start_receiver hook
cat >"$WORK/lost.sh" <<'EOS'
vg-demo-service --port "$1" --model 2GiB --load-time 50ms &
sleep 0.5
echo 'NVRM: Xid (PCI:0000:01:00): 79, pid=1234, name=python3, GPU has fallen off the bus.'
wait
EOS
write_config <<EOF2
[[service]]
name = "i2v-oom_device_lost"
command = ["bash", "$WORK/lost.sh", "$PORT"]
gpus = [0]
vram = "3GiB"
port = $PORT
restart = { when = "always", backoff = "100ms..1s" }

[[alert]]
webhook = "http://127.0.0.1:$hook_PORT/"
EOF2
start_daemon
wait_event i2v-oom_device_lost device-lost 10
wait_state i2v-oom_device_lost failed 10
vg status i2v-oom_device_lost --json
expect_contains "$(jqo .detail)" "GPU is lost"
expect_eq "$(jqo .last_incident.kind)" device-lost "last incident"
sleep 1.5  # a restart loop would have started again by now
expect_eq "$(event_count i2v-oom_device_lost spawned)" 1 "spawns"
expect_eq "$("$VG_BIN" status i2v-oom_device_lost --json | jq -r .state)" failed "state"
expect_eq "$(gpu_used 0)" 0 "GPU used"
wait_hooks hook 1 5
expect_eq "$(hook_bodies hook | head -1 | jq -r .kind)" device-lost "alerted kind"
echo "PASS"
