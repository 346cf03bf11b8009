# What the browser tests (tests/browser/*.sh) share, sourced first: Debian's chromium and
# playwright-core from web/node_modules (nothing downloads a browser), then the e2e helpers
# (tests/e2e/lib.sh, jobs_lib.bash) and $ARTIFACTS for screenshots (CTest: build/browser-artifacts/).
#
# Skips (77) only where the browser or web/node_modules is missing, and never under CI ($CI set):
# scripts/setup.sh --test installs both, so CI without them is a broken setup, not a reason to skip.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHROMIUM=${VG_CHROMIUM:-/usr/bin/chromium}
missing() {
  if [ -n "${CI:-}" ]; then
    echo "FAIL: $1; CI must run the browser tests (scripts/setup.sh --test installs what they need)" >&2
    exit 1
  fi
  echo "SKIP: $1 (run scripts/setup.sh --test)"
  exit 77
}
[ -x "$CHROMIUM" ] || missing "no browser at $CHROMIUM (Debian package chromium)"
command -v node >/dev/null || missing "no node"
[ -f "$ROOT/web/node_modules/playwright-core/package.json" ] ||
  missing "web/node_modules has no playwright-core (npm ci in web/)"

source "$ROOT/tests/e2e/lib.sh"
source "$ROOT/tests/e2e/jobs_lib.bash"
[ -n "${VG_DEMO:-}" ] || fail "vg-demo-service not built"
ARTIFACTS=${VG_ARTIFACTS:-$WORK/artifacts}
mkdir -p "$ARTIFACTS"
