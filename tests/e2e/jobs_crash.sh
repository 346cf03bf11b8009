#!/usr/bin/env bash
# The daemon is SIGKILLed under a stream of submissions: after a restart every job that was
# acknowledged (202) is still there and ends terminal or queued — none is lost; the job that ran
# while the daemon died is failed with the interruption as reason (the service is not idempotent).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/jobs_lib.bash"
make_gpus --total 24GiB
STEP=5ms demo_service i2v "$PORT" | jobs_config
start_daemon
wait_state i2v running 20

note "a stream of submissions; SIGKILL in the middle"
: >"$WORK/acked"
(
  for i in $(seq 1 400); do
    code=$(curl -s --unix-socket "$VRAMGUARD_SOCKET" -o "$WORK/sub.$i" -w '%{http_code}' \
      -X POST -H 'Content-Type: application/json' \
      --data-binary "{\"service\":\"i2v\",\"params\":{\"resolution\":256,\"frames\":$((i % 8 + 1)),\"steps\":$((i % 5 + 1))}}" \
      http://x/v1/jobs) || true
    [ "$code" == 202 ] && jq -r .id "$WORK/sub.$i" >>"$WORK/acked"
  done
) &
STREAM=$!
for ((i = 0; i < 500; i++)); do
  [ "$(wc -l <"$WORK/acked")" -ge 40 ] && break
  sleep 0.01
done
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=""
wait "$STREAM" || true
ACKED=$(wc -l <"$WORK/acked")
note "$ACKED submissions acknowledged before the kill"
[ "$ACKED" -ge 40 ] || fail "only $ACKED acknowledged"

note "restart: every acknowledged job is there"
start_daemon
wait_state i2v running 20
for id in $(cat "$WORK/acked"); do
  st=$("$VG_BIN" job "$id" --json 2>/dev/null | jq -r .state)
  case "$st" in done | failed | cancelled | queued | starting | running) ;; *) fail "job $id: '$st' after restart" ;; esac
done
note "and each ends"
for id in $(cat "$WORK/acked"); do
  st=$(wait_terminal "$id" 60)
  case "$st" in
    done) ;;
    failed)
      r=$("$VG_BIN" job "$id" --json | jq -r .reason)
      expect_contains "$r" "interrupted" "reason of failed job $id"
      ;;
    *) fail "job $id ended $st" ;;
  esac
done
vg events --json --kind job-failed -n 1000
note "$(jqo '[.events[] | select(.data.recovered == true)] | length') interrupted job(s) failed on recovery"
echo "PASS"
