#!/usr/bin/env bash
# Installs the Debian 12 packages vramguard needs, then the web dashboard's npm packages
# (web/package-lock.json: uPlot, embedded into the binary at build time, and playwright-core for
# the browser tests).
#   scripts/setup.sh          what building and running it need (`make build`, `make up`, `make demo`)
#   scripts/setup.sh --deb    that, and dpkg-dev for `make deb` (CPack's dpkg-shlibdeps)
#   scripts/setup.sh --test   everything: tests, CI checks, benchmarks, fuzzing, `make deb`
# Idempotent: installs only what is missing. Works as root; uses sudo otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=build
case "${1:-}" in
  "") ;;
  --deb) mode=deb ;;
  --test) mode="test" ;;
  *)
    echo "setup: unknown option '$1'; use no option (build), --deb or --test" >&2
    exit 2
    ;;
esac

build_packages=(
  g++ cmake ninja-build make pkg-config
  # libraries (ARCHITECTURE.md: each layer and what it uses)
  libboost-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libfmt-dev
  libsqlite3-dev libhiredis-dev libre2-dev
  # the man page is generated at build time (packaging/man_page.py); scripts/up.sh
  python3
  # scripts/demo.sh, and the commands `make up` suggests
  jq curl
)

deb_packages=(
  # `make deb`: CPack's CPACK_DEBIAN_PACKAGE_SHLIBDEPS runs dpkg-shlibdeps
  dpkg-dev
)

# Tests, CI checks, benchmarks and fuzzing only; one package per line, with who needs it.
test_packages=(
  libgtest-dev libgmock-dev  # unit tests (without them the build leaves the tests out)
  libbenchmark-dev hyperfine # make bench
  procps psmisc tmux         # e2e scenarios (tests/e2e/top_tmux.sh: tmux)
  # bench/supervisor_bench.sh compares against supervisord (its service is stopped and disabled
  # below, never left running)
  supervisor
  # `promtool check metrics` in tests/e2e/metrics_prometheus.sh (its server is stopped and
  # disabled below)
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
# Test-only packages whose Debian install enables and starts a system service: stopped and
# disabled right after they are installed.
test_services=(supervisor prometheus nginx redis-server)

packages=("${build_packages[@]}")
[ "$mode" == build ] || packages+=("${deb_packages[@]}")
[ "$mode" != test ] || packages+=("${test_packages[@]}")
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
  echo "setup: all ${#packages[@]} packages present ($mode)"
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
  for unit in "${test_services[@]}"; do
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
