#!/usr/bin/env bash
# The OOM-intelligence regression corpus: every real error text of tests/fixtures/logs/corpus
# through `vramguard explain --json`, checked against its expectation (kind, numbers, count), one
# by one and as one concatenated log (tests/corpus/check.py).
source "$(dirname "$0")/lib.sh"
python3 "$(dirname "$0")/../corpus/check.py" --bin "$VG_BIN" || fail "corpus differs"
echo "PASS"
