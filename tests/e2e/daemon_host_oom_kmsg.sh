#!/usr/bin/env bash
# The kernel's OOM killer kills a service's process for host RAM (a kmsg record in a regular file
# standing in for /dev/kmsg): the service gets a host-oom event naming the process — whether the
# kernel's record is read before the daemon handled the exit or after it — and its exit is
# handled as any exit (restarted by its policy), never as a VRAM matter. A kill of a process of no
# service is no event.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --gpus 1 --total 24GiB
: >"$WORK/kmsg"
write_config <<EOF2
kernel_log = "$WORK/kmsg"

[[service]]
name = "webui"
command = ["vg-demo-service", "--port", "$PORT", "--model", "2GiB", "--load-time", "50ms"]
gpus = [0]
vram = "3GiB"
port = $PORT
restart = { when = "always", backoff = "100ms..1s" }
EOF2
start_daemon
wait_state webui running 10
seq=100
kmsg() {  # MESSAGE: one kernel record, as /dev/kmsg gives it
  seq=$((seq + 1))
  printf '3,%s,%s,-;%s\n' "$seq" "$((912345678 + seq))" "$1" >>"$WORK/kmsg"
}

note "the kill is read after the daemon handled the exit (the usual order)"
pid=$(service_pid webui)
kill -9 "$pid"
wait_event webui crashed 10
kmsg "Out of memory: Killed process $pid (vg-demo-service) total-vm:4194304kB, anon-rss:2097152kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4096kB oom_score_adj:0"
wait_event webui host-oom 10
msg=$(event_message webui host-oom)
expect_contains "$msg" "OOM killer killed vg-demo-service (pid $pid)"
vg events --json --service webui --kind host-oom
expect_eq "$(jqo '.events[0].data.incident.signature')" kernel-oom-killed-process "signature"
expect_contains "$(jqo '.events[0].data.action')" "the kernel killed it for host memory (RAM), so no VRAM action"
wait_state webui running 10

note "the kill is read before the exit is handled: the running instance's main process"
pid2=$(service_pid webui)
[ "$pid2" != "$pid" ] || fail "the service was not restarted"
kmsg "Memory cgroup out of memory: Killed process $pid2 (vg-demo-service) total-vm:4194304kB"
kill -9 "$pid2"
for _ in $(seq 250); do
  [ "$(event_count webui host-oom)" -ge 2 ] && break
  sleep 0.02
done
expect_eq "$(event_count webui host-oom)" 2 "host-oom events"

note "a kill of a process of no service is no event"
sleep 30 &
stranger=$!
kmsg "Out of memory: Killed process $stranger (sleep) total-vm:1000kB"
kill -9 "$stranger"
sleep 0.6
expect_eq "$(event_count webui host-oom)" 2 "host-oom events after a stranger's kill"
vg events --json --kind host-oom
expect_eq "$(jqo '.events | length')" 2 "host-oom events anywhere"
wait_state webui running 10
echo "PASS"
