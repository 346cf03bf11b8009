#!/usr/bin/env bash
# `vramguard top` in a real terminal (a detached tmux session of fixed size) on the simulated GPU
# with a daemon and a ghost: the frame shows the GPU bar, the service and the ghost; `s` stops the
# selected service through the daemon; `K` then `y` reaps the ghost's holder and the driver gives
# the memory back; `q` leaves and the terminal is as it was (the shell's prompt, its settings).
source "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || fail "tmux is needed for this scenario (scripts/setup.sh --test installs it)"
make_gpus --total 24GiB --overhead 500MiB
write_config <<EOF2
[[service]]
name = "svc"
command = ["vg-simgpu", "run", "--alloc", "2GiB"]
gpus = [0]
vram = "2GiB"
EOF2
start_daemon
wait_state svc running 10
sim ghost --gpu 0 --alloc 3GiB --fork-worker --new-session --crash-after 200ms
wait_gone "$ghost_PID" 5 || fail "the simulated process did not crash"

note "without a terminal: one line saying what to do; --once and --once --json work anywhere"
vg top </dev/null
expect_rc 2
expect_one_line_error
expect_contains "$ERR" "--once"
vg top --once
expect_rc 0
expect_contains "$OUT" "GHOST"
expect_contains "$OUT" "svc"
[ "$(printf '%s' "$OUT" | grep -c $'\033')" -eq 0 ] || fail "escape codes in a frame that is not on a terminal"
vg top --once --json
expect_rc 0
expect_eq "$(jqo ".gpus[0].processes[] | select(.pid == $ghost_PID) | .state")" exited "ghost in JSON"
expect_eq "$(jqo '.services[0].name')" svc "service in JSON"

TMUX_SOCK="$WORK/tmux.sock"
tm() { tmux -S "$TMUX_SOCK" "$@"; }
cleanup_tmux() { tm kill-server 2>/dev/null || true; }
trap 'cleanup_tmux; cleanup' EXIT
screen() { tm capture-pane -p -t top; }
# wait_screen TEXT [SECONDS]: until the pane shows TEXT.
wait_screen() {
  local i
  for ((i = 0; i < ${2:-10} * 10; i++)); do
    screen | grep -qF -- "$1" && return 0
    sleep 0.1
  done
  fail "the terminal never showed '$1'; it shows:
$(screen)"
}

# A shell in a 120x40 terminal; `top` runs in it, so its exit brings the prompt back.
tm -f /dev/null new-session -d -s top -x 120 -y 40 "env PS1='prompt\$ ' bash --norc --noprofile"
wait_screen 'prompt$'
tm send-keys -t top "stty -g > $WORK/stty.before" Enter
wait_file_or_fail() { wait_for_file "$1" 5 || fail "$1 was not written"; }
wait_file_or_fail "$WORK/stty.before"
tm send-keys -t top "$VG_BIN top" Enter

note "the frame: GPU bar, the service, the ghost"
wait_screen "GHOST"
wait_screen "GPU 0"
screen | grep -q '^GPU 0 .*\[.*\] .* / 24.0 GiB used' || fail "no memory bar: $(screen)"
screen | grep -q "^>.*svc .*running" || fail "the service is not shown selected: $(screen)"
screen | grep -q "$ghost_PID .*GHOST.*held by $ghost_WORKER" || fail "ghost not shown: $(screen)"

note "a smaller terminal: the frame is redrawn to its width, the key line still shown"
tm resize-window -t top -x 60 -y 15
# At 120 columns the GPU line fits whole; cut with "…" at 60 only once top redrew (SIGWINCH).
for ((i = 0; i < 50; i++)); do screen | grep -q '^GPU 0 .*…$' && break; sleep 0.1; done
screen | grep -q '^GPU 0 .*…$' || fail "not redrawn for 60 columns: $(screen)"
screen | grep -q "^q quit" || fail "the key line is gone at 60x15: $(screen)"
screen | grep -q "GHOST" || fail "the ghost is gone at 60x15: $(screen)"
tm resize-window -t top -x 120 -y 40

note "s stops the selected service through the daemon"
tm send-keys -t top s
wait_state svc stopped 10
wait_screen "stop svc: requested"

note "K then y reaps the ghost's holder; the memory comes back"
for ((i = 0; i < 20; i++)); do
  screen | grep -q "^>.*GHOST" && break
  tm send-keys -t top j
  sleep 0.3
done
screen | grep -q "^>.*GHOST" || fail "could not select the ghost: $(screen)"
tm send-keys -t top K
wait_screen "y/n"
expect_contains "$(screen | grep 'y/n')" "$ghost_WORKER"
tm send-keys -t top y
wait_screen "back, verified by the driver" 15
wait_gone "$ghost_WORKER" 2 || fail "the ghost's holder is still alive"
expect_eq "$(gpu_used 0)" 0 "GPU used after the reap from top"

note "Ctrl-Z gives the terminal back while top is stopped; fg brings it back"
tm send-keys -t top C-z
wait_screen 'prompt$'
rm -f "$WORK/stty.after"
tm send-keys -t top "stty -g > $WORK/stty.after" Enter
wait_file_or_fail "$WORK/stty.after"
expect_eq "$(cat "$WORK/stty.after")" "$(cat "$WORK/stty.before")" "terminal settings while stopped"
tm send-keys -t top "fg" Enter
wait_screen "q quit"

note "q leaves: the prompt is back and the terminal settings are as they were"
tm send-keys -t top q
wait_screen 'prompt$'
for ((i = 0; i < 50; i++)); do pgrep -f "^$VG_BIN top\$" >/dev/null || break; sleep 0.1; done
pgrep -f "^$VG_BIN top\$" >/dev/null && fail "top did not exit"
screen | grep -q "GHOST\|q quit" && fail "the alternate screen was not left: $(screen)"
rm -f "$WORK/stty.after"
tm send-keys -t top "stty -g > $WORK/stty.after" Enter
wait_file_or_fail "$WORK/stty.after"
expect_eq "$(cat "$WORK/stty.after")" "$(cat "$WORK/stty.before")" "terminal settings after top"

note "SIGTERM while top runs also gives the terminal back"
tm send-keys -t top "$VG_BIN top" Enter
wait_screen "q quit"
top_pid=$(pgrep -f "^$VG_BIN top\$") || fail "top is not running"
kill -TERM "$top_pid"
wait_screen 'prompt$'
rm -f "$WORK/stty.after"
tm send-keys -t top "stty -g > $WORK/stty.after" Enter
wait_file_or_fail "$WORK/stty.after"
expect_eq "$(cat "$WORK/stty.after")" "$(cat "$WORK/stty.before")" "terminal settings after SIGTERM"
echo "PASS"
