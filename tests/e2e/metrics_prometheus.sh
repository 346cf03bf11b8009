#!/usr/bin/env bash
# Prometheus metrics and the dashboard's history on a running daemon (simulated GPU): a job done, a
# job refused, a stop verified; then GET /metrics on the control socket and on the read-only
# metrics listener (no token) must pass `promtool check metrics`, carry the numbers the daemon
# saw, and every query of packaging/grafana/vramguard-dashboard.json must name an exported metric.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
[ -n "${VG_DEMO:-}" ] || { echo "SKIP: vg-demo-service not built"; exit 0; }
if ! command -v promtool >/dev/null; then
  [ -z "${CI:-}" ] || fail "promtool missing in CI: scripts/setup.sh --test installs Debian's prometheus"
  echo "SKIP: promtool not installed (scripts/setup.sh --test installs Debian's prometheus package)"
  exit 0
fi
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
MPORT=$((PORT + 1))
make_gpus --total 24GiB
{
  printf '[daemon]\nstate_dir = "%s"\nsocket = "%s"\nreserve = "2GiB"\npoll = "20ms"\n' \
    "$WORK/state" "$VRAMGUARD_SOCKET"
  printf 'metrics = "127.0.0.1:%s"\nhistory_interval = "100ms"\n\n' "$MPORT"
  demo_service i2v "$PORT"
} >"$WORK/vramguard.toml"
start_daemon
wait_state i2v running 20

note "a job that fits, one that cannot, a verified stop"
submit_job i2v 512 16 5
expect_eq "$CODE" 202 "submit: $BODY"
expect_eq "$(wait_terminal "$JOB")" done "the job"
submit_job i2v 1024 32 5
expect_eq "$CODE" 422 "an impossible job: $BODY"
sleep 0.3 # two history samples while the service holds its model
vg stop i2v
expect_rc 0

note "GET /metrics on the socket and on the metrics listener"
curl -sf --unix-socket "$VRAMGUARD_SOCKET" http://x/metrics >"$WORK/m_socket.txt" ||
  fail "GET /metrics on the socket"
curl -sf -D "$WORK/m_headers.txt" "http://127.0.0.1:$MPORT/metrics" >"$WORK/m.txt" ||
  fail "GET /metrics on the metrics listener"
grep -qi '^content-type: text/plain; version=0.0.4' "$WORK/m_headers.txt" ||
  fail "content type: $(cat "$WORK/m_headers.txt")"
promtool check metrics <"$WORK/m.txt" >"$WORK/promtool.out" 2>&1 ||
  fail "promtool check metrics: $(cat "$WORK/promtool.out")"
has() { grep -qxF "$1" "$WORK/m.txt" || fail "no line '$1' in: $(grep "${1%%\{*}" "$WORK/m.txt" | head -5)"; }
gpu='index="0",uuid="'$("$VG_BIN" gpus --json | jq -r '.gpus[0].uuid')'"'
grep -q "^vramguard_gpu_memory_total_bytes{$gpu,name=\"[^\"]*\"} 25769803776$" "$WORK/m.txt" ||
  fail "GPU total: $(grep vramguard_gpu_memory_total_bytes "$WORK/m.txt")"
has 'vramguard_service_state{service="i2v",state="stopped"} 1'
has 'vramguard_service_state{service="i2v",state="running"} 0'
has 'vramguard_jobs_finished_total{service="i2v",state="done"} 1'
has 'vramguard_jobs_refused_total{service="i2v"} 1'
has 'vramguard_job_run_seconds_count{service="i2v"} 1'
has 'vramguard_job_wait_seconds_count{service="i2v"} 1'
has 'vramguard_stop_release_seconds_count{service="i2v"} 1'
has 'vramguard_job_queue_depth 0'
grep -q '^vramguard_build_info{version="[^"]*"} 1$' "$WORK/m.txt" || fail "build info"

note "the metrics listener changes nothing and needs no token"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$MPORT/v1/services/i2v/start")
[ "$code" == 404 ] || fail "POST on the metrics listener answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/v1/status")
[ "$code" == 404 ] || fail "the control API is not served on the metrics listener ($code)"

note "the dashboard's history: who held the GPU, sample by sample"
api GET "/v1/history?seconds=60"
expect_eq "$CODE" 200 "history: $BODY"
n=$(printf '%s' "$BODY" | jq '.samples | length')
[ "$n" -ge 3 ] || fail "history has $n samples"
held=$(printf '%s' "$BODY" | jq '[.samples[].gpus[0].holders[] | select(.kind == "service" and .name == "i2v")] | length')
[ "$held" -ge 1 ] || fail "no sample shows i2v holding memory: $BODY"
api GET "/v1/history?seconds=abc"
expect_eq "$CODE" 400 "a bad span"

note "every Grafana query names an exported metric (and the check can fail)"
python3 "$ROOT/tests/metrics/check_dashboard.py" "$ROOT/packaging/grafana/vramguard-dashboard.json" \
  "$WORK/m.txt" || fail "the dashboard names a metric the daemon does not export"
sed 's/vramguard_job_queue_depth/vramguard_no_such_metric/' \
  "$ROOT/packaging/grafana/vramguard-dashboard.json" >"$WORK/bad.json"
if python3 "$ROOT/tests/metrics/check_dashboard.py" "$WORK/bad.json" "$WORK/m.txt" 2>/dev/null; then
  fail "the dashboard check accepted an unknown metric"
fi
stop_daemon
