# Helpers shared by the job scenarios (tests/e2e/jobs_*.sh), sourced after lib.sh: a config with
# demo services that take jobs, the job API over curl, waiting for job states.

# jobs_config [RESERVE]: the [daemon] section (reserve 2 GiB by default) then stdin.
jobs_config() {
  {
    printf '[daemon]\nstate_dir = "%s"\nsocket = "%s"\nreserve = "%s"\npoll = "20ms"\n\n' \
      "$WORK/state" "$VRAMGUARD_SOCKET" "${1:-2GiB}"
    cat
  } >"$WORK/vramguard.toml"
}

# demo_job_interface: the demo's [[service.param]] and [[service.sizing]] tables, as
# examples/demo.toml declares them (one source for the demo, the tests and the benchmarks).
demo_job_interface() {
  awk '/^\[\[service\.param\]\]/ { p = 1 } p' "$(dirname "${BASH_SOURCE[0]}")/../../examples/demo.toml"
}

# demo_service NAME PORT [EXTRA KEYS…]: a [[service]] running vg-demo-service with the design.md
# job interface (examples/demo.toml). Env: MODEL (8GiB), STEP (20ms per step), AUTOSTART (true).
demo_service() {
  local name=$1 port=$2
  shift 2
  cat <<EOF3
[[service]]
name = "$name"
command = ["vg-demo-service", "--port", "$port", "--model", "${MODEL:-8GiB}", "--load-time", "100ms", "--step-time", "${STEP:-20ms}"]
gpus = [0]
vram = "${VRAM:-9GiB}"
port = $port
autostart = ${AUTOSTART:-true}
ready = { log = "Running on local URL", timeout = "30s" }
stop = { grace = "5s", release = { http = "POST http://127.0.0.1:$port/free" } }
restart = { when = "no" }
jobs = { endpoint = "POST http://127.0.0.1:$port/generate", concurrency = 1, idempotent = ${IDEMPOTENT:-false}, timeout = "60s", max_payload = "64KiB" }
$(printf '%s\n' "$@")

$(demo_job_interface)

EOF3
}

# proxy_route LISTEN_PORT MATCH [KEY = VALUE lines…]: a [service.proxy] on 127.0.0.1:LISTEN_PORT
# with one job route for MATCH; the demo's parameters from its JSON body ("/resolution", …)
# unless a `params = …` line is given.
proxy_route() {
  local listen=$1 match=$2
  shift 2
  printf '[service.proxy]\nlisten = "127.0.0.1:%s"\n\n[[service.proxy.route]]\n' "$listen"
  printf 'match = "%s"\n' "$match"
  local line params=0
  for line in "$@"; do
    printf '%s\n' "$line"
    [[ $line == params* ]] && params=1
  done
  ((params)) ||
    printf 'params = { resolution = "/resolution", frames = "/frames", steps = "/steps" }\n'
}

# api METHOD PATH [BODY]: the control API; sets CODE and BODY.
api() {
  local method=$1 path=$2 data=${3:-}
  local args=(-s --unix-socket "$VRAMGUARD_SOCKET" -o "$WORK/api_body" -w '%{http_code}' -X "$method")
  [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
  CODE=$(curl "${args[@]}" "http://x$path") || true  # 000: no answer (the check that follows names it)
  BODY=$(cat "$WORK/api_body")
}

# submit_job SERVICE RES FRAMES STEPS: POST /v1/jobs; sets CODE, BODY and JOB (the id).
submit_job() {
  api POST /v1/jobs "{\"service\":\"$1\",\"params\":{\"resolution\":$2,\"frames\":$3,\"steps\":$4}}"
  JOB=$(printf '%s' "$BODY" | jq -r '.id // empty')
}

job_state() { "$VG_BIN" job "$1" --json | jq -r .state; }

# wait_job ID STATE [SECONDS]
wait_job() {
  local i st
  for ((i = 0; i < ${3:-30} * 20; i++)); do
    st=$(job_state "$1")
    [ "$st" == "$2" ] && return 0
    sleep 0.05
  done
  fail "job $1 did not reach $2 (is $st): $("$VG_BIN" job "$1" --json); $(tail -20 "$WORK/daemon.log")"
}

# wait_terminal ID [SECONDS]: prints the terminal state.
wait_terminal() {
  local i st
  for ((i = 0; i < ${2:-30} * 20; i++)); do
    st=$(job_state "$1")
    case "$st" in done | failed | cancelled | refused) echo "$st"; return 0 ;; esac
    sleep 0.05
  done
  fail "job $1 did not end (is $st): $(tail -20 "$WORK/daemon.log")"
}

# no_oom: neither an `oom` event nor PyTorch's OOM line in any service log.
no_oom() {
  local n
  n=$("$VG_BIN" events --json --kind oom -n 1000 | jq '.events | length')
  [ "$n" -eq 0 ] || fail "$n oom event(s)"
  if grep -l "OutOfMemoryError" "$WORK"/state/logs/*.log 2>/dev/null; then
    fail "a service printed an OOM: $(grep -h OutOfMemoryError "$WORK"/state/logs/*.log | head -2)"
  fi
}
