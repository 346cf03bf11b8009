#!/usr/bin/env bash
# The kernel log says GPU 0 fell off the bus (an Xid 79 kmsg record on a FIFO standing in for
# /dev/kmsg, naming the simulated GPU 0's PCI bus): the service pinned to GPU 0 is stopped, marked
# failed with the reason, never restarted, and an alert command receives the device-lost event;
# the service on GPU 1 keeps running (an Xid 48 for it is a gpu-error event only). An Xid 79 for
# a GPU no service is pinned to is one daemon-wide event. Then: a daemon whose kernel log cannot
# be read says so in one line and works.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --gpus 3 --total 24GiB --overhead 500MiB
PORT2=$(free_port)
mkfifo "$WORK/kmsg"
write_config <<EOF2
kernel_log = "$WORK/kmsg"

[[service]]
name = "lost-gpu0"
command = ["vg-demo-service", "--port", "$PORT", "--model", "2GiB", "--load-time", "50ms"]
gpus = [0]
vram = "3GiB"
port = $PORT
restart = { when = "always", backoff = "100ms..1s" }

[[service]]
name = "fine-gpu1"
command = ["vg-demo-service", "--port", "$PORT2", "--model", "2GiB", "--load-time", "50ms"]
gpus = [1]
vram = "3GiB"
port = $PORT2

[[alert]]
command = ["bash", "-c", "cat >> '$WORK/command.alerts'; echo >> '$WORK/command.alerts'"]
kinds = ["device-lost", "gpu-error"]
EOF2
start_daemon
wait_state lost-gpu0 running 10
wait_state fine-gpu1 running 10
expect_contains "$(cat "$WORK/daemon.log")" "kernel log: following $WORK/kmsg"
note "the simulated GPUs' bus ids come from NVML (bus index+1)"

# What the driver logs when a GPU falls off the bus: the Xid, then the bus line (one cause).
printf '%s\n' \
  '3,5001,912345678,-;NVRM: Xid (PCI:0000:01:00): 79, pid=4242, name=python3, GPU has fallen off the bus.' \
  ' SUBSYSTEM=pci' \
  '3,5002,912345679,-;NVRM: GPU 0000:01:00.0: GPU has fallen off the bus.' >"$WORK/kmsg"
wait_event lost-gpu0 device-lost 10
wait_state lost-gpu0 failed 10
vg events --json --service lost-gpu0 --kind device-lost
expect_eq "$(jqo '.events | length')" 1 "device-lost events (the bus line is the same cause)"
expect_contains "$(jqo '.events[0].message')" "GPU 0 fell off the bus (Xid 79): restarting will not help"
expect_eq "$(jqo '.events[0].data.incident.pci_bus')" "0000:01:00" "pci_bus"
expect_eq "$(jqo '.events[0].data.incident.gpu')" 0 "gpu"
expect_eq "$(jqo '.events[0].data.incident.signature')" "xid-79" "signature"
vg status lost-gpu0 --json
expect_contains "$(jqo .detail)" "GPU is lost"
expect_eq "$(jqo .last_incident.kind)" device-lost "last incident"
sleep 1.5  # a restart loop would have started again by now
expect_eq "$(event_count lost-gpu0 spawned)" 1 "spawns of lost-gpu0"
expect_eq "$("$VG_BIN" status lost-gpu0 --json | jq -r .state)" failed "state"
expect_eq "$(gpu_used 0)" 0 "GPU 0 used"
for ((i = 0; i < 250; i++)); do grep -q device-lost "$WORK/command.alerts" 2>/dev/null && break; sleep 0.02; done
expect_eq "$(grep -v '^$' "$WORK/command.alerts" | head -1 | jq -r .kind)" device-lost "alerted kind"
expect_eq "$(grep -v '^$' "$WORK/command.alerts" | head -1 | jq -r .service)" lost-gpu0 "alerted service"
expect_eq "$("$VG_BIN" status fine-gpu1 --json | jq -r .state)" running "the service on GPU 1"

note "Xid 48 on GPU 1: a gpu-error event, no restart"
printf '%s\n' '3,5003,912345680,-;NVRM: Xid (PCI:0000:02:00): 48, pid=77, name=python3, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 6, subpartition 0.' >"$WORK/kmsg"
wait_event fine-gpu1 gpu-error 10
vg events --json --service fine-gpu1 --kind gpu-error
expect_contains "$(jqo '.events[0].message')" "GPU 1 reported double-bit ECC error (Xid 48)"
expect_eq "$(jqo '.events[0].data.incident.xid')" 48 "xid"
sleep 0.5
expect_eq "$("$VG_BIN" status fine-gpu1 --json | jq -r .state)" running "the service on GPU 1"
expect_eq "$(event_count fine-gpu1 spawned)" 1 "spawns of fine-gpu1"

note "Xid 79 on GPU 2, where no service is pinned: one daemon-wide event"
printf '%s\n' '3,5004,912345681,-;NVRM: Xid (PCI:0000:03:00): 79, pid=0, name=<unknown>, GPU has fallen off the bus.' >"$WORK/kmsg"
for ((i = 0; i < 250; i++)); do
  n=$("$VG_BIN" events --json --kind device-lost | jq '[.events[] | select((.service // "") == "")] | length')
  [ "$n" -ge 1 ] && break
  sleep 0.02
done
vg events --json --kind device-lost
expect_eq "$(jqo '[.events[] | select((.service // "") == "")] | length')" 1 "daemon-wide device-lost events"
expect_contains "$(jqo '[.events[] | select((.service // "") == "")][0].message')" "GPU 2 fell off the bus (Xid 79)"
expect_contains "$(jqo '[.events[] | select((.service // "") == "")][0].data.action')" "no service is pinned to GPU 2"
expect_eq "$("$VG_BIN" status fine-gpu1 --json | jq -r .state)" running "the service on GPU 1"

note "Xid 79 on a bus no GPU has: applied to every GPU, and the action says so"
printf '%s\n' '3,5005,912345682,-;NVRM: Xid (PCI:0000:9a:00): 79, pid=0, name=<unknown>, GPU has fallen off the bus.' >"$WORK/kmsg"
wait_event fine-gpu1 device-lost 10
wait_state fine-gpu1 failed 10
vg events --json --service fine-gpu1 --kind device-lost
expect_contains "$(jqo '.events[0].data.action')" "matches no GPU vramguard knows: applied to every GPU"
expect_eq "$(event_count lost-gpu0 device-lost)" 2 "the failed service's events (recorded, action none)"
stop_daemon

note "an unreadable kernel log: one line at start, the daemon works"
sed -i "s|^kernel_log = .*|kernel_log = \"$WORK/no-such-kmsg\"|" "$WORK/vramguard.toml"
: >"$WORK/daemon.log"
start_daemon
wait_state fine-gpu1 running 10
expect_eq "$(grep -c 'device-lost detection from the kernel log is off' "$WORK/daemon.log")" 1 "notices"
expect_contains "$(cat "$WORK/daemon.log")" "$WORK/no-such-kmsg does not exist"
echo "PASS"
