#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ and runs them one after the other,
# splitting SECONDS (default 60) among them, each over its committed seed corpus
# (fuzz/corpus/<target>): classifier (log lines), pattern (user patterns), config (TOML text),
# http (raw requests to the API server), door_route (routes that are jobs: sources and bodies),
# ws (WebSocket frames and Gradio 3's queue as the door follows a tunnel).
# Fails on a crash, a sanitizer report, a leak or an
# input that takes more than 10 s (a hang). New inputs go to build-fuzz/corpus/<target> (not
# committed); a failing input is left in build-fuzz/artifacts/ to reproduce with
#   build-fuzz/<target>_fuzz build-fuzz/artifacts/crash-…
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
cxx=${CXX_FUZZ:-clang++}
command -v "$cxx" >/dev/null || { echo "fuzz: $cxx not found; run scripts/setup.sh --test" >&2; exit 1; }

targets=(classifier pattern config http door_route ws)
cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
ninja -C build-fuzz "${targets[@]/%/_fuzz}" >/dev/null
mkdir -p build-fuzz/artifacts
each=$(( seconds / ${#targets[@]} ))
(( each >= 5 )) || each=5
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  echo "fuzz: $t for ${each} s"
  # pipefail: a crash fails the pipeline even though tail succeeds.
  "build-fuzz/${t}_fuzz" "build-fuzz/corpus/$t" "fuzz/corpus/$t" "${dict[@]}" \
    -max_total_time="$each" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix=build-fuzz/artifacts/ 2>&1 | tail -n 12
done
echo "fuzz: no crash, no hang in ${seconds} s (${#targets[@]} targets × ${each} s)"
