#!/usr/bin/env bash
# Runs the unit tests and the end-to-end scenarios of the AddressSanitizer + UndefinedBehaviorSanitizer
# build (make build-asan, in $BUILD, default build-asan/) and fails on any sanitizer report.
#
# Every sanitized process writes its report to a file of its own under $BUILD/sanitizer-reports/
# (log_path), not only to its stderr: the daemon, the services it spawns and the simulated CUDA
# processes of the e2e scenarios often have stderr sent to a log the scenario deletes, or exit with
# a status nobody checks, so a report there would otherwise pass unseen. Any file left there fails
# the run, and the reports are printed.
#
# Options, and why:
#  - halt_on_error / -fno-sanitize-recover=undefined (CMake): the first report ends the process;
#  - detect_leaks=1: LeakSanitizer at every sanitized process's normal exit, forked children
#    included (a child that leaves by _exit() or a signal is not checked: nothing to report);
#  - no suppressions. Add one only for a report that is not ours (a library's), narrowly (one
#    function), in a file beside this one with the reason, and name it here.
# The simulated crashes (vg-simgpu and vg-demo-service --crash-after) reset SIGSEGV to its default
# action before raising it, so ASan's handler does not turn them into a report and exit status 1.
# The GPU scenarios (label gpu) need a real GPU and are left out; every unit test and every e2e
# scenario runs. SUBSET (a ctest -R regex) runs a part only, for a quick local check.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-asan}
JOBS=${JOBS:-$(nproc)}
[ -x "$BUILD/vramguard" ] || { echo "test-asan: build $BUILD first (make build-asan)" >&2; exit 1; }

reports="$PWD/$BUILD/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
export ASAN_OPTIONS="log_path=$reports/asan:halt_on_error=1:detect_leaks=1:check_initialization_order=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="log_path=$reports/lsan"

args=(--test-dir "$BUILD" --output-on-failure -j "$JOBS" -LE gpu)
[ -n "${SUBSET:-}" ] && args+=(-R "$SUBSET")
status=0
start=$(date +%s)
ctest "${args[@]}" || status=$?

shopt -s nullglob
found=("$reports"/*)
if [ ${#found[@]} -gt 0 ]; then
  echo "test-asan: ${#found[@]} sanitizer report(s):" >&2
  for f in "${found[@]}"; do
    echo "--- $f" >&2
    cat "$f" >&2
  done
  status=1
fi
if [ $status -eq 0 ]; then
  echo "test-asan: passed, no sanitizer report ($(($(date +%s) - start)) s)"
else
  echo "test-asan: FAILED, ${#found[@]} sanitizer report(s) ($(($(date +%s) - start)) s)" >&2
fi
exit $status
