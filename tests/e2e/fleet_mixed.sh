#!/usr/bin/env bash
# Three hosts of different sizes share one Redis: "small" (24 GiB simulated GPU: jobs up to the
# le12g class), "mid" (32 GiB: le20g), "big" (80 GiB: le64g). 200 mixed jobs (N) submitted
# round-robin on all three: 1024p/64f (~20.7 GiB, le24g) only on big, 1024p/32f (le16g) never on
# small, all done, 0 OOMs, each entry read once (or twice when the host that read it sized it into
# a larger class and moved it up: the reads add up to N plus those moves; never back), nothing
# pending or dead. Prints the spread, the moves and the makespan.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
source "$(dirname "$0")/fleet_lib.bash"
start_redis
FLEET_CONFIG_HOST=small
HOSTS=(small mid big)
declare -A SIZE=([small]=24GiB [mid]=32GiB [big]=80GiB)
N=${N:-200}
for h in "${HOSTS[@]}"; do
  IDEMPOTENT=true STEP=5ms demo_service i2v "$(free_port)" | host_config "$h" "${SIZE[$h]}"
  start_host "$h"
done
for h in "${HOSTS[@]}"; do hwait_state "$h" i2v running 30; done
wait_hosts 3

declare -A KIND
JOBS=()
t0=$(date +%s%N)
for ((i = 0; i < N; i++)); do
  h=${HOSTS[$((i % 3))]}
  case $((i % 6)) in
    0) k=huge; p="1024 64 10" ;;
    1 | 2) k=large; p="1024 32 10" ;;
    3) k=medium; p="768 24 10" ;;
    *) k=small; p="512 16 10" ;;
  esac
  # shellcheck disable=SC2086
  fleet_submit "$h" i2v $p
  expect_eq "$CODE" 202 "submit $i ($k) on $h: $BODY"
  KIND[$FJOB]=$k
  JOBS+=("$FJOB")
done
for j in "${JOBS[@]}"; do wait_fleet_job "$j" done 90; done
t1=$(date +%s%N)
declare -A RAN
for j in "${JOBS[@]}"; do
  h=$(fleet_job_field "$j" host)
  k=${KIND[$j]}
  RAN[$h.$k]=$((${RAN[$h.$k]:-0} + 1))
  [ "$k" == huge ] && [ "$h" != big ] && fail "1024p/64f job $j ran on $h"
  [ "$k" == large ] && [ "$h" == small ] && fail "1024p/32f job $j ran on small"
done
for h in "${HOSTS[@]}"; do
  echo "$h: huge ${RAN[$h.huge]:-0}, large ${RAN[$h.large]:-0}, medium ${RAN[$h.medium]:-0}, small ${RAN[$h.small]:-0}"
  host_no_oom "$h"
done
pulled=0 rerouted=0
for h in "${HOSTS[@]}"; do
  hapi "$h" GET /v1/fleet
  pulled=$((pulled + $(printf '%s' "$BODY" | jq '.counts.pulled + .counts.taken_over')))
  rerouted=$((rerouted + $(printf '%s' "$BODY" | jq '.counts.rerouted')))
done
# An entry is read once, or twice when the host that read it sized it into a larger class (each
# host's estimator learns on its own) and moved it there: never back and forth.
echo "entries read: $pulled for $N jobs; moved up a class: $rerouted"
expect_eq "$pulled" $((N + rerouted)) "entries read over all hosts"
expect_eq "$(fleet_json | jq '.waiting + .pending')" 0 "entries left"
expect_eq "$(fleet_json | jq '.dead_letters')" 0 "dead letters"
echo "$N jobs on 3 hosts: makespan $(((t1 - t0) / 1000000)) ms (submission included)"
echo "PASS"
