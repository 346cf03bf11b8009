#!/usr/bin/env bash
# Reverse proxy overhead (issue 15 point 6), measured side by side in one run; figures go to
# bench/results/proxy.md and are printed. Timings are reported, never asserted.
#
# One origin server (bench/proxy_load.cc `serve`: a thread per connection, keep-alive) is reached
# three ways: directly, through vramguard's proxy (`vramguard up` supervising the origin as a
# service with [service.proxy]), and through nginx as a plain reverse proxy (the Debian package,
# started here with its own config in a temporary directory, `daemon off`, one worker, upstream
# keep-alive, no buffering either way, no access log, no limit on requests per connection — the setup usually recommended in front of
# a Gradio app). Each round measures every target once, in an order that rotates from round to
# round, so load from anything else on the machine falls on all three alike:
#  - small requests (`GET /small`, 13 bytes): latency p50/p99 and requests/s over 1 connection
#    (COUNT requests, one in flight), and requests/s over CONC connections;
#  - large bodies over one connection: a BIG-byte download and a BIG-byte upload (MiB/s);
#    The proxy's own CPU time (user + system, from /proc) during the 1-connection run, per
#    request: on a machine this small the three processes share two cores, so requests/s
#    ratios say as much about the load generator and the origin as about the proxy;
#  - streaming: an event stream of EVENTS events GAP_US apart (chunked text/event-stream):
#    time from the request to the first event, and each event's delay from the origin's write to
#    its arrival (same machine, same clock), p50/p99.
# Reported: medians over ROUNDS rounds, the ratios to direct, and the latency added (the median
# over rounds of proxy p50 − direct p50 in the same round).
#
# Usage: bench/proxy_bench.sh [BUILD_DIR]   (needs vramguard built, nginx and a C++ compiler)
# Environment: ROUNDS (5), COUNT (5000), CONC (8), BIG (268435456 = 256 MiB), EVENTS (200),
# GAP_US (2000).
set -euo pipefail
BUILD=$(cd "${1:-${BUILD:-build}}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VG=$BUILD/vramguard
ROUNDS=${ROUNDS:-5}
COUNT=${COUNT:-5000}
CONC=${CONC:-8}
BIG=${BIG:-268435456}
EVENTS=${EVENTS:-200}
GAP_US=${GAP_US:-2000}
[ -x "$VG" ] || { echo "missing $VG (build it first)" >&2; exit 2; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "nginx is not installed (scripts/setup.sh --test installs it)" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/vg-proxy-bench.XXXXXX")
DAEMON="" NGINX_PID=""
cleanup() {
  [ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  [ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
c++ -O2 -std=c++20 -pthread "$ROOT/bench/proxy_load.cc" -o "$WORK/proxy_load"
LOAD=$WORK/proxy_load
BASE=$((30000 + RANDOM % 20000))
ORIGIN=$BASE VGP=$((BASE + 1)) NGP=$((BASE + 2))

# vramguard: the origin is the supervised service; the proxy listens on VGP.
cat >"$WORK/vg.toml" <<EOF
[daemon]
state_dir = "$WORK/state"
socket = "$WORK/vg.sock"
kernel_log = ""

[[service]]
name = "origin"
command = ["$LOAD", "serve", "$ORIGIN"]
port = $ORIGIN
ready = { log = "Running on local URL", timeout = "10s" }

[service.proxy]
listen = "127.0.0.1:$VGP"
EOF
VRAMGUARD_SOCKET=$WORK/vg.sock "$VG" up --config "$WORK/vg.toml" >"$WORK/daemon.log" 2>&1 &
DAEMON=$!

# nginx as a plain reverse proxy.
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
  upstream origin { server 127.0.0.1:$ORIGIN; keepalive 32; }
  server {
    listen 127.0.0.1:$NGP;
    client_max_body_size 0;
    keepalive_requests 1000000;  # the default (1000) closes a benchmark's connection
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Host \$host;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 600s;
    }
  }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
NGINX_PID=$!

for port in $VGP $NGP $ORIGIN; do
  for ((i = 0; i < 500; i++)); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/small" && break
    sleep 0.02
  done
  curl -sf -o /dev/null "http://127.0.0.1:$port/small" || {
    echo "port $port does not answer" >&2
    cat "$WORK/daemon.log" "$WORK/nginx/error.log" >&2 || true
    exit 1
  }
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
RESULTS=$WORK/results.jsonl
targets=(direct vramguard nginx)
port_of() { case $1 in direct) echo "$ORIGIN" ;; vramguard) echo "$VGP" ;; nginx) echo "$NGP" ;; esac; }
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system
proxy_pid() { case $1 in vramguard) echo "$DAEMON" ;; nginx) pgrep -P "$NGINX_PID" | head -1 ;; esac; }
measure() { # ROUND TARGET
  local port pid before after
  port=$(port_of "$2")
  pid=$(proxy_pid "$2")
  tag() { sed "s/^{/{\"round\": $1, \"target\": \"$2\", \"test\": \"$3\", /"; }
  [ -n "$pid" ] && before=$(cpu_ticks "$pid")
  "$LOAD" latency "$port" "$COUNT" 1 | tag "$1" "$2" small1 >>"$RESULTS"
  if [ -n "$pid" ]; then # the proxy's own CPU time per request (the whole daemon for vramguard)
    after=$(cpu_ticks "$pid")
    echo "{\"round\": $1, \"target\": \"$2\", \"test\": \"cpu\", \"us_per_req\": $(awk "BEGIN {print ($after - $before) * 1e6 / $HZ / $COUNT}")}" >>"$RESULTS"
  fi
  "$LOAD" latency "$port" "$((COUNT * 2))" "$CONC" | tag "$1" "$2" smallN >>"$RESULTS"
  "$LOAD" download "$port" "$BIG" 1 | tag "$1" "$2" download >>"$RESULTS"
  "$LOAD" upload "$port" "$BIG" 1 | tag "$1" "$2" upload >>"$RESULTS"
  "$LOAD" stream "$port" "$EVENTS" "$GAP_US" | tag "$1" "$2" stream >>"$RESULTS"
}
# One warm-up round (not reported), then ROUNDS rounds in rotating order.
for t in "${targets[@]}"; do "$LOAD" latency "$(port_of "$t")" 500 1 >/dev/null; done
for ((r = 1; r <= ROUNDS; r++)); do
  for ((k = 0; k < 3; k++)); do
    measure "$r" "${targets[$(((r + k) % 3))]}"
  done
  echo "round $r of $ROUNDS done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
rss_vg=$(ps -o rss= -p "$DAEMON" | tr -d ' ')
rss_ng=$(ps -o rss= --ppid "$NGINX_PID" | awk '{s += $1} END {print s}')
rss_ng_master=$(ps -o rss= -p "$NGINX_PID" | tr -d ' ')

mkdir -p "$ROOT/bench/results"
OUT=$ROOT/bench/results/proxy.md
python3 - "$RESULTS" "$OUT" <<PY
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(target, test, key):
    return statistics.median(r[key] for r in rows if r["target"] == target and r["test"] == test)
def added(target, test, key):
    by_round = {}
    for r in rows:
        if r["test"] == test:
            by_round.setdefault(r["round"], {})[r["target"]] = r[key]
    return statistics.median(v[target] - v["direct"] for v in by_round.values())
lines = []
p = lines.append
p("### Reverse proxy (\`bench/proxy_bench.sh\`, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))")
p("Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r); load average $load_before before, $load_after after. "
  "ROUNDS=$ROUNDS COUNT=$COUNT CONC=$CONC BIG=$BIG EVENTS=$EVENTS GAP_US=$GAP_US; nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), one worker. Medians over the rounds.")
p("")
p("| measure | direct | vramguard | nginx | vramguard / direct | nginx / direct |")
p("|---|---|---|---|---|---|")
def row(name, test, key, unit, fmt="{:.1f}", ratio=True):
    d, v, n = (med(t, test, key) for t in ("direct", "vramguard", "nginx"))
    rv = f"{v / d:.2f}" if ratio and d else "—"
    rn = f"{n / d:.2f}" if ratio and d else "—"
    p(f"| {name} | {fmt.format(d)} {unit} | {fmt.format(v)} {unit} | {fmt.format(n)} {unit} | {rv} | {rn} |")
row("small GET, 1 connection: p50", "small1", "p50_us", "µs")
row("small GET, 1 connection: p99", "small1", "p99_us", "µs")
row("small GET, 1 connection: requests/s", "small1", "per_s", "/s", "{:.0f}")
row(f"small GET, $CONC connections: requests/s", "smallN", "per_s", "/s", "{:.0f}")
row(f"small GET, $CONC connections: p99", "smallN", "p99_us", "µs")
row("download $((BIG >> 20)) MiB, 1 connection", "download", "mib_per_s", "MiB/s")
row("upload $((BIG >> 20)) MiB, 1 connection", "upload", "mib_per_s", "MiB/s")
row("event stream: request → first event", "stream", "first_event_us", "µs")
row("event stream: write → arrival, p50", "stream", "p50_us", "µs")
row("event stream: write → arrival, p99", "stream", "p99_us", "µs")
p("")
p("| the proxy's CPU time (user + system) per small request, 1 connection | vramguard (whole daemon) | nginx (its worker) |")
p("|---|---|---|")
p(f"| median over rounds | {med('vramguard', 'cpu', 'us_per_req'):.1f} µs | {med('nginx', 'cpu', 'us_per_req'):.1f} µs |")
p("")
p("| added by the proxy (median over rounds of proxy − direct, same round) | vramguard | nginx |")
p("|---|---|---|")
for name, test, key in (("small GET p50, 1 connection", "small1", "p50_us"),
                        ("small GET p99, 1 connection", "small1", "p99_us"),
                        ("event delay p50", "stream", "p50_us")):
    p(f"| {name} | {added('vramguard', test, key):.1f} µs | {added('nginx', test, key):.1f} µs |")
p("")
p("Resident memory after the run: vramguard daemon $rss_vg KiB (whole daemon); nginx worker $rss_ng KiB + master $rss_ng_master KiB.")
text = "\n".join(lines) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
PY
