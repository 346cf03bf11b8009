# Helpers of the fleet scenarios (tests/e2e/fleet_*.sh), sourced after lib.sh and jobs_lib.bash:
# a redis-server of the scenario's own on a free loopback port (no persistence), and several
# daemons ("hosts") on this machine, each with its own simulated GPU, state dir, socket and
# service ports. Exits 77 (CTest: skipped) with the reason where redis-server is not installed.

REDIS_BIN=${REDIS_BIN:-$(command -v redis-server || true)}
if [ -z "$REDIS_BIN" ]; then
  echo "SKIP: redis-server is not installed (scripts/setup.sh installs it)"
  exit 77
fi

REDIS_PID=""
declare -A HOST_PID HOST_PORT
LEASE=${LEASE:-2s}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_redis [ARGS…]: on REDIS_PORT when set (a restart), else a free port; ARGS override the
# defaults (no persistence), e.g. --appendonly yes --dir DIR.
start_redis() {
  REDIS_PORT=${REDIS_PORT:-$(free_port)}
  "$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --logfile "$WORK/redis.log" "$@" &
  REDIS_PID=$!
  local i
  for ((i = 0; i < 250; i++)); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.02
  done
  fail "redis-server did not answer on $REDIS_PORT: $(cat "$WORK/redis.log")"
}

# host_config NAME GPU_TOTAL: a host's config: [daemon] in $WORK/NAME, [fleet] on the scenario's
# Redis, then stdin (its services).
host_config() {
  local name=$1 dir="$WORK/$1"
  mkdir -p "$dir"
  "$VG_SIMGPU" create --dir "$dir/gpu" --total "$2" >/dev/null
  {
    printf '[daemon]\nstate_dir = "%s"\nsocket = "%s"\nreserve = "2GiB"\npoll = "20ms"\n\n' \
      "$dir/state" "$dir/vg.sock"
    printf '[fleet]\nredis = "redis://127.0.0.1:%s/0"\nhost = "%s"\nlease = "%s"\n\n' \
      "$REDIS_PORT" "$name" "$LEASE"
    cat
  } >"$dir/vramguard.toml"
}

# start_host NAME: its daemon, on its own simulated GPU; waits until its socket answers.
start_host() {
  local name=$1 dir="$WORK/$1"
  VRAMGUARD_FAKE_GPU_DIR="$dir/gpu" VRAMGUARD_SOCKET="$dir/vg.sock" \
    "$VG_BIN" up --config "$dir/vramguard.toml" >>"$dir/daemon.log" 2>&1 &
  HOST_PID[$name]=$!
  local i
  for ((i = 0; i < 500; i++)); do
    hvg "$name" status --json >/dev/null 2>&1 && return 0
    kill -0 "${HOST_PID[$name]}" 2>/dev/null || fail "host $name exited: $(cat "$dir/daemon.log")"
    sleep 0.02
  done
  fail "host $name did not answer: $(cat "$dir/daemon.log")"
}

# hvg NAME ARGS…: vramguard against host NAME.
hvg() {
  local name=$1
  shift
  VRAMGUARD_FAKE_GPU_DIR="$WORK/$name/gpu" VRAMGUARD_SOCKET="$WORK/$name/vg.sock" "$VG_BIN" "$@"
}

# hwait_state NAME SERVICE STATE [SECONDS]
hwait_state() {
  local i st
  for ((i = 0; i < ${4:-20} * 50; i++)); do
    st=$(hvg "$1" status "$2" --json 2>/dev/null | jq -r .state) || st="?"
    [ "$st" == "$3" ] && return 0
    sleep 0.02
  done
  fail "$2 on $1 did not reach $3 (is $st): $(tail -20 "$WORK/$1/daemon.log")"
}

# hapi NAME METHOD PATH [BODY]: the control API of host NAME; sets CODE and BODY.
hapi() {
  local name=$1 method=$2 path=$3 data=${4:-}
  local args=(-s --unix-socket "$WORK/$name/vg.sock" -o "$WORK/api_body" -w '%{http_code}' -X "$method")
  [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
  CODE=$(curl "${args[@]}" "http://x$path") || true  # 000: no answer (the check that follows names it)
  BODY=$(cat "$WORK/api_body")
}

# fleet_submit NAME SERVICE RES FRAMES STEPS: POST /v1/jobs on host NAME; sets CODE, BODY, FJOB.
fleet_submit() {
  hapi "$1" POST /v1/jobs "{\"service\":\"$2\",\"params\":{\"resolution\":$3,\"frames\":$4,\"steps\":$5}}"
  FJOB=$(printf '%s' "$BODY" | jq -r '.fleet_job // empty')
}

# fleet_json [ARGS…]: `vramguard fleet --json` with any host's config (they share the Redis).
fleet_json() { "$VG_BIN" fleet --config "$WORK/$FLEET_CONFIG_HOST/vramguard.toml" --json "$@"; }

# fleet_job_field JOB FIELD
fleet_job_field() { fleet_json --job "$1" 2>/dev/null | jq -r ".$2 // empty"; }

# wait_fleet_job JOB STATE [SECONDS]: until vg:job:<JOB> says STATE.
wait_fleet_job() {
  local i st
  for ((i = 0; i < ${3:-30} * 20; i++)); do
    st=$(fleet_job_field "$1" state)
    [ "$st" == "$2" ] && return 0
    case "$st" in done | failed | cancelled | refused | dead) break ;; esac  # ended otherwise
    sleep 0.05
  done
  fail "fleet job $1 did not reach $2 (is '$st'): $(fleet_json --job "$1" 2>&1); $(fleet_json 2>&1)"
}

# wait_hosts N: until N hosts are registered.
wait_hosts() {
  local i n
  for ((i = 0; i < 200; i++)); do
    n=$(fleet_json 2>/dev/null | jq '.hosts | length') || n=0
    [ "${n:-0}" -ge "$1" ] && return 0
    sleep 0.05
  done
  fail "only ${n:-0} of $1 hosts registered: $(fleet_json 2>&1)"
}

# host_no_oom NAME: no oom event on host NAME.
host_no_oom() {
  local n
  n=$(hvg "$1" events --json --kind oom -n 1000 | jq '.events | length')
  [ "$n" -eq 0 ] || fail "$n oom event(s) on $1"
}

kill_host() {
  local name=$1 sig=${2:-KILL}
  kill -"$sig" "${HOST_PID[$name]}" 2>/dev/null || true
  if [ "$sig" == KILL ]; then
    wait "${HOST_PID[$name]}" 2>/dev/null || true
    HOST_PID[$name]=""
  fi
}

# Every daemon (TERM, then KILL), what they started (their simulated GPUs name $WORK), Redis.
cleanup() {
  local status=$? name pid p i
  set +e  # everything below is best effort; the scenario's status is kept
  for name in "${!HOST_PID[@]}"; do
    pid=${HOST_PID[$name]}
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  done
  for name in "${!HOST_PID[@]}"; do
    pid=${HOST_PID[$name]}
    [ -n "$pid" ] || continue
    for ((i = 0; i < 500; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  exec 3>&2 2>/dev/null
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q "^VRAMGUARD_FAKE_GPU_DIR=$WORK/" &&
      kill -KILL "$p" 2>/dev/null
  done
  exec 2>&3 3>&-
  [ -n "$REDIS_PID" ] && { kill -KILL "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; }
  if [ $status -ne 0 ]; then
    for name in "${!HOST_PID[@]}"; do
      echo "--- $name daemon log:" >&2
      tail -30 "$WORK/$name/daemon.log" >&2 2>/dev/null
    done
  fi
  rm -rf "$WORK"
  exit $status
}
