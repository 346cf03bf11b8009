#!/usr/bin/env bash
# The I2V sizing table (docs/admission.md) through the job queue on a simulated 24 GiB GPU (2 GiB reserve):
# 512p/16f and 768p/24f are admitted and run; 1024p/32f is refused at once (422) with
# suggestions, and every suggestion then runs without an OOM. `vramguard job` shows estimate vs
# observed peak; the CLI's refusal exits 5 and prints the suggestions.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
make_gpus --total 24GiB
demo_service i2v "$PORT" | jobs_config
start_daemon
wait_state i2v running 20

note "512p/16f and 768p/24f: admitted, done"
submit_job i2v 512 16 10
expect_eq "$CODE" 202 "512p submit: $BODY"
J1=$JOB
submit_job i2v 768 24 10
expect_eq "$CODE" 202 "768p submit: $BODY"
J2=$JOB
expect_eq "$(wait_terminal "$J1")" done "512p job"
expect_eq "$(wait_terminal "$J2")" done "768p job"
vg job "$J2" --json
expect_rc 0
[ "$(jqo .observed_peak_bytes)" != null ] || fail "no observed peak: $OUT"
[ "$(jqo .result.ok)" == true ] || fail "no result: $OUT"
# The 768p job's activations are 7.71 GiB (examples/README.md): the observation says so.
obs=$(jqo .observed_peak_bytes)
[ "$obs" -gt $((7 * 1073741824)) ] && [ "$obs" -lt $((9 * 1073741824)) ] ||
  fail "observed peak $obs is not the 768p job's ~7.7 GiB"
vg job "$J2"
expect_contains "$OUT" "estimate:"
expect_contains "$OUT" "observed:  "

note "what was observed replaces the prior; an idempotency key deduplicates"
prior=$("$VG_BIN" job "$J2" --json | jq .estimate_bytes)
vg submit i2v resolution=768 frames=24 steps=5 --key once --json
expect_rc 0
K1=$(jqo .id)
learned=$(jqo .estimate_bytes)
[ "$learned" -lt "$prior" ] || fail "the estimate did not learn: $learned after $prior (prior) and an observed 7.7 GiB"
vg submit i2v resolution=768 frames=24 steps=5 --key once --json
expect_rc 0
expect_eq "$(jqo .id)" "$K1" "resubmission with the same key"
expect_eq "$(jqo .duplicate)" true "duplicate flag"
expect_eq "$(wait_terminal "$K1")" done "the keyed job"

note "1024p/32f: refused at once with suggestions"
t0=$(date +%s%N)
submit_job i2v 1024 32 100
t1=$(date +%s%N)
expect_eq "$CODE" 422 "1024p submit: $BODY"
[ $(((t1 - t0) / 1000000)) -lt 1000 ] || fail "the refusal took $(((t1 - t0) / 1000000)) ms"
n=$(printf '%s' "$BODY" | jq '.suggestions | length')
[ "$n" -ge 1 ] || fail "no suggestions: $BODY"
cap=$(printf '%s' "$BODY" | jq .capacity_bytes)
est=$(printf '%s' "$BODY" | jq .estimate_bytes)
[ "$est" -gt "$cap" ] || fail "refused although the estimate $est fits in $cap"
printf '%s' "$BODY" | jq -e '.error | test("fits")' >/dev/null || fail "no advice in the error: $BODY"
vg submit i2v resolution=1024 frames=32 steps=100
expect_rc 5
expect_contains "$ERR" "try: vramguard submit i2v"

note "every suggestion runs without an OOM"
ids=()
for s in $(printf '%s' "$BODY" | jq -c '.suggestions[].params'); do
  api POST /v1/jobs "{\"service\":\"i2v\",\"params\":$(printf '%s' "$s" | jq -c '.steps = 5')}"
  expect_eq "$CODE" 202 "suggestion $s: $BODY"
  ids+=("$(printf '%s' "$BODY" | jq -r .id)")
done
for id in "${ids[@]}"; do
  st=$(wait_terminal "$id" 60)
  [ "$st" == done ] || fail "suggested job $id ended $st: $("$VG_BIN" job "$id" --json)"
done
no_oom
vg events --json --kind job-refused
expect_eq "$(jqo '.events | length')" 2 "job-refused events (curl and CLI)"
vg status i2v --json
[ "$(jqo .jobs.done)" -ge 4 ] || fail "status has no job counts: $OUT"
echo "PASS"
