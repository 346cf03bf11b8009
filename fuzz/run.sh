#!/usr/bin/env bash
# Builds the classifier's libFuzzer target with clang in build-fuzz/ and runs it for SECONDS
# (default 60) over the committed seed corpus. Fails on a crash, a sanitizer report, a leak or an
# input that takes more than 10 s (a hang). New inputs go to build-fuzz/corpus (not committed);
# a failing input is left in build-fuzz/artifacts/ to reproduce with
#   build-fuzz/classifier_fuzz build-fuzz/artifacts/crash-…
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
cxx=${CXX_FUZZ:-clang++}
command -v "$cxx" >/dev/null || { echo "fuzz: $cxx not found; run scripts/setup.sh" >&2; exit 1; }

cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
ninja -C build-fuzz classifier_fuzz >/dev/null
mkdir -p build-fuzz/corpus build-fuzz/artifacts
build-fuzz/classifier_fuzz build-fuzz/corpus fuzz/corpus/classifier \
  -dict=fuzz/classifier.dict -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix=build-fuzz/artifacts/ 2>&1 | tail -n 60
echo "fuzz: no crash, no hang in ${seconds} s"
