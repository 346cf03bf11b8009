#!/usr/bin/env bash
# clang-tidy with the repository's .clang-tidy on the C++ files changed since a base commit; any
# finding fails (WarningsAsErrors). clang-tidy-19 because Debian 12's default clang-tidy (14)
# cannot parse -std=c++23; scripts/setup.sh --test installs it.
#
# The base: $TIDY_BASE when set (a commit, or "all" for every file). Otherwise the merge-base of
# HEAD with main (origin/main in a clone, else main); where HEAD is on main itself (CI on main, or
# the lead after a merge), HEAD~1: the last commit, which for a merge is the whole merged branch.
# A clone without that history (shallow, a single commit) checks every file: never nothing.
#
# The files: changed *.cc in the compile database; a changed header brings in its sibling .cc
# (foo.h -> foo.cc) or, without one, the .cc files that include it. The database is configured
# (not built) in $TIDY_BUILD (default build-tidy/) with precompiled headers off: clang cannot read
# GCC's .gch files, and each file must parse with its own includes. Runs $JOBS at a time.
# TIDY_LIST_ONLY=1 prints the files it would check and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
TIDY=${CLANG_TIDY:-clang-tidy-19}
TIDY_BUILD=${TIDY_BUILD:-build-tidy}
JOBS=${JOBS:-$(nproc)}
command -v "$TIDY" >/dev/null || { echo "tidy: $TIDY not found; run scripts/setup.sh --test" >&2; exit 1; }

base=${TIDY_BASE:-}
if [ -z "$base" ]; then
  main_ref=""
  for r in origin/main main; do
    git rev-parse -q --verify "$r^{commit}" >/dev/null && { main_ref=$r; break; }
  done
  if [ -n "$main_ref" ]; then base=$(git merge-base HEAD "$main_ref" 2>/dev/null || true); fi
  if [ -z "$base" ] || [ "$base" = "$(git rev-parse HEAD)" ]; then
    base=$(git rev-parse -q --verify 'HEAD~1^{commit}' 2>/dev/null || echo all)
  fi
fi

cmake -S . -B "$TIDY_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVRAMGUARD_BENCH=ON -DVRAMGUARD_UNITY=OFF \
  -DCMAKE_DISABLE_PRECOMPILE_HEADERS=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
db="$TIDY_BUILD/compile_commands.json"
mapfile -t known < <(jq -r '.[].file' "$db" | sed "s|^$PWD/||" | sort -u)

if [ "$base" = all ]; then
  changed=("${known[@]}")
  echo "tidy: every file in the compile database (${#changed[@]})"
else
  mapfile -t changed < <(git diff --name-only --diff-filter=d "$base" -- '*.cc' '*.h' | sort -u)
  echo "tidy: files changed since $(git rev-parse --short "$base"): ${#changed[@]}"
fi

declare -A want=()
is_known() { printf '%s\n' "${known[@]}" | grep -qxF "$1"; }
for f in "${changed[@]}"; do
  case "$f" in
    *.cc) is_known "$f" && want[$f]=1 ;;
    *.h)
      sib="${f%.h}.cc"
      if is_known "$sib"; then
        want[$sib]=1
      else
        inc="${f#src/}"
        while read -r user; do
          [ -n "$user" ] && is_known "$user" && want[$user]=1
        done < <(git grep -l -F "#include \"$inc\"" -- '*.cc' || true)
      fi
      ;;
  esac
done

files=("${!want[@]}")
if [ ${#files[@]} -eq 0 ]; then
  echo "tidy: no C++ file to check"
  exit 0
fi
if [ -n "${TIDY_LIST_ONLY:-}" ]; then
  printf '%s\n' "${files[@]}" | sort
  exit 0
fi
echo "tidy: checking ${#files[@]} file(s) with $($TIDY --version | grep -o 'version [0-9.]*')"
log=$(mktemp "${TMPDIR:-/tmp}/vg-tidy.XXXXXX")
trap 'rm -f "$log"' EXIT
status=0
# Boost 1.74 turns on asio::awaitable (the daemon's coroutines) only for GCC's coroutine support;
# clang parses the same code once told that <coroutine> is there.
coro=(--extra-arg=-DBOOST_ASIO_HAS_CO_AWAIT=1 --extra-arg=-DBOOST_ASIO_HAS_STD_COROUTINE=1)
printf '%s\n' "${files[@]}" | sort | xargs -P "$JOBS" -n 1 "$TIDY" -p "$TIDY_BUILD" --quiet "${coro[@]}" >"$log" 2>&1 ||
  status=$?
if [ $status -ne 0 ]; then
  grep -E 'warning:|error:|^ ' "$log" | grep -v 'warnings generated' >&2 || cat "$log" >&2
  echo "tidy: findings above (fix them, or suppress a false positive with NOLINT(check) and why)" >&2
  exit 1
fi
echo "tidy: clean"
