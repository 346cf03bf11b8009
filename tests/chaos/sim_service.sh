#!/usr/bin/env bash
# The chaos soak's plain simulated CUDA service: a shell that runs `vg-simgpu run` (with a forked
# worker, so killing the simulated process leaves a ghost) and waits for it. The soak drives it
# with signals, so every fault is a real output line or a real process, never a file written
# behind the daemon's back:
#   SIGUSR1  print the OOM line(s) of --oom-file on stdout (a PyTorch OOM, tests/fixtures/logs)
#   SIGUSR2  start a `setsid` escapee: a simulated CUDA process in a new session, double-forked
#            so it is reparented away from this shell (it keeps the instance tag in its env)
# With --long-line-flag FILE present at start, it first prints one line of 40,000 characters
# (issue 10, finding 1: a long line against a `.*` ready pattern).
# Exits with the simulated process's status (137 when it was SIGKILLed: a crash).
set -u
alloc=1GiB oom_file="" long_flag="" escapee=256MiB
while [ $# -gt 0 ]; do
  case $1 in
    --alloc) alloc=$2; shift 2 ;;
    --oom-file) oom_file=$2; shift 2 ;;
    --long-line-flag) long_flag=$2; shift 2 ;;
    --escapee) escapee=$2; shift 2 ;;
    *) echo "sim_service.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -n "$long_flag" ] && [ -e "$long_flag" ]; then
  printf '%*s ready\n' 40000 '' | tr ' ' 'x'
fi
trap '[ -n "$oom_file" ] && cat "$oom_file"' USR1
trap '( vg-simgpu run --alloc "$escapee" --new-session --fork-worker >/dev/null 2>&1 & )' USR2
vg-simgpu run --alloc "$alloc" --fork-worker &
child=$!
while :; do
  wait "$child"
  rc=$?
  # A trap interrupts `wait` with a status above 128 while the child still runs.
  if [ "$rc" -gt 128 ] && kill -0 "$child" 2>/dev/null; then continue; fi
  exit "$rc"
done
