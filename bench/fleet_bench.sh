#!/usr/bin/env bash
# Fleet benchmarks (issue 16 point 7) on simulated GPUs, one machine; figures printed and written
# to bench/results/fleet.md. Timings are reported, never asserted.
#
#  (a) throughput: N mixed jobs (512p/16f, 768p/24f, 1024p/32f, 1024p/64f; 10 steps of 10 ms)
#      submitted on one host into the fleet, run by 1, 2 and 3 identical hosts (48 GiB each):
#      makespan (first submission → last job done), scaling efficiency, Redis commands per job
#      (INFO's total_commands_processed over the run ÷ N: the polling included).
#  (b) dispatch latency: SEQ jobs one at a time (each submitted once the previous one is done),
#      submission → the job's start on its host, p50/p99: one fleet host vs the same host without
#      [fleet] (the local queue).
#  (c) the same N jobs on three hosts of 48, 32 and 24 GiB: through the fleet vs a plain Redis
#      list queue (LPUSH, one BRPOP worker per host POSTing straight to its service, no VRAM
#      check): makespan, jobs done, OOMs, jobs that got no answer (the service was down after an
#      OOM: the daemon acts on it, docs/oom.md).
#
# Usage: bench/fleet_bench.sh [BUILD_DIR]   (vramguard, vg-simgpu, fake_nvml, vg-demo-service)
# Environment: N (60), SEQ (20).
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export VG_BIN=$BUILD/vramguard VG_SIMGPU=$BUILD/vg-simgpu VG_FAKE_NVML=$BUILD/sim/libnvidia-ml.so.1
export VG_DEMO=$BUILD/vg-demo-service
N=${N:-60}
SEQ=${SEQ:-20}
OUT=$ROOT/bench/results/fleet.md
source "$ROOT/tests/e2e/lib.sh"
source "$ROOT/tests/e2e/jobs_lib.bash"
source "$ROOT/tests/e2e/fleet_lib.bash"

MIX=("512 16 10" "768 24 10" "1024 32 10" "1024 64 10")
now_ms() { echo $(($(date +%s%N) / 1000000)); }
redis_cmds() { redis-cli -p "$REDIS_PORT" info stats | tr -d '\r' | awk -F: '/^total_commands_processed/ {print $2}'; }
pct() { sort -n | awk -v p="$1" '{a[NR] = $1} END {i = int((NR - 1) * p + 0.5) + 1; print a[i]}'; }

# fleet_up NAME:SIZE…: a fresh Redis and these hosts, services running, all registered.
fleet_up() {
  local spec h
  REDIS_PORT=""
  start_redis
  for spec in "$@"; do
    h=${spec%%:*}
    IDEMPOTENT=true STEP=10ms demo_service i2v "$(free_port)" | host_config "$h" "${spec#*:}"
    start_host "$h"
  done
  for spec in "$@"; do hwait_state "${spec%%:*}" i2v running 30; done
  FLEET_CONFIG_HOST=${1%%:*}
  wait_hosts $#
}

fleet_down() {
  local h
  for h in "${!HOST_PID[@]}"; do
    [ -n "${HOST_PID[$h]}" ] && kill -TERM "${HOST_PID[$h]}" 2>/dev/null
  done
  for h in "${!HOST_PID[@]}"; do
    [ -n "${HOST_PID[$h]}" ] && wait "${HOST_PID[$h]}" 2>/dev/null
    rm -rf "${WORK:?}/$h"
  done
  HOST_PID=()
  kill -KILL "$REDIS_PID" 2>/dev/null || true
  wait "$REDIS_PID" 2>/dev/null || true
  REDIS_PID=""
}

# run_fleet_jobs HOST: N jobs submitted on HOST; sets MAKESPAN_MS and CMDS_PER_JOB.
run_fleet_jobs() {
  local i jobs=() c0 t0 j
  c0=$(redis_cmds)
  t0=$(now_ms)
  for ((i = 0; i < N; i++)); do
    # shellcheck disable=SC2086
    fleet_submit "$1" i2v ${MIX[$((i % ${#MIX[@]}))]}
    [ "$CODE" == 202 ] || fail "submit: $CODE $BODY"
    jobs+=("$FJOB")
  done
  for j in "${jobs[@]}"; do wait_fleet_job "$j" done 300; done
  MAKESPAN_MS=$(($(now_ms) - t0))
  CMDS_PER_JOB=$(((($(redis_cmds) - c0)) / N))
}

{
  echo "# Fleet benchmarks ($(date -u +%Y-%m-%d), $(nproc) cores, simulated GPUs; bench/fleet_bench.sh)"
  echo
  echo "## (a) throughput: $N mixed jobs, identical 48 GiB hosts"
  echo
  echo "| hosts | makespan | jobs/s | scaling efficiency | Redis commands per job |"
  echo "|---|---|---|---|---|"
} >"$OUT"
base=""
for H in 1 2 3; do
  specs=()
  for ((k = 1; k <= H; k++)); do specs+=("h$k:48GiB"); done
  fleet_up "${specs[@]}"
  run_fleet_jobs h1
  fleet_down
  [ -z "$base" ] && base=$MAKESPAN_MS
  eff=$(awk -v b="$base" -v m="$MAKESPAN_MS" -v h="$H" 'BEGIN {printf "%.0f %%", 100 * b / (m * h)}')
  rate=$(awk -v n="$N" -v m="$MAKESPAN_MS" 'BEGIN {printf "%.1f", n * 1000 / m}')
  echo "| $H | $MAKESPAN_MS ms | $rate | $eff | $CMDS_PER_JOB |" | tee -a "$OUT"
done

# (b) latency, one job at a time.
lat_run() { # MODE: fleet | local
  local i t0 id st lat=()
  for ((i = 0; i < SEQ; i++)); do
    t0=$(now_ms)
    if [ "$1" == fleet ]; then
      fleet_submit h1 i2v 512 16 5
      wait_fleet_job "$FJOB" done 30
      id=$(fleet_job_field "$FJOB" local_id)
    else
      hapi h1 POST /v1/jobs '{"service":"i2v","params":{"resolution":512,"frames":16,"steps":5}}'
      id=$(printf '%s' "$BODY" | jq -r .id)
      for ((k = 0; k < 600; k++)); do
        st=$(hvg h1 job "$id" --json | jq -r .state)
        [ "$st" == done ] && break
        sleep 0.05
      done
    fi
    lat+=($(($(hvg h1 job "$id" --json | jq .started_unix_ms) - t0)))
  done
  printf '%s\n' "${lat[@]}" >"$WORK/lat"
  echo "$(pct 0.5 <"$WORK/lat") $(pct 0.99 <"$WORK/lat")"
}
fleet_up h1:48GiB
read -r f50 f99 < <(lat_run fleet)
fleet_down
# The same host without [fleet].
mkdir -p "$WORK/h1"
"$VG_SIMGPU" create --dir "$WORK/h1/gpu" --total 48GiB >/dev/null
{
  printf '[daemon]\nstate_dir = "%s"\nsocket = "%s"\nreserve = "2GiB"\npoll = "20ms"\n\n' \
    "$WORK/h1/state" "$WORK/h1/vg.sock"
  IDEMPOTENT=true STEP=10ms demo_service i2v "$(free_port)"
} >"$WORK/h1/vramguard.toml"
start_host h1
hwait_state h1 i2v running 30
read -r l50 l99 < <(lat_run local)
fleet_down
{
  echo
  echo "## (b) submission → start, $SEQ jobs one at a time (ms)"
  echo
  echo "| queue | p50 | p99 |"
  echo "|---|---|---|"
  echo "| local (no [fleet]) | $l50 | $l99 |"
  echo "| fleet, 1 host | $f50 | $f99 |"
} | tee -a "$OUT"

# (c) fleet vs a plain list queue on 48/32/24 GiB hosts.
fleet_up big:48GiB mid:32GiB small:24GiB
run_fleet_jobs small
fleet_ms=$MAKESPAN_MS
fleet_ooms=0
for h in big mid small; do
  fleet_ooms=$((fleet_ooms + $(hvg "$h" events --json --kind oom -n 1000 | jq '.events | length')))
done
# The list queue: the same services (the daemons keep them running), one worker per host.
declare -A SVC_PORT
for h in big mid small; do
  SVC_PORT[$h]=$(grep -o '"--port", "[0-9]*"' "$WORK/$h/vramguard.toml" | grep -o '[0-9]*')
done
redis-cli -p "$REDIS_PORT" del vg:list >/dev/null
t0=$(now_ms)
for ((i = 0; i < N; i++)); do
  read -r r f s <<<"${MIX[$((i % ${#MIX[@]}))]}"
  redis-cli -p "$REDIS_PORT" lpush vg:list "{\"resolution\":$r,\"frames\":$f,\"steps\":$s}" >/dev/null
done
workers=()
for h in big mid small; do
  (
    while job=$(redis-cli -p "$REDIS_PORT" --raw brpop vg:list 1 | tail -1) && [ -n "$job" ]; do
      code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:${SVC_PORT[$h]}/generate" \
        -H 'Content-Type: application/json' --data-binary "$job") || true
      echo "$code" >>"$WORK/list.$h"
    done
  ) &
  workers+=($!)
done
for w in "${workers[@]}"; do wait "$w" || true; done
list_ms=$(($(now_ms) - t0))
list_done=$(cat "$WORK"/list.* | grep -c '^200$' || true)
list_oom=$(cat "$WORK"/list.* | grep -c '^500$' || true)
# No answer at all: the service was down (the daemon handles its OOM: docs/oom.md) when the job came.
list_lost=$(cat "$WORK"/list.* | grep -vc '^[25]00$' || true)
fleet_down
{
  echo
  echo "## (c) $N mixed jobs on hosts of 48, 32 and 24 GiB"
  echo
  echo "| queue | makespan | jobs done | OOMs | no answer (service down) |"
  echo "|---|---|---|---|---|"
  echo "| vramguard fleet | $fleet_ms ms | $N | $fleet_ooms | 0 |"
  echo "| Redis list (LPUSH/BRPOP), no VRAM check | $list_ms ms | $list_done | $list_oom | $list_lost |"
} | tee -a "$OUT"
echo "written: $OUT"
