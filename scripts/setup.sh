#!/usr/bin/env bash
# Installs the Debian 12 packages vramguard needs to build, test and benchmark.
# Idempotent: installs only what is missing. Works as root; uses sudo otherwise.
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build make pkg-config
  # libraries (design.md: chosen dependencies)
  libboost-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  libsqlite3-dev libhiredis-dev libre2-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev hyperfine procps psmisc jq curl supervisor
  # the e2e webhook receiver (tests/e2e/webhook_receiver.py) and bench/oom_latency.sh
  python3
  # `promtool check metrics` in tests/e2e/metrics_prometheus.sh (test-only; its server is
  # stopped and disabled below, never left running)
  prometheus
  # bench/proxy_bench.sh: nginx as a plain reverse proxy beside vramguard's, started by the script
  # with its own config in a temporary directory (its Debian service is stopped and disabled below)
  nginx
  # fuzzing (fuzz/run.sh): clang with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
  # checks in CI: make format-check (clang-format), make tidy (clang-tidy-19: Debian 12's default
  # clang-tidy 14 cannot parse -std=c++23)
  clang-format clang-tidy-19
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

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
for unit in prometheus nginx; do
  [[ " ${missing[*]} " == *" $unit "* ]] || continue
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now "$unit" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$unit" ]; then  # no systemd (a container): its init script may have run
    $sudo "/etc/init.d/$unit" stop >/dev/null 2>&1 || true
    $sudo update-rc.d "$unit" disable >/dev/null 2>&1 || true
  fi
done
echo "setup: done"
