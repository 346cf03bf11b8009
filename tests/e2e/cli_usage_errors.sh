#!/usr/bin/env bash
# Command-line mistakes get one line in vramguard's own words and exit status 2: an unknown
# command or option with a did-you-mean, a bad number naming the option and the form; --version
# names the build and the NVML library; every command's --help ends with an example.
source "$(dirname "$0")/lib.sh"

vg statsu
expect_rc 2
expect_one_line_error
expect_contains "$ERR" "unknown command 'statsu' (did you mean 'status'?)"

vg
expect_rc 2
expect_contains "$ERR" "say what to do: one of gpus, ps, reap"

vg ps --jsno
expect_rc 2
expect_contains "$ERR" "unknown option '--jsno' for \`vramguard ps\` (did you mean '--json'?)"

vg submit i2v --priority high
expect_rc 2
expect_one_line_error
expect_contains "$ERR" "--priority: 'high' is not a whole number (e.g. --priority 10)"

vg --version
expect_rc 0
expect_contains "$OUT" "vramguard "
expect_contains "$OUT" "(commit "
expect_contains "$OUT" "NVML library: "

for c in gpus ps reap top up check-config explain status start stop restart logs events reload \
  submit jobs job cancel; do
  vg "$c" --help
  expect_rc 0
  expect_contains "$OUT" "Example:"
  expect_contains "$OUT" "vramguard $c"
done
