#!/usr/bin/env bash
# The control API refuses abuse with the right status and a JSON error: oversized body, wrong
# content type, malformed JSON, unknown service, unknown route, too many header fields, deep JSON,
# a long path (never echoed back whole); the socket is owner-only.
source "$(dirname "$0")/lib.sh"
make_gpus --total 24GiB
write_config <<EOF2
[[service]]
name = "one"
command = ["sleep", "600"]
EOF2
start_daemon
[ "$(stat -c %a "$VRAMGUARD_SOCKET")" == 600 ] || fail "socket mode $(stat -c %a "$VRAMGUARD_SOCKET")"
api() { curl -s --unix-socket "$VRAMGUARD_SOCKET" -o "$WORK/body" -w '%{http_code}' "$@"; }
head -c 2097152 /dev/zero | tr '\0' 'a' >"$WORK/big"
expect_eq "$(api -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/big" http://x/v1/reload)" 413 "oversized body"
expect_eq "$(api -X POST -H 'Content-Type: text/plain' -d 'hi' http://x/v1/reload)" 415 "content type"
expect_eq "$(api -X POST -H 'Content-Type: application/json' -d '{not json' http://x/v1/reload)" 400 "bad JSON"
expect_eq "$(api http://x/v1/services/nope)" 404 "unknown service"
jq -e .error "$WORK/body" >/dev/null || fail "no JSON error body: $(cat "$WORK/body")"
expect_eq "$(api http://x/v1/nothing)" 404 "unknown route"
expect_eq "$(api -X DELETE http://x/v1/status)" 405 "wrong method"
# Limits (docs/api.md): too many header fields, deep JSON; the errors stay short.
headers=(); for i in $(seq 1 101); do headers+=(-H "X-$i: a"); done
expect_eq "$(api "${headers[@]}" http://x/v1/status)" 431 "101 header fields"
python3 -c "import sys; n=400000; sys.stdout.write('{\"a\":' + '['*n + ']'*n + '}')" >"$WORK/deep.json"
expect_eq "$(api -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/deep.json" http://x/v1/reload)" 400 "400,000 levels"
expect_contains "$(cat "$WORK/body")" "deeper than 64 levels"
expect_eq "$(api "http://x/v1/$(head -c 5000 /dev/zero | tr '\0' 'p')")" 404 "long path"
[ "$(stat -c %s "$WORK/body")" -lt 300 ] || fail "the 404 echoes the path: $(stat -c %s "$WORK/body") bytes"
vg stop nope
expect_rc 3; expect_one_line_error; expect_contains "$ERR" "no service named 'nope'"
kill -0 "$DAEMON_PID" || fail "daemon died"
echo "PASS"
