#!/usr/bin/env bash
# Routes that are jobs (issue 15 point 2, docs/proxy.md): what the door costs a request, and
# what it buys, measured side by side in one run on the simulated GPU; figures go to
# bench/results/door.md and are printed. Timings are reported, never asserted.
#
# Two demo services (vg-demo-service, 4 GiB models, 0 ms steps) on one simulated 24 GiB GPU,
# each behind a proxy whose POST /generate is a route that is a job — for `b` only when the body
# asks for 24 frames (`when`), so its small requests pass through. Each round sends COUNT small jobs (256p, 1 frame, 1 step) one at a time over one
# keep-alive connection three ways, in an order that rotates from round to round: straight to
# `a`, through `b`'s proxy (pass-through), through `a`'s route (estimate, decision, a durable
# job record, dispatch, observation); reported: p50/p99 per way and the latency the route adds
# over the pass-through in the same round.
#
# Then what it buys: two 768p/24-frame requests (7.7 GiB each; 13 GiB free beside both loaded
# models and the 1 GiB reserve) sent at once, to both services, PAIRS times: straight to the services (what a WebUI's
# users do without vramguard) and through the routes. Counted: answers 200, OOM answers, and the
# time until both answered.
#
# Usage: bench/door_bench.sh [BUILD_DIR]   Environment: ROUNDS (5), COUNT (200), PAIRS (5).
set -euo pipefail
BUILD=$(cd "${1:-${BUILD:-build}}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VG=$BUILD/vramguard
ROUNDS=${ROUNDS:-5}
COUNT=${COUNT:-200}
PAIRS=${PAIRS:-5}
[ -x "$VG" ] || { echo "missing $VG (build it first)" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/vg-door-bench.XXXXXX")
DAEMON=""
cleanup() {
  [ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
[ -n "${KEEP_LOG:-}" ] && trap 'cp "$WORK/daemon.log" "$KEEP_LOG"; cleanup' EXIT
export VRAMGUARD_FAKE_GPU_DIR="$WORK/gpu" VRAMGUARD_NVML_LIBRARY="$BUILD/sim/libnvidia-ml.so.1"
export VRAMGUARD_SOCKET="$WORK/vg.sock" PATH="$BUILD:$BUILD/examples:$PATH"
"$BUILD/vg-simgpu" create --total 24GiB >/dev/null
BASE=$((10000 + RANDOM % 20000))
A=$BASE B=$((BASE + 1)) PA=$((BASE + 2)) PB=$((BASE + 3))
service() {  # NAME PORT PROXY_PORT all|24 (every POST /generate is a job, or only 24-frame ones)
  cat <<EOF
[[service]]
name = "$1"
command = ["vg-demo-service", "--port", "$2", "--model", "4GiB", "--load-time", "50ms", "--step-time", "0ms"]
gpus = [0]
vram = "5GiB"
port = $2
on_oom = "ignore"                 # the demo keeps its model after an OOM: measure on
ready = { log = "Running on local URL", timeout = "30s" }
jobs = { endpoint = "POST http://127.0.0.1:$2/generate", concurrency = 1 }

[service.proxy]
listen = "127.0.0.1:$3"
EOF
  printf '\n[[service.proxy.route]]\nmatch = "POST /generate"\nparams = { resolution = "/resolution", frames = "/frames", steps = "/steps" }\n'
  [ "$4" = 24 ] && printf 'when = { "/frames" = 24 }\n'
  echo
  awk '/^\[\[service\.param\]\]/ { p = 1 } p' "$ROOT/examples/demo.toml"
}
{
  printf '[daemon]\nstate_dir = "%s"\nsocket = "%s"\nkernel_log = ""\n\n[gpu]\nreserve = "1GiB"\n\n' \
    "$WORK/state" "$VRAMGUARD_SOCKET"
  service a "$A" "$PA" all
  service b "$B" "$PB" 24
} >"$WORK/vg.toml"
"$VG" up --config "$WORK/vg.toml" >"$WORK/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 500); do
  [ "$("$VG" status a --json 2>/dev/null | jq -r .state)" = running ] &&
    [ "$("$VG" status b --json 2>/dev/null | jq -r .state)" = running ] && break
  sleep 0.05
done

python3 - "$A" "$PB" "$PA" "$B" "$ROUNDS" "$COUNT" "$PAIRS" >"$WORK/out.md" <<'PY'
import http.client, json, statistics, sys, threading, time
a, pb, pa, b, rounds, count, pairs = map(int, sys.argv[1:])
small = json.dumps({"resolution": 256, "frames": 1, "steps": 1})
ways = [("direct to the service", a), ("through the proxy, pass-through", pb),
        ("through the proxy, a route that is a job", pa)]

def run(port, n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("POST", "/generate", small, {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit(f"port {port}: status {r.status}")
        times.append(time.perf_counter() - t)
    conn.close()
    return times

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]

run(pa, 20); run(pb, 20); run(a, 20)  # warm-up; the route learns its first observations
per = {name: [] for name, _ in ways}
added = []
for r in range(rounds):
    order = ways[r % 3:] + ways[:r % 3]
    p50 = {}
    for name, port in order:
        t = run(port, count)
        per[name].append(t)
        p50[name] = statistics.median(t)
    added.append(p50[ways[2][0]] - p50[ways[1][0]])

print(f"### Small jobs one at a time ({rounds} rounds × {count} per way, one keep-alive connection)\n")
print("| way | p50 ms | p99 ms | requests/s |")
print("|---|---|---|---|")
for name, _ in ways:
    allt = [x for t in per[name] for x in t]
    print(f"| {name} | {statistics.median(allt)*1e3:.2f} | {pct(allt, 99)*1e3:.2f} | {len(allt)/sum(allt):.0f} |")
print(f"\nLatency the route adds over the pass-through (median over rounds of the p50 difference): "
      f"{statistics.median(added)*1e3:.2f} ms (rounds: {', '.join(f'{x*1e3:.2f}' for x in added)})\n")

big = json.dumps({"resolution": 768, "frames": 24, "steps": 10})
def one(port, out, i):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("POST", "/generate", big, {"Content-Type": "application/json"})
        r = conn.getresponse()
        body = r.read().decode(errors="replace")
        out[i] = (r.status, "out of memory" in body.lower())
        conn.close()
    except OSError:
        out[i] = (0, False)

print(f"### Two 768p/24f requests at once, one per service ({pairs} pairs)\n")
print("| way | answered 200 | OOM answers | both answered after (median s) |")
print("|---|---|---|---|")
for name, ports in [("straight to the services", (a, b)), ("through the routes", (pa, pb))]:
    ok = ooms = 0
    spans = []
    for _ in range(pairs):
        out = [None, None]
        t = time.perf_counter()
        th = [threading.Thread(target=one, args=(p, out, i)) for i, p in enumerate(ports)]
        for x in th: x.start()
        for x in th: x.join()
        spans.append(time.perf_counter() - t)
        ok += sum(1 for s, _ in out if s == 200)
        ooms += sum(1 for _, o in out if o)
        time.sleep(0.3)
    print(f"| {name} | {ok}/{2*pairs} | {ooms} | {statistics.median(spans):.2f} |")
PY
{
  echo "# Routes that are jobs: cost and effect ($(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$ROOT" rev-parse --short HEAD))"
  echo
  echo "machine: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), simulated 24 GiB GPU"
  echo
  cat "$WORK/out.md"
} | tee "$ROOT/bench/results/door.md"
