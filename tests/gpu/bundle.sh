#!/usr/bin/env bash
# Packs what tests/gpu/run.sh needs into .gpu/ (git-ignored), for a GPU machine that can build
# nothing and fetch nothing (a borrowed cloud GPU with the CUDA image but none of the project's
# Debian packages): the stripped binaries of BUILD, jq and hyperfine, and the shared libraries
# they need that a CUDA image lacks. glibc, libstdc++ and libgcc_s stay behind: the GPU machine's
# own are newer, and PyTorch (the OOM scenario) must keep them. tests/gpu/device.sh runs it there.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
rm -rf .gpu && mkdir -p .gpu/bin .gpu/lib
for b in "$BUILD/vramguard" "$BUILD/vg-cudahold" "$BUILD/vg-demo-service"; do
  [ -x "$b" ] || { echo "bundle: $b missing: build first (make build)" >&2; exit 1; }
  strip -o ".gpu/bin/$(basename "$b")" "$b"
done
for t in jq hyperfine; do
  p=$(command -v "$t") || { echo "bundle: $t missing (scripts/setup.sh --test installs it)" >&2; exit 1; }
  cp "$p" .gpu/bin/
done
for b in .gpu/bin/*; do
  ldd "$b" | awk '$3 ~ /^\// { print $3 }'
done | sort -u | while read -r lib; do
  case $(basename "$lib") in
    libc.so* | libm.so* | libdl.so* | librt.so* | libpthread.so* | ld-linux* | libstdc++* | libgcc_s*) ;;
    *) cp -L "$lib" .gpu/lib/ ;;
  esac
done
du -sh .gpu | cut -f1 | xargs echo "bundle: .gpu/ holds"
ls .gpu/bin .gpu/lib | tr '\n' ' '; echo
