#!/usr/bin/env bash
# Job admission benchmarks (issue 5 point 7), measured side by side in one run; figures go to
# bench/results/jobs.md and are printed. Timings are reported, never asserted.
#
#  (a) durable submit throughput: `POST /v1/jobs` over the control socket from a load generator
#      (bench/submit_load.cc) vs SQLite's own durable insert rate on the same disk
#      (vg_store_bench --raw-sqlite-rate --rounds 1: a fresh WAL database, one INSERT per
#      transaction, synchronous=NORMAL like the daemon), over 1 connection, 1 connection with 16
#      requests pipelined (in flight at once) and 8 connections (one request in flight each). ROUNDS
#      rounds, interleaved: each API run (a fresh daemon, COUNT jobs queued behind a running one)
#      right after a raw SQLite run of COUNT inserts, its ratio taken against that one; medians
#      are reported. Beside each API run, the same load against bench/http_floor.cc (a server that
#      answers every request with a 202 and does nothing else) gives the machine's floor for that
#      load: API / floor is vramguard's share of a submission, floor / raw what any daemon that
#      answers over a socket could reach in that round. Every answer must be a 202, or the script fails (submit_load exits 1). The
#      daemon runs with `request_rate = 0` (no per-connection rate limit: the default, 200/s,
#      would answer a single connection's 201st request per second with a 429).
#  (b) a burst of mixed jobs on a simulated 24 GiB GPU shared by three demo services, three ways:
#      everything dispatched at once straight to the services, one job at a time (a global lock),
#      and through vramguard — completed jobs, OOMs, makespan and VRAM utilisation.
#
# Usage: bench/jobs_bench.sh [BUILD_DIR]   (needs vramguard, vg-simgpu, fake_nvml,
# vg-demo-service and bench/vg_store_bench built: cmake -DVRAMGUARD_BENCH=ON)
# Environment: COUNT (jobs per run, 3000), ROUNDS (3), CONNS (the loads of part (a): C for C
# connections, CxP for C connections with P requests pipelined on each; "1 1x16 8"),
# SKIP_A / SKIP_B (leave out a part).
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VG=$BUILD/vramguard
STORE_BENCH=$BUILD/bench/vg_store_bench
COUNT=${COUNT:-3000}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-1 1x16 8}
for b in "$VG" "$BUILD/vg-simgpu" "$BUILD/sim/libnvidia-ml.so.1" "$BUILD/vg-demo-service" "$STORE_BENCH"; do
  [ -x "$b" ] || [ -f "$b" ] || { echo "missing $b (build it first; vg_store_bench needs -DVRAMGUARD_BENCH=ON)" >&2; exit 2; }
done
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/vg-jobs-bench.XXXXXX")
export VRAMGUARD_FAKE_GPU_DIR=$WORK/gpu VRAMGUARD_NVML_LIBRARY=$BUILD/sim/libnvidia-ml.so.1
export VRAMGUARD_SOCKET=$WORK/vg.sock PATH="$BUILD:$PATH"
PIDS=()
DAEMON=""
cleanup() {
  [ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
c++ -O2 -std=c++20 -pthread "$ROOT/bench/submit_load.cc" -o "$WORK/submit_load"
c++ -O2 -std=c++20 -pthread "$ROOT/bench/http_floor.cc" -o "$WORK/http_floor"
"$BUILD/vg-simgpu" create --dir "$VRAMGUARD_FAKE_GPU_DIR" --total 24GiB >/dev/null
PORT=$((30000 + RANDOM % 20000))

service() { # NAME PORT MODEL STEP AUTOSTART
  cat <<SVC
[[service]]
name = "$1"
command = ["vg-demo-service", "--port", "$2", "--model", "$3", "--load-time", "100ms", "--step-time", "$4"]
gpus = [0]
vram = "$3"
port = $2
autostart = $5
ready = { log = "Running on local URL", timeout = "30s" }
stop = { grace = "5s", release = { http = "POST http://127.0.0.1:$2/free" } }
restart = { when = "no" }
jobs = { endpoint = "POST http://127.0.0.1:$2/generate", concurrency = 1 }
$(awk '/^\[\[service\.param\]\]/ { p = 1 } p' "$ROOT/examples/demo.toml")
SVC
}
daemon_up() { # config on stdin
  {
    printf '[daemon]\nstate_dir = "%s"\nsocket = "%s"\nreserve = "1GiB"\npoll = "20ms"\n' \
      "$WORK/state" "$VRAMGUARD_SOCKET"
    printf 'request_rate = 0\n\n'  # part (a) sends thousands of requests per second on one connection
    cat
  } >"$WORK/vg.toml"
  "$VG" up --config "$WORK/vg.toml" >>"$WORK/daemon.log" 2>&1 &
  DAEMON=$!
  for _ in $(seq 500); do "$VG" status --json >/dev/null 2>&1 && return 0; sleep 0.02; done
  echo "daemon did not start: $(tail "$WORK/daemon.log")" >&2
  exit 1
}
daemon_down() {
  kill -TERM "$DAEMON"
  wait "$DAEMON" 2>/dev/null || true
  DAEMON=""
  rm -rf "$WORK/state"
}
wait_running() {
  for _ in $(seq 1000); do
    [ "$("$VG" status "$1" --json | jq -r .state)" == running ] && return 0
    sleep 0.02
  done
  echo "$1 did not start" >&2
  exit 1
}
now_ms() { date +%s%3N; }

# A load of part (a): "C" (C connections) or "CxP" (P requests pipelined on each).
pipeline_of() { if [[ $1 == *x* ]]; then echo "${1#*x}"; else echo 1; fi; }
load_name() {
  local c=${1%x*} p
  p=$(pipeline_of "$1")
  printf '%s connection%s' "$c" "$([ "$c" == 1 ] || echo s)"
  [ "$p" == 1 ] || printf ', pipeline %s' "$p"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -z "${SKIP_A:-}" ]; then
echo "== (a) durable submit throughput: POST /v1/jobs vs raw SQLite inserts ($COUNT each; $ROUNDS rounds; connections: $CONNS)"
BODY='{"service":"i2v","params":{"resolution":512,"frames":16,"steps":20}}'
: >"$WORK/a.txt"
for round in $(seq "$ROUNDS"); do
  for conc in $CONNS; do
    raw=$("$STORE_BENCH" --dir "$WORK" --count "$COUNT" --rounds 1 --raw-sqlite-rate | jq -c .)
    "$WORK/http_floor" --socket "$WORK/floor.sock" &
    floor_pid=$!
    for _ in $(seq 100); do [ -S "$WORK/floor.sock" ] && break; sleep 0.01; done
    floor=$("$WORK/submit_load" --socket "$WORK/floor.sock" --count "$COUNT" \
      --concurrency "${conc%x*}" --pipeline "$(pipeline_of "$conc")" --keys --body "$BODY")
    kill -KILL "$floor_pid"
    wait "$floor_pid" 2>/dev/null || true
    rm -f "$WORK/floor.sock"
    # One long job occupies the service; every submission after it is durably queued.
    service i2v "$PORT" 8GiB 1s true >"$WORK/svc.toml"
    daemon_up <"$WORK/svc.toml"
    wait_running i2v
    curl -s --unix-socket "$VRAMGUARD_SOCKET" -H 'Content-Type: application/json' -X POST \
      -d '{"service":"i2v","params":{"resolution":512,"frames":16,"steps":200}}' http://x/v1/jobs >/dev/null
    if ! api=$("$WORK/submit_load" --socket "$VRAMGUARD_SOCKET" --count "$COUNT" \
      --concurrency "${conc%x*}" --pipeline "$(pipeline_of "$conc")" --keys --body "$BODY"); then
      echo "FAILED: not every submission was accepted (202): $api" >&2
      exit 1
    fi
    daemon_down
    echo "round $round, $(load_name "$conc"): api $api raw $raw floor $floor"
    echo "$conc $(echo "$api" | jq -r '[.per_s, .p50_ms, .p99_ms] | @tsv') $(echo "$raw" | jq -r '[.inserts_per_s, .p99_ms] | @tsv') $(echo "$floor" | jq -r '[.per_s, .p50_ms] | @tsv')" >>"$WORK/a.txt"
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
fi

# One row per load: medians over the rounds (a.txt: load api/s p50 p99 raw/s raw_p99 floor/s
# floor_p50).
submit_rows() {
  for conc in $CONNS; do
    local f=$WORK/a.txt
    local api raw ratio ratios p50 p99 rp99
    api=$(awk -v c="$conc" '$1 == c { print $2 }' "$f" | median)
    raw=$(awk -v c="$conc" '$1 == c { print $5 }' "$f" | median)
    ratio=$(awk -v c="$conc" '$1 == c { print $2 / $5 }' "$f" | median)
    ratios=$(awk -v c="$conc" '$1 == c { printf "%s%.0f", (n++ ? " / " : ""), 100 * $2 / $5 }' "$f")
    p50=$(awk -v c="$conc" '$1 == c { print $3 }' "$f" | median)
    p99=$(awk -v c="$conc" '$1 == c { print $4 }' "$f" | median)
    rp99=$(awk -v c="$conc" '$1 == c { print $6 }' "$f" | median)
    local floor fp50 of ofs fr
    floor=$(awk -v c="$conc" '$1 == c { print $7 }' "$f" | median)
    fp50=$(awk -v c="$conc" '$1 == c { print $8 }' "$f" | median)
    of=$(awk -v c="$conc" '$1 == c { print $2 / $7 }' "$f" | median)
    ofs=$(awk -v c="$conc" '$1 == c { printf "%s%.0f", (n++ ? " / " : ""), 100 * $2 / $7 }' "$f")
    fr=$(awk -v c="$conc" '$1 == c { printf "%s%.0f", (n++ ? " / " : ""), 100 * $7 / $5 }' "$f")
    printf '| %s | %.0f/s (p50 %s ms, p99 %s ms) | %.0f/s (p99 %s ms) | %.0f %% (rounds: %s %%) | %.0f/s (p50 %s ms) | %.0f %% (rounds: %s %%) | %s %% |\n' \
      "$(load_name "$conc")" "$api" "$p50" "$p99" "$raw" "$rp99" "$(awk -v r="$ratio" 'BEGIN { print 100 * r }')" "$ratios" \
      "$floor" "$fp50" "$(awk -v r="$of" 'BEGIN { print 100 * r }')" "$ofs" "$fr"
  done
}

if [ -n "${SKIP_B:-}" ]; then
  [ -z "${SKIP_A:-}" ] || exit 0
  echo "load average before / after: $LOAD_BEFORE / $LOAD_AFTER"
  echo "| load | API durable submits, median | raw SQLite inserts, median | API / raw, median (≥ 50 %) | floor (http_floor), median | API / floor | floor / raw, rounds |"
  echo "|---|---|---|---|---|---|---|"
  submit_rows
  exit 0
fi
echo "== (b) burst: 12 mixed jobs, three demo services (4 GiB models) on one simulated 24 GiB GPU"
MIX=("512 16" "768 24" "1024 24" "768 32" "512 32" "1024 16" "768 16" "1024 24" "512 16" "768 24" "768 32" "1024 16")
STEPS=40
STEP=20ms
PORTS=($((PORT + 1)) $((PORT + 2)) $((PORT + 3)))
sample_vram() { # "ms used_bytes" lines on stdout until killed
  while :; do
    echo "$(now_ms) $("$VG" gpus --json 2>/dev/null | jq '.gpus[0].used_bytes' 2>/dev/null || echo 0)"
    sleep 0.05
  done
}
# utilisation FILE T0 T1: mean used / total between T0 and T1, in percent.
utilisation() {
  awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b && $2 > 0 { s += $2; n++ }
    END { if (n) printf "%.0f", 100 * s / n / (24 * 1073741824); else print "?" }' "$1"
}
body() { echo "{\"resolution\":$1,\"frames\":$2,\"steps\":$STEPS}"; }
start_direct() { # N demo services without vramguard (default 3)
  DIRECT=()
  for p in "${PORTS[@]:0:${1:-3}}"; do
    "$BUILD/vg-demo-service" --port "$p" --model 4GiB --load-time 100ms --step-time "$STEP" \
      >"$WORK/direct.$p.log" 2>&1 &
    PIDS+=($!)
    DIRECT+=($!)
  done
  for p in "${PORTS[@]:0:${1:-3}}"; do
    for _ in $(seq 500); do curl -s "http://127.0.0.1:$p/health" >/dev/null && break; sleep 0.02; done
  done
}
stop_direct() {
  for p in "${DIRECT[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${DIRECT[@]}"; do wait "$p" 2>/dev/null || true; done
}
# direct_run N MODE: MODE "at-once" (all requests in parallel) or "one-by-one"; sets OK N OOM N U N M N
direct_run() {
  local n=$1 mode=$2 i p
  if [ "$mode" == at-once ]; then start_direct 3; else start_direct 1; fi
  sample_vram >"$WORK/v$n" &
  local sampler=$!
  local t0 t1 curls=()
  t0=$(now_ms)
  for i in "${!MIX[@]}"; do
    p=${PORTS[$((i % 3))]}
    if [ "$mode" == at-once ]; then
      curl -s -o "$WORK/r$n.$i" -w '%{http_code}\n' -X POST -d "$(body ${MIX[$i]})" \
        "http://127.0.0.1:$p/generate" >"$WORK/c$n.$i" &
      curls+=($!)
    else # one WebUI process, its jobs one after another
      curl -s -o "$WORK/r$n.$i" -w '%{http_code}\n' -X POST -d "$(body ${MIX[$i]})" \
        "http://127.0.0.1:${PORTS[0]}/generate" >"$WORK/c$n.$i"
    fi
  done
  for p in "${curls[@]}"; do wait "$p" || true; done
  t1=$(now_ms)
  kill "$sampler"
  wait "$sampler" 2>/dev/null || true
  printf -v "OK$n" '%s' "$(cat "$WORK"/c$n.* | grep -c '^200$' || true)"
  printf -v "OOM$n" '%s' "$(grep -l 'out of memory' "$WORK"/r$n.* 2>/dev/null | wc -l)"
  printf -v "U$n" '%s' "$(utilisation "$WORK/v$n" "$t0" "$t1")"
  printf -v "M$n" '%s' "$((t1 - t0))"
  stop_direct
}
direct_run 1 at-once
direct_run 2 one-by-one
# Run 3: the same services and jobs through vramguard.
for k in 0 1 2; do service "s$k" "${PORTS[$k]}" 4GiB "$STEP" true; done >"$WORK/svc.toml"
daemon_up <"$WORK/svc.toml"
for k in 0 1 2; do wait_running "s$k"; done
sample_vram >"$WORK/v3" &
SAMPLER=$!
t0=$(now_ms)
IDS=()
for i in "${!MIX[@]}"; do
  read -r res fr <<<"${MIX[$i]}"
  IDS+=("$(curl -s --unix-socket "$VRAMGUARD_SOCKET" -H 'Content-Type: application/json' -X POST \
    -d "{\"service\":\"s$((i % 3))\",\"params\":$(body "$res" "$fr")}" http://x/v1/jobs |
    jq -r '.id // empty')")
done
for id in "${IDS[@]}"; do
  [ -n "$id" ] || continue
  for _ in $(seq 6000); do
    case "$("$VG" job "$id" --json | jq -r .state)" in done | failed | cancelled | refused) break ;; esac
    sleep 0.02
  done
done
t1=$("$VG" jobs --json -n 100 | jq '[.jobs[].finished_unix_ms // 0] | max')
kill "$SAMPLER"
wait "$SAMPLER" 2>/dev/null || true
OK3=$("$VG" jobs --json -n 100 | jq '[.jobs[] | select(.state == "done")] | length')
OOM3=$( (grep -l OutOfMemoryError "$WORK"/state/logs/*.log 2>/dev/null || true) | wc -l)
OOMEV=$("$VG" events --json --kind oom -n 1000 | jq '.events | length')
U3=$(utilisation "$WORK/v3" "$t0" "$t1")
# The most jobs running at the same moment, and how often an idle service was swapped out.
PAR3=$("$VG" jobs --json -n 100 | jq '[.jobs[] | select(.started_unix_ms) | [.started_unix_ms, 1], [.finished_unix_ms, -1]]
  | sort_by(.[0], .[1]) | reduce .[] as $e ({c: 0, m: 0}; .c += $e[1] | .m = ([.m, .c] | max)) | .m')
SWAPS=$("$VG" events --json --kind swap-out -n 1000 | jq '.events | length')
M3=$((t1 - t0))
daemon_down

OUT=$ROOT/bench/results/jobs.md
mkdir -p "$ROOT/bench/results"
{
  echo "### Jobs (\`bench/jobs_bench.sh\`, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$ROOT" rev-parse --short HEAD))"
  if [ -z "${SKIP_A:-}" ]; then
    echo "Durable submits, $COUNT per run, $ROUNDS rounds interleaved with raw SQLite (WAL, synchronous=NORMAL); load average before / after: $LOAD_BEFORE / $LOAD_AFTER"
    echo
    echo "| load | API durable submits, median | raw SQLite inserts, median | API / raw, median (≥ 50 %) | floor (http_floor), median | API / floor | floor / raw, rounds |"
    echo "|---|---|---|---|---|---|---|"
    submit_rows
    echo
  fi
  echo "Burst: 12 mixed jobs (512p–1024p, 16–32 frames, $STEPS steps × $STEP), three demo services"
  echo "with 4 GiB models on one simulated 24 GiB GPU, reserve 1 GiB:"
  echo
  echo "| way | completed | OOMs | makespan | mean VRAM used |"
  echo "|---|---|---|---|---|"
  echo "| everything at once, straight to the services | $OK1/12 | $OOM1 | $M1 ms | $U1 % |"
  echo "| one at a time (a global lock: one WebUI process runs every job) | $OK2/12 | $OOM2 | $M2 ms | $U2 % |"
  echo "| through vramguard | $OK3/12 | $OOM3 (oom events: $OOMEV) | $M3 ms | $U3 % |"
  echo
  echo "vramguard: at most $PAR3 jobs ran at once; $SWAPS swap-out event(s) (cache release or stop of an idle service)."
} >"$OUT"
cat "$OUT"
