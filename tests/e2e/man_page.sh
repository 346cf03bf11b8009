#!/usr/bin/env bash
# The man page the build generated from the docs (what `cmake --install` installs) names every
# command `vramguard --help` lists, carries the exit-status table and the environment, and is
# valid roff (groff -ww reports nothing, where groff is installed).
source "$(dirname "$0")/lib.sh"
page="$(dirname "$VG_BIN")/man/vramguard.1"
[ -s "$page" ] || fail "the build did not write $page"

vg --help
expect_rc 0
commands=$(printf '%s\n' "$OUT" | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
[ "$(printf '%s\n' "$commands" | wc -l)" -ge 15 ] || fail "could not read the commands from --help: $OUT"
for c in $commands; do
  grep -q "vramguard $c\b" "$page" || fail "the man page does not name \`vramguard $c\` (add it to the README's command tables or docs/cli.md)"
done
for section in '^\.SH COMMANDS' '^\.SH "EXIT STATUSES"' '^\.SH ENVIRONMENT' 'VRAMGUARD_SOCKET'; do
  grep -q "$section" "$page" || fail "the man page has no $section"
done
if command -v groff >/dev/null; then
  warnings=$(LC_ALL=C.UTF-8 groff -k -man -Tutf8 -ww -z "$page" 2>&1)
  [ -z "$warnings" ] || fail "groff warns about the man page: $warnings"
fi
echo "PASS"
