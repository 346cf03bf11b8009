#!/usr/bin/env bash
# A burst of mixed jobs for two services sharing one simulated 24 GiB GPU runs with zero OOMs:
# every job ends done, no `oom` event, no OOM line in any service's log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
make_gpus --total 24GiB
P2=$((PORT + 1))
{
  MODEL=4GiB VRAM=5GiB STEP=5ms demo_service a "$PORT"
  MODEL=4GiB VRAM=5GiB STEP=5ms demo_service b "$P2"
} | jobs_config
start_daemon
wait_state a running 20
wait_state b running 20

ids=()
mix=("512 16" "768 24" "1024 24" "768 32" "512 32" "1024 16" "768 16" "512 8")
for i in $(seq 0 15); do
  svc=a
  [ $((i % 2)) -eq 1 ] && svc=b
  read -r res fr <<<"${mix[$((i % 8))]}"
  submit_job "$svc" "$res" "$fr" 20
  expect_eq "$CODE" 202 "burst job $i: $BODY"
  ids+=("$JOB")
done
for id in "${ids[@]}"; do
  st=$(wait_terminal "$id" 90)
  [ "$st" == done ] || fail "job $id ended $st: $("$VG_BIN" job "$id" --json)"
done
no_oom
vg jobs --json
expect_eq "$(jqo '[.jobs[] | select(.state == "done")] | length')" 16 "done jobs"
echo "PASS"
