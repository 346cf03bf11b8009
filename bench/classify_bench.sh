#!/usr/bin/env bash
# Classifier throughput (issue 4, target >= 200 MB/s on one core) side by side, in one run, with
# what users do instead: grep over the same log for the same catalogue.
#  - vramguard's classifier in-process (vg_bench_classify, Google Benchmark, CPU time)
#  - `vramguard explain FILE` end to end (read, classify, print)
#  - `grep -E -f patterns` (the catalogue as extended regexes) and `grep -F -f` (as fixed
#    strings), in the C locale and in C.UTF-8
# The log is generated (64 MiB: access lines, progress bars, warnings, status lines, an OOM
# traceback every ~5,000 lines). MB/s = MiB of log / CPU seconds (user + sys), also wall.
# Writes the table to bench/results/classify-latest.md. Timings are reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BENCH="$PWD/$BUILD/bench/vg_bench_classify"
VG="$PWD/$BUILD/vramguard"
RUNS=${RUNS:-5}
MIB=${MIB:-64}
command -v hyperfine >/dev/null || { echo "bench: hyperfine missing (scripts/setup.sh)" >&2; exit 1; }
[ -x "$BENCH" ] || { echo "bench: build $BENCH first (ninja -C $BUILD vg_bench_classify)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vg-classify.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
LOG="$WORK/service.log"
"$BENCH" --write-log "$LOG" "$MIB"
"$BENCH" --write-patterns "$WORK/patterns.ere"
# The same catalogue as fixed strings (regex entries: their anchor literal).
sed -e 's/\\\(.\)/\1/g' -e 's/\[0-9\]+.*//' -e 's/ \\(.*//' "$WORK/patterns.ere" >"$WORK/patterns.fixed"
cat "$LOG" >/dev/null  # page cache

out="bench/results/classify-latest.md"
mkdir -p bench/results
{
  echo "# classifier throughput — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg) at start"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown); log: $MIB MiB, $(wc -l <"$LOG") lines; $RUNS runs each"
  echo
  echo "| what | matches | MB/s (CPU) | MB/s (wall) |"
  echo "|---|---|---|---|"
} >"$out"

# In-process classifier: Google Benchmark reports bytes per CPU second.
"$BENCH" --benchmark_format=json --benchmark_out="$WORK/gb.json" >/dev/null 2>&1
gb_cpu=$(jq -r '.benchmarks[0].bytes_per_second / 1048576 | floor' "$WORK/gb.json")
gb_wall=$(jq -r '(.benchmarks[0].bytes_per_second * .benchmarks[0].cpu_time / .benchmarks[0].real_time) / 1048576 | floor' "$WORK/gb.json")
gb_inc=$(jq -r '.benchmarks[0].incidents_per_pass' "$WORK/gb.json")
echo "| classifier in-process (16 MiB in memory) | $gb_inc incidents | $gb_cpu | $gb_wall |" >>"$out"

row() {  # row NAME MATCHES COMMAND
  local name=$1 matches=$2 cmd=$3
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/h.json" "$cmd" >/dev/null 2>&1 ||
    hyperfine --warmup 1 --runs "$RUNS" --export-json "$WORK/h.json" "$cmd" >/dev/null
  local cpu wall
  cpu=$(jq -r --argjson mib "$MIB" '$mib / (.results[0].user + .results[0].system) | floor' "$WORK/h.json")
  wall=$(jq -r --argjson mib "$MIB" '$mib / .results[0].median | floor' "$WORK/h.json")
  echo "| $name | $matches | $cpu | $wall |" >>"$out"
}

incidents=$("$VG" explain --json "$LOG" | jq '.incidents | length')
row "\`vramguard explain FILE\` (end to end)" "$incidents incidents" "$VG explain $LOG"
for loc in C C.UTF-8; do
  n=$(LC_ALL=$loc grep -c -E -f "$WORK/patterns.ere" "$LOG" || true)
  row "\`grep -E -f catalogue\` (LC_ALL=$loc)" "$n lines" "env LC_ALL=$loc grep -c -E -f $WORK/patterns.ere $LOG"
  n=$(LC_ALL=$loc grep -c -F -f "$WORK/patterns.fixed" "$LOG" || true)
  row "\`grep -F -f catalogue\` (LC_ALL=$loc)" "$n lines" "env LC_ALL=$loc grep -c -F -f $WORK/patterns.fixed $LOG"
done
# The bare grep people start with (matches prose too, misses most engines).
n=$(grep -c -i "out of memory" "$LOG" || true)
row "\`grep -i 'out of memory'\`" "$n lines" "grep -c -i 'out of memory' $LOG"
cat "$out"
