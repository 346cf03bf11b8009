#!/usr/bin/env bash
# Honest ETAs (docs/jobs.md, "ETA"): unknown until a job of the service has finished (and said
# so); then measured from the median of its recent jobs — a job at position 2 behind 1-second jobs
# waits about two seconds, never "~0s". `submit --wait` shows the position and ETA, then the
# running job's live VRAM, then the result; with --json, no progress.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
make_gpus --total 24GiB
demo_service i2v "$PORT" | jobs_config
start_daemon
wait_state i2v running 20

note "nothing measured yet: the ETA is unknown, and says why"
submit_job i2v 256 4 100 # 2 s at 20 ms per step
A=$JOB
wait_job "$A" running 5
submit_job i2v 256 4 50
B=$JOB
expect_eq "$(printf '%s' "$BODY" | jq -r .eta_s)" null "eta at submit with nothing measured"
vg job "$B" --json
expect_eq "$(jqo .eta_s)" null "eta with nothing measured"
expect_contains "$(jqo .eta_basis)" "unknown: no i2v job has finished"
vg job "$B"
expect_contains "$OUT" "eta unknown (no i2v job has finished since the daemon started)"
expect_eq "$(wait_terminal "$B" 20)" done "job B"

note "measured: position 2 behind 1-second jobs"
for i in 1 2; do submit_job i2v 256 4 50; wait_terminal "$JOB" 20 >/dev/null; done
submit_job i2v 256 4 50
C=$JOB
wait_job "$C" running 5
submit_job i2v 256 4 50
D=$JOB
submit_job i2v 256 4 50
E=$JOB
vg job "$E" --json
expect_eq "$(jqo .position)" 2 "position of E"
eta=$(jqo .eta_s)
[ "$eta" != null ] || fail "no ETA after jobs finished: $OUT"
# One job ahead (about a second) plus the rest of the running one: at least about a second.
awk -v e="$eta" 'BEGIN { exit !(e >= 0.9 && e < 10) }' || fail "E's ETA is ${eta}s: $OUT"
expect_contains "$(jqo .eta_basis)" "median of the last"
vg job "$E"
expect_contains "$OUT" "eta ~"
vg top --once
expect_rc 0
expect_contains "$(printf '%s\n' "$OUT" | grep -E "^ +$E +i2v +queued")" "~" "E's ETA in top"
vg top --once --json
expect_eq "$(jqo ".jobs[] | select(.id == $E) | .eta_s | type")" number "E's ETA in top --json"
expect_eq "$(wait_terminal "$E" 20)" done "job E"

note "submit --wait: position and ETA, then running with live VRAM, then the result"
submit_job i2v 256 4 100
F=$JOB
wait_job "$F" running 5
vg submit i2v resolution=512 frames=16 steps=200 --wait
expect_rc 0
expect_contains "$ERR" "queued, position 1, eta ~"
expect_contains "$ERR" "running on GPU 0"
expect_contains "$ERR" "VRAM "
expect_contains "$OUT" " done"
submit_job i2v 256 4 100
wait_job "$JOB" running 5
vg submit i2v resolution=256 frames=4 steps=50 --wait --json
expect_rc 0
expect_eq "$ERR" "" "no progress with --json"
expect_eq "$(jqo .state)" done "the --json result"
no_oom
echo "PASS"
