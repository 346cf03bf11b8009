#!/usr/bin/env bash
# Progress on every wait over a second (docs/cli.md, "Progress"): the daemon says what a start or
# a stop waits for (GET /v1/services/NAME "waiting": missing VRAM and its holders, the readiness
# check, the grace left before SIGKILL) and the CLI shows it on stderr; `reap` counts its grace
# down; with --json there is no progress at all.
source "$(dirname "$0")/lib.sh"
make_gpus --total 24GiB --overhead 500MiB
sim hog --gpu 0 --alloc 16GiB
write_config <<EOF2
[[service]]
name = "patient"
command = ["vg-simgpu", "run", "--alloc", "8GiB"]
gpus = [0]
vram = "8GiB"
vram_wait = "3s"
autostart = false

[[service]]
name = "slowready"
command = ["bash", "-c", "sleep 2; echo READY; exec sleep 600"]
ready = { log = "READY", timeout = "20s" }
autostart = false

[[service]]
name = "stubborn"
command = ["vg-simgpu", "run", "--alloc", "1GiB", "--ignore-term"]
gpus = [0]
vram = "1GiB"
stop = { grace = "3s" }
EOF2
start_daemon
wait_state stubborn running
expect_eq "$("$VG_BIN" status stubborn --json | jq -r .waiting)" null "nothing waits"
expect_eq "$("$VG_BIN" status stubborn --json | jq -r .stop_grace_s)" 3 "stop grace in status"

# bg_vg NAME ARGS…: vramguard in the background, stdout/stderr in $WORK/NAME.{out,err}; BG_PID.
bg_vg() {
  local name=$1
  shift
  "$VG_BIN" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  BG_PID=$!
}
# wait_waiting SERVICE FOR: until the service's `waiting.for` is FOR; prints the service JSON.
wait_waiting() {
  local i j
  for ((i = 0; i < 250; i++)); do
    j=$("$VG_BIN" status "$1" --json)
    [ "$(printf '%s' "$j" | jq -r '.waiting.for // empty')" == "$2" ] && { printf '%s' "$j"; return 0; }
    sleep 0.02
  done
  fail "$1 never waited for $2: $j"
}

note "start waiting for VRAM: what is missing, who holds it, how long is left"
bg_vg patient start patient
j=$(wait_waiting patient vram)
[ "$(printf '%s' "$j" | jq .waiting.missing_bytes)" -gt 0 ] || fail "no missing bytes: $j"
expect_eq "$(printf '%s' "$j" | jq ".waiting.gpus[0].holders | map(.pid) | index($hog_PID) != null")" true "hog named"
printf '%s' "$j" | jq -e '.waiting.left_s <= 3 and .waiting.waited_s >= 0' >/dev/null || fail "times: $j"
since=$(printf '%s' "$j" | jq .waiting.since_unix_ms)
[ $(( $(date +%s%3N) - since )) -lt 4000 ] || fail "since_unix_ms $since is not when the wait began"
set +e; wait "$BG_PID"; rc=$?; set -e
expect_eq "$rc" 5 "start that timed out waiting for VRAM"
err=$(cat "$WORK/patient.err")
expect_contains "$err" "patient: waiting for VRAM: "
expect_contains "$err" "missing on GPU 0; held by vg-simgpu (pid $hog_PID)"
expect_contains "$err" "gives up in"
expect_contains "$(cat "$WORK/patient.out")" "waiting for VRAM"  # the events still print
expect_eq "$("$VG_BIN" status patient --json | jq -r .waiting)" null "no wait after the timeout"

note "readiness wait"
bg_vg ready start slowready
j=$(wait_waiting slowready ready)
expect_eq "$(printf '%s' "$j" | jq -r .waiting.check)" "a log line matching /READY/" "readiness check"
set +e; wait "$BG_PID"; rc=$?; set -e
expect_eq "$rc" 0 "start of slowready"
expect_contains "$(cat "$WORK/ready.err")" "slowready: waiting for readiness: a log line matching /READY/"

note "stop: the grace counts down before SIGKILL"
bg_vg stop stop stubborn
j=$(wait_waiting stubborn exit)
expect_eq "$(printf '%s' "$j" | jq -r .waiting.signal)" SIGTERM "signal sent"
printf '%s' "$j" | jq -e '.waiting.left_s <= 3 and .waiting.processes >= 1' >/dev/null || fail "countdown: $j"
set +e; wait "$BG_PID"; rc=$?; set -e
expect_eq "$rc" 0 "stop of stubborn"
expect_contains "$(cat "$WORK/stop.err")" "stubborn: SIGTERM sent, "
expect_contains "$(cat "$WORK/stop.err")" "left before SIGKILL"

note "--json: one document, no progress"
vg start patient --json
expect_rc 5
[ -z "$ERR" ] || [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ] || fail "progress with --json: $ERR"
expect_eq "$(jqo .ok)" false "json result"

note "reap counts its grace down"
sim stub --gpu 0 --alloc 1GiB --ignore-term
vg reap --pid "$stub_PID" --grace 2s --yes
expect_rc 0
expect_contains "$ERR" "SIGTERM sent, "
expect_contains "$ERR" "s left before SIGKILL (1 process still running)"
sim stub2 --gpu 0 --alloc 1GiB --ignore-term
vg reap --pid "$stub2_PID" --grace 2s --yes --json
expect_rc 0
expect_eq "$ERR" "" "no progress with --json"
expect_eq "$(jqo '.result.killed[0]')" "$stub2_PID" "killed after the grace"
echo "PASS"
