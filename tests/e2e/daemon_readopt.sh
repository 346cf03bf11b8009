#!/usr/bin/env bash
# The daemon is SIGKILLed and started again: it re-adopts the running service (no duplicate),
# keeps tracking it, and notices when it exits.
source "$(dirname "$0")/lib.sh"
make_gpus --total 24GiB
write_config <<EOF2
[[service]]
name = "svc"
command = ["vg-simgpu", "run", "--alloc", "2GiB"]
gpus = [0]
vram = "2GiB"
restart = { when = "on-failure", backoff = "100ms..1s" }
EOF2
start_daemon
wait_state svc running
pid=$(service_pid svc)
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=""
alive "$pid" || fail "the service died with the daemon"

start_daemon
wait_state svc running
expect_eq "$(service_pid svc)" "$pid" "re-adopted pid"
wait_event svc adopted 5
count=$(vg ps --json; jqo '[.gpus[0].processes[] | select(.state == "running")] | length')
expect_eq "$count" 1 "instances after re-adoption"

kill -KILL "$pid"
wait_event svc crashed 5
wait_state svc running 10
pid2=$(service_pid svc)
[ "$pid2" != "$pid" ] || fail "not restarted"

# --keep-services: the daemon exits on SIGTERM and leaves the service for the next one to adopt.
stop_daemon
"$VG_BIN" up --config "$WORK/vramguard.toml" --keep-services >>"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 500); do "$VG_BIN" status --json >/dev/null 2>&1 && break; sleep 0.02; done
wait_state svc running
pid3=$(service_pid svc)
stop_daemon
alive "$pid3" || fail "--keep-services stopped the service"
start_daemon
wait_state svc running
expect_eq "$(service_pid svc)" "$pid3" "adopted after --keep-services"
echo "PASS"
