#!/usr/bin/env bash
# The .deb as a user gets it (`make deb`): built by CPack from the build directory, installed with
# dpkg into a throwaway root (dpkg --root: a dpkg database of its own, so this machine's packages
# are untouched), then checked: the installed `vramguard --version` runs, every file is where a
# Debian system looks for it, no fake NVML library and no maintainer script is shipped (so nothing
# is enabled or started), its Depends are met here and its libraries resolve, and
# `systemd-analyze verify` accepts the installed units.
# BUILD: the build directory (default build/, already built); DEB: an already built .deb to check
# instead. The install runs as root (through sudo when not root): dpkg --root writes files owned
# by root.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

if [ -z "${DEB:-}" ]; then  # DEB: check this .deb instead of building one
  rm -rf "$BUILD/package"
  cmake --build "$BUILD" --target package >/dev/null
  debs=("$BUILD"/package/vramguard_*.deb)
else
  debs=("$DEB")
fi
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "expected one vramguard_*.deb in $BUILD/package"
deb=${debs[0]}
if [ "$(id -u)" -ne 0 ]; then  # dpkg --root writes root-owned files: the rest as root
  command -v sudo >/dev/null || fail "installing with dpkg --root needs root or sudo"
  exec sudo DEB="$deb" BUILD="$BUILD" bash "$self"
fi
echo "check_deb: $deb ($(du -h "$deb" | cut -f1))"

# Before installing: a maintainer script would run at install time (and could enable a unit).
scripts=$(dpkg-deb -I "$deb" | grep -E '^ +[0-9]+ bytes, +[0-9]+ lines? .*(preinst|postinst|prerm|postrm)' || true)
[ -z "$scripts" ] || fail "the package has maintainer scripts (it must enable nothing): $scripts"

root=$(mktemp -d "${TMPDIR:-/tmp}/vg-deb-root.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
# The empty database knows none of the Depends: they are checked against this machine below.
dpkg --root="$root" --force-depends -i "$deb" >/dev/null 2>"$root.err" ||
  fail "dpkg -i: $(cat "$root.err")"
rm -f "$root.err"
[ "$(dpkg --root="$root" -s vramguard | sed -n 's/^Status: //p')" == "install ok installed" ] ||
  fail "dpkg does not list vramguard as installed in the throwaway root"

for f in usr/bin/vramguard usr/share/man/man1/vramguard.1 \
  usr/share/bash-completion/completions/vramguard usr/share/zsh/vendor-completions/_vramguard \
  usr/share/fish/vendor_completions.d/vramguard.fish usr/lib/systemd/system/vramguard.service \
  usr/lib/systemd/user/vramguard.service usr/share/doc/vramguard/README.md; do
  [ -s "$root/$f" ] || fail "the package does not install /$f"
done
if dpkg-deb -c "$deb" | grep -E 'libnvidia-ml|vg-simgpu|vg-demo'; then
  fail "the package ships a simulated-GPU or demo file (it could shadow the real NVML library)"
fi

out=$("$root/usr/bin/vramguard" --version) || fail "the installed vramguard --version failed"
case "$out" in "vramguard "*) ;; *) fail "vramguard --version said: $out" ;; esac
echo "check_deb: installed: ${out%%$'\n'*}"
missing=$(ldd "$root/usr/bin/vramguard" | grep 'not found' || true)
[ -z "$missing" ] || fail "the installed binary's libraries do not resolve: $missing"
grep -q "^ExecStart=/usr/bin/vramguard up " "$root/usr/lib/systemd/system/vramguard.service" ||
  fail "the system unit's ExecStart is not /usr/bin/vramguard"
grep -q "^ExecStart=/usr/bin/vramguard up " "$root/usr/lib/systemd/user/vramguard.service" ||
  fail "the user unit's ExecStart is not /usr/bin/vramguard"

# Depends (from dpkg-shlibdeps): each group, "a (>= v) | b", has an installed alternative here.
depends=$(dpkg-deb -f "$deb" Depends)
# Every shared library the binary needs (its NEEDED entries: libc and libm, and libhiredis; C++
# libraries are linked in, CMakeLists.txt VRAMGUARD_STATIC_DEPS) comes from a package Depends names.
for needed in $(readelf -d "$root/usr/bin/vramguard" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  # awk reads to the end: an early exit would SIGPIPE ldconfig, a failure under pipefail (141).
  path=$(ldconfig -p | awk -v n="$needed" '$1 == n && !found {print $NF; found = 1}')
  [ -n "$path" ] || fail "the binary needs $needed, which this machine does not have"
  pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(realpath "$path")" 2>/dev/null || true)
  pkg=${pkg%%:*}
  [ -n "$pkg" ] || fail "no installed package provides $path ($needed)"
  case ",$depends" in *[,\ ]"$pkg"[\ ,]* | *[,\ ]"$pkg") ;; *) fail "Depends does not name $pkg (for $needed): $depends" ;; esac
done
IFS=',' read -ra groups <<<"$depends"
for group in "${groups[@]}"; do
  ok=0
  IFS='|' read -ra alts <<<"$group"
  for alt in "${alts[@]}"; do
    name=$(echo "$alt" | sed 's/(.*)//; s/ //g')
    [ "$(dpkg-query -W -f='${Status}' "$name" 2>/dev/null || true)" == "install ok installed" ] && ok=1
  done
  [ $ok -eq 1 ] || fail "Depends: nothing installed here satisfies '$group'"
done
echo "check_deb: Depends: $depends"

if command -v systemd-analyze >/dev/null; then
  # The throwaway root has no systemd of its own (--root finds no sysinit.target, no /bin/kill):
  # verify the installed units with this machine's systemd, their ExecStart pointed at the
  # installed binary inside the root. Any output is a finding (an unknown key only warns).
  for kind in system user; do
    mkdir -p "$root.verify/$kind"
    sed "s|^ExecStart=/usr/bin/|ExecStart=$root/usr/bin/|" "$root/usr/lib/systemd/$kind/vramguard.service" \
      >"$root.verify/$kind/vramguard.service"
    said=$(systemd-analyze verify --man=no "$root.verify/$kind/vramguard.service" 2>&1) && [ -z "$said" ] ||
      { rm -rf "$root.verify"; fail "systemd-analyze verify, the $kind unit: $said"; }
  done
  rm -rf "$root.verify"
  echo "check_deb: systemd-analyze verify: the system and the user unit pass"
else
  echo "check_deb: SKIP systemd-analyze verify: systemd-analyze is not installed (package systemd)"
fi
echo "check_deb: PASS"
