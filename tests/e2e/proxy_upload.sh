#!/usr/bin/env bash
# A 50 MiB upload through the front door (docs/proxy.md): the demo service's POST /upload counts
# and checksums what arrives; through the proxy it receives every byte (size and Adler-32 equal
# to the file's) and the daemon's peak memory does not grow by the upload's size — the proxy
# streams request bodies, it never holds one whole. The same upload straight to the service is
# timed beside it. (Under AddressSanitizer freed memory is quarantined, so the memory check is
# skipped there; the byte check is not.)
source "$(dirname "$0")/lib.sh"
[ -n "${VG_DEMO:-}" ] || { echo "SKIP: vg-demo-service not built"; exit 0; }
make_gpus --total 24GiB --overhead 500MiB
PROXY_PORT=$((PORT + 1))
write_config <<EOF2
[[service]]
name = "i2v"
command = ["vg-demo-service", "--port", "$PORT", "--model", "2GiB", "--load-time", "100ms", "--read-timeout", "60s"]
gpus = [0]
vram = "4GiB"
port = $PORT
ready = { log = "Running on local URL", timeout = "20s" }

[service.proxy]
listen = "127.0.0.1:$PROXY_PORT"
EOF2
start_daemon
wait_state i2v running 20
SIZE=$((50 * 1024 * 1024))
head -c "$SIZE" /dev/urandom >"$WORK/upload.bin"
want=$(python3 -c 'import sys, zlib; print(zlib.adler32(open(sys.argv[1], "rb").read()))' "$WORK/upload.bin")
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$DAEMON_PID/status"; }  # KiB

# upload URL: POST the file (no Expect: 100-continue, as a browser sends it); sets ANSWER, MS.
upload() {
  local t0 t1 code
  t0=$(date +%s%N)
  code=$(curl -s --max-time 60 -o "$WORK/answer" -w '%{http_code}' -X POST -H 'Expect:' \
    -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/upload.bin" "$1" || echo 000)
  t1=$(date +%s%N)
  expect_eq "$code" 200 "upload to $1: $(head -c 300 "$WORK/answer")"
  ANSWER=$(cat "$WORK/answer")
  MS=$(((t1 - t0) / 1000000))
}

note "50 MiB straight to the service, then through the proxy"
upload "http://127.0.0.1:$PORT/upload"
expect_eq "$(printf '%s' "$ANSWER" | jq .bytes)" "$SIZE" "bytes the service got directly"
direct_ms=$MS
before=$(hwm)
upload "http://127.0.0.1:$PROXY_PORT/upload"
after=$(hwm)
expect_eq "$(printf '%s' "$ANSWER" | jq .bytes)" "$SIZE" "bytes the service got through the proxy"
expect_eq "$(printf '%s' "$ANSWER" | jq .adler32)" "$want" "Adler-32 of what it got through the proxy"
echo "50 MiB: direct ${direct_ms} ms, through the proxy ${MS} ms; daemon peak RSS ${before} → ${after} KiB"
if [ -n "${ASAN_OPTIONS:-}" ]; then
  echo "memory check skipped: AddressSanitizer quarantines freed memory"
else
  [ $((after - before)) -lt $((16 * 1024)) ] ||
    fail "the daemon's peak memory grew by $(((after - before) / 1024)) MiB for a 50 MiB upload: buffered?"
fi
echo "PASS"
