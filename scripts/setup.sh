#!/usr/bin/env bash
# Installs the Debian 12 packages vramguard needs to build, test and benchmark, then the web
# dashboard's npm packages (web/package-lock.json: uPlot, embedded into the binary at build time,
# and playwright-core for the browser tests).
# Idempotent: installs only what is missing. Works as root; uses sudo otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  g++ cmake ninja-build make pkg-config
  # libraries (ARCHITECTURE.md: each layer and what it uses)
  libboost-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  libsqlite3-dev libhiredis-dev libre2-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev hyperfine procps psmisc jq curl supervisor tmux
  # the e2e webhook receiver (tests/e2e/webhook_receiver.py) and bench/oom_latency.sh
  python3
  # `promtool check metrics` in tests/e2e/metrics_prometheus.sh (test-only; its server is
  # stopped and disabled below, never left running)
  prometheus
  # bench/proxy_bench.sh: nginx as a plain reverse proxy beside vramguard's, started by the script
  # with its own config in a temporary directory (its Debian service is stopped and disabled below)
  nginx
  # test-only: the fleet scenarios (tests/e2e/fleet_*.sh, src/fleet/*_test.cc) start their own
  # redis-server on a free loopback port; Debian's redis-server service is stopped and disabled below
  redis-server
  # fuzzing (fuzz/run.sh): clang with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
  # checks in CI: make format-check (clang-format), make tidy (clang-tidy-19: Debian 12's default
  # clang-tidy 14 cannot parse -std=c++23)
  clang-format clang-tidy-19
  # browser tests only (tests/browser/): playwright-core drives Debian's chromium, never a
  # browser of its own; the daemon does not need it
  chromium
)
# npm for web/ (the build embeds uPlot from web/node_modules). Only when there is none: a Node.js
# from elsewhere (NodeSource) ships its own npm, and Debian's npm package conflicts with it.
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
else
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo="sudo"
    else
      echo "setup: need root or sudo to install: ${missing[*]}" >&2
      exit 1
    fi
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Test-only packages whose Debian install enables a system service: never leave it running.
  for unit in prometheus nginx redis-server; do
    [[ " ${missing[*]} " == *" $unit "* ]] || continue
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      $sudo systemctl disable --now "$unit" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$unit" ]; then  # no systemd (a container): its init script may have run
      $sudo "/etc/init.d/$unit" stop >/dev/null 2>&1 || true
      $sudo update-rc.d "$unit" disable >/dev/null 2>&1 || true
    fi
  done
  echo "setup: packages done"
fi

# web/node_modules, exactly as web/package-lock.json says: `npm ci` when it is missing or was
# installed from another lock file (a stamp of the lock file's hash inside it says which).
lock_hash=$(sha256sum web/package-lock.json | cut -d' ' -f1)
stamp=web/node_modules/.vramguard-lock-sha256
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  echo "setup: npm ci in web/"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" >"$stamp"
else
  echo "setup: web/node_modules up to date"
fi
