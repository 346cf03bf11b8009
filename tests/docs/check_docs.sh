#!/usr/bin/env bash
# The docs' commands, run: every fenced ```sh block whose first line is `# docs-test` in README.md
# and docs/getting-started.md, in file order, as one bash script per file (set -euo pipefail, so
# any failing command fails the test), in a temporary directory with a temporary HOME, the build's
# binaries first on PATH and a simulated 24 GiB GPU (docs/simulated-gpu.md). Blocks without the
# marker (installing packages, systemctl) are not run. Each file must have at least one.
# CTest (e2e.docs_commands) passes VG_BIN, VG_SIMGPU, VG_FAKE_NVML and VG_DEMO.
set -euo pipefail
: "${VG_BIN:?}" "${VG_SIMGPU:?}" "${VG_FAKE_NVML:?}" "${VG_DEMO:?VG_DEMO must name vg-demo-service}"
repo=$(cd "$(dirname "$0")/../.." && pwd)
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# blocks FILE: the marked blocks' lines, each block preceded by an echo of where it is.
blocks() {
  awk -v file="$1" '
    /^```sh$/ { inside = 1; first = 1; start = FNR; next }
    inside && /^```$/ { inside = 0; run = 0; next }
    inside && first { first = 0; if ($0 ~ /^# docs-test/) { run = 1; n++; print "echo \"--- " file ":" start "\"" } }
    inside && run { print }
    END { if (n == 0) exit 3 }
  ' "$repo/$1"
}

# The guide's service listens where a real one would (17860, the proxy on 7860): say so plainly
# when something else (`make up`'s demo) holds them.
for port in 7860 17860; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "port $port is in use (is \`make up\` running?); the guide's commands need it free"
  fi
done

for doc in README.md docs/getting-started.md; do
  work=$(mktemp -d "${TMPDIR:-/tmp}/vg-docs.XXXXXX")
  script=$work/script.sh
  { echo "set -euo pipefail"; blocks "$doc"; } >"$script" || fail "$doc has no \`# docs-test\` block"
  mkdir -p "$work/home" "$work/run" "$work/cwd"
  "$VG_SIMGPU" create --dir "$work/gpu" --gpus 1 --total 24GiB \
    --name "NVIDIA GeForce RTX 4090 (simulated)" >/dev/null
  bin_path="$(dirname "$VG_BIN"):$(dirname "$VG_SIMGPU"):$(dirname "$VG_DEMO")"
  # Its own session: whatever a block leaves running is killed with it, by its process group.
  set +e
  (cd "$work/cwd" && env -u VRAMGUARD_SOCKET -u VRAMGUARD_CONFIG HOME="$work/home" \
    XDG_RUNTIME_DIR="$work/run" XDG_CONFIG_HOME="$work/home/.config" \
    XDG_STATE_HOME="$work/home/.local/state" PATH="$bin_path:$PATH" \
    VRAMGUARD_FAKE_GPU_DIR="$work/gpu" VRAMGUARD_NVML_LIBRARY="$VG_FAKE_NVML" \
    setsid bash "$script") >"$work/out" 2>&1 &
  pid=$!
  wait "$pid"
  rc=$?
  set -e
  kill -KILL -- "-$pid" 2>/dev/null || true
  if [ $rc -ne 0 ]; then
    cat "$work/out" >&2
    [ -f "$work/cwd/daemon.log" ] && { echo "--- daemon.log" >&2; tail -20 "$work/cwd/daemon.log" >&2; }
    rm -rf "$work"
    fail "$doc: a docs-test block failed (exit $rc); its output is above"
  fi
  [ -z "${VG_DOCS_VERBOSE:-}" ] || cat "$work/out"
  echo "$doc: $(grep -c "^--- " "$work/out") blocks ran"
  rm -rf "$work"
done
echo "PASS"
