#!/usr/bin/env bash
# Shutdown is a state (issue 10, finding 4): once the daemon got SIGTERM, a `start` or `restart`
# accepted while another service is still in its grace would start an instance that outlives the
# daemon. It is refused (exit 9, "shutting down"); a second SIGTERM skips the rest of the grace
# (SIGKILL now, still verified); the daemon exits leaving no process and no VRAM behind.
source "$(dirname "$0")/lib.sh"
make_gpus --total 24GiB --overhead 500MiB
write_config <<EOF2
[[service]]
name = "stubborn"
command = ["vg-simgpu", "run", "--alloc", "4GiB", "--ignore-term"]
gpus = [0]
vram = "5GiB"
stop = { grace = "60s" }

[[service]]
name = "later"
command = ["vg-simgpu", "run", "--alloc", "2GiB"]
gpus = [0]
vram = "3GiB"
autostart = false
EOF2
start_daemon
wait_state stubborn running 10
pid=$(service_pid stubborn)

kill -TERM "$DAEMON_PID"
for ((i = 0; i < 200; i++)); do
  [ "$("$VG_BIN" status stubborn --json 2>/dev/null | jq -r .state)" == stopping ] && break
  sleep 0.01
done
vg start later
expect_rc 9
expect_one_line_error
expect_contains "$ERR" "shutting down"
vg restart stubborn
expect_rc 9
alive "$pid" || fail "stubborn should still be in its 60 s grace"

# Ctrl-C again: no waiting out the grace.
t0=$(date +%s%N)
kill -TERM "$DAEMON_PID"
for ((i = 0; i < 500; i++)); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.01; done
kill -0 "$DAEMON_PID" 2>/dev/null && fail "daemon still running 5 s after the second SIGTERM"
set +e
wait "$DAEMON_PID"
rc=$?
set -e
DAEMON_PID=""
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
note "daemon exited $rc, ${elapsed_ms} ms after the second SIGTERM"
expect_eq "$rc" 0 "daemon exit status (everything verified)"
wait_gone "$pid" 1 || fail "stubborn outlived the daemon"
expect_eq "$(gpu_used 0)" 0 "GPU used after the daemon exited"
[ -z "$(scenario_processes)" ] || fail "processes left: $(scenario_processes)"
grep -q "SIGKILL" "$WORK/daemon.log" || fail "no SIGKILL in the daemon log"
echo "PASS"
