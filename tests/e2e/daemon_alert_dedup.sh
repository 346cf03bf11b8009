#!/usr/bin/env bash
# Alert de-duplication and failures: three OOMs of the same cause within the window make one
# alert at once (count 1) and one summary when the window closes (count 2); a webhook nobody
# listens on fails after its retries and becomes an `alert-failed` event (never itself alerted);
# a command receiver gets the event JSON on stdin.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/incident_helpers.bash"
make_gpus --total 24GiB --overhead 500MiB
start_receiver hook
dead=$(free_port)
# The service: three OOMs of the same cause, each after a dozen ordinary lines (the classifier
# folds OOM lines that come within 10 lines of each other into one incident), then it goes on.
cat >"$WORK/ooms.sh" <<'EOS'
sleep 0.5
for i in 1 2 3; do
  for k in $(seq 12); do echo "step $i.$k"; done
  echo "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.10 GiB. GPU 0 has a total capacity of 23.99 GiB of which 1.20 GiB is free. Including non-PyTorch memory, this process has 12.51 GiB memory in use. Of the allocated memory 12.00 GiB is allocated by PyTorch, and 0 bytes is reserved by PyTorch but unallocated." >&2
  sleep 0.1
done
exec sleep 120
EOS
write_config <<EOF2
[[service]]
name = "comfy-alerts"
command = ["bash", "$WORK/ooms.sh"]
on_oom = "ignore"

[[alert]]
webhook = "http://127.0.0.1:$hook_PORT/hook"
kinds = ["oom"]
dedup = "2s"

[[alert]]
webhook = "http://127.0.0.1:$dead/hook"
kinds = ["oom"]
dedup = "1m"
retries = 1
timeout = "500ms"

[[alert]]
command = ["bash", "-c", "cat >> '$WORK/command.alerts'; echo >> '$WORK/command.alerts'"]
kinds = ["oom"]
dedup = "1m"
EOF2
start_daemon
wait_state comfy-alerts running 10
for ((i = 0; i < 250; i++)); do [ "$(event_count comfy-alerts oom)" -ge 3 ] && break; sleep 0.02; done
expect_eq "$(event_count comfy-alerts oom)" 3 "oom events"
wait_hooks hook 1 5
sleep 0.3
expect_eq "$(hook_bodies hook | wc -l)" 1 "alerts before the window closed"
expect_eq "$(hook_bodies hook | head -1 | jq .count)" 1 "first alert count"
wait_hooks hook 2 5
expect_eq "$(hook_bodies hook | sed -n 2p | jq .count)" 2 "summary count"
expect_eq "$(hook_bodies hook | sed -n 2p | jq .alert.summary)" true "summary flag"
sleep 0.5
expect_eq "$(hook_bodies hook | wc -l)" 2 "alerts in all"

# The dead webhook: one alert-failed event, and it is not alerted.
wait_event comfy-alerts alert-failed 10
expect_eq "$(event_count comfy-alerts alert-failed)" 1 "alert-failed events"
expect_contains "$(event_message comfy-alerts alert-failed)" "after 2 attempt(s)"
expect_eq "$(hook_bodies hook | jq -r .kind | sort -u)" oom "kinds alerted"

# The command got the first event's JSON on stdin.
for ((i = 0; i < 250; i++)); do [ -s "$WORK/command.alerts" ] && break; sleep 0.02; done
expect_eq "$(head -1 "$WORK/command.alerts" | jq -r .kind)" oom "command alert kind"
echo "PASS"
