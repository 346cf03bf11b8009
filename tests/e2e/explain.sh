#!/usr/bin/env bash
# `explain` over a log file and stdin: every incident with its line number, kind, numbers and
# sentence; a traceback is one incident; --json; exit 0 with or without findings; a missing file.
source "$(dirname "$0")/lib.sh"
FIX="$(dirname "$0")/../fixtures/logs"
LOG="$WORK/service.log"
# ComfyUI (ready + an OOM whose traceback repeats it, 24 lines), a sticky error, a port clash.
cat "$FIX/comfyui_oom.log" "$FIX/torch_sticky.log" "$FIX/gradio_port_clash.log" >"$LOG"
printf '\x1b[31mRuntimeError: CUDA error: out of memory\x1b[0m\r\n' >>"$LOG"
ooms=$(wc -l <"$FIX/comfyui_oom.log")
sticky=$(wc -l <"$FIX/torch_sticky.log")

note "human output"
vg explain "$LOG" --service i2v
expect_rc 0
expect_contains "$OUT" "line 20: oom torch-oom (pytorch): CUDA out of memory"
expect_contains "$OUT" "i2v asked for 2.10 GiB on GPU 0 with 1.20 GiB free of 23.65 GiB; process 4242 holds 9.80 GiB"
expect_contains "$OUT" "requested 2.1 GiB · GPU 0"
expect_contains "$OUT" "i2v hit a sticky CUDA error (illegal memory access); the process must restart"
expect_contains "$OUT" "i2v could not listen on port 7860: another process holds it"
expect_contains "$OUT" "5 incidents in $(wc -l <"$LOG") lines"

note "--json from stdin"
vg explain --json <"$LOG"
expect_rc 0
expect_eq "$(jqo '.incidents | length')" 5 "incidents"
expect_eq "$(jqo '.lines')" "$(wc -l <"$LOG")" "lines"
expect_eq "$(jqo '[.incidents[].kind] | join(",")')" "ready,oom,sticky,port-clash,oom" "kinds"
expect_eq "$(jqo '.incidents[1].requested_bytes')" $(((210 * 1024 ** 3 + 50) / 100)) "requested"
expect_eq "$(jqo '.incidents[1].processes[0].pid')" 4242 "pid"
expect_eq "$(jqo '.incidents[2].line_number')" $((ooms + 7)) "sticky line"
expect_eq "$(jqo '.incidents[2].context[0]')" "Traceback (most recent call last):" "traceback context"
expect_eq "$(jqo '.incidents[3].port')" 7860 "port"
expect_eq "$(jqo '.incidents[4].line')" "RuntimeError: CUDA error: out of memory" "ANSI and CR removed"
expect_contains "$(jqo '.incidents[1].explanation')" "the service asked for 2.10 GiB"

note "- is stdin; nothing found is still exit 0"
OUT=$(printf 'INFO: all good\n--lowvram: use this if you run out of memory\n' | "$VG_BIN" explain -)
expect_eq "$OUT" "no incidents in 2 lines" "clean log"

note "a missing file: one line, not-found status"
vg explain "$WORK/nope.log"
expect_rc 3
expect_one_line_error
expect_contains "$ERR" "nope.log"

note "a binary file is refused, not mined for incidents; UTF-16 gets the conversion to run"
vg explain "$VG_BIN"
expect_rc 2
expect_one_line_error
expect_contains "$ERR" "is not a text log (it has NUL bytes)"
printf '\xff\xfeO\x00O\x00M\x00\n\x00' >"$WORK/u16.log"
vg explain "$WORK/u16.log"
expect_rc 2
expect_contains "$ERR" "iconv -f UTF-16 -t UTF-8"
echo "PASS"
