#!/usr/bin/env bash
# `vramguard init` on the simulated GPU: the starter config names the GPU the probe finds and
# passes check-config, for the skeleton and every template; an existing file is refused without
# --force; an unknown template is a one-line error naming the choices; without a driver it still
# writes a config and says why no GPU is listed.
source "$(dirname "$0")/lib.sh"
make_gpus --total 24GiB

vg init -o "$WORK/conf/vramguard.toml"
expect_rc 0
expect_contains "$ERR" "wrote $WORK/conf/vramguard.toml"
expect_contains "$(cat "$WORK/conf/vramguard.toml")" "#   0  "
expect_contains "$(cat "$WORK/conf/vramguard.toml")" "24.0 GiB  GPU-"
vg check-config "$WORK/conf/vramguard.toml"
expect_rc 0
expect_eq "$OUT" "ok: 0 services ()" "check-config of the skeleton"

before=$(sha256sum <"$WORK/conf/vramguard.toml")
vg init --template llm -o "$WORK/conf/vramguard.toml"
expect_rc 5
expect_one_line_error
expect_contains "$ERR" "$WORK/conf/vramguard.toml exists; not overwriting it; add --force"
expect_eq "$(sha256sum <"$WORK/conf/vramguard.toml")" "$before" "the refused file is unchanged"

for t in comfyui gradio llama-server vllm llm; do
  vg init --template "$t" --force -o "$WORK/conf/vramguard.toml"
  expect_rc 0
  vg check-config "$WORK/conf/vramguard.toml" --json
  expect_rc 0
  expect_eq "$(jqo '.services | length')" 1 "services in the $t template"
done
expect_contains "$(cat "$WORK/conf/vramguard.toml")" 'vram = "20GiB"'  # llm (vllm): 0.85 × 24 GiB

vg init --template a1111
expect_rc 2
expect_one_line_error
expect_contains "$ERR" "--template: no template 'a1111'; choose comfyui, gradio, llama-server or vllm"

# To stdout, and without a driver.
VRAMGUARD_NVML_LIBRARY="$WORK/no-such-libnvidia-ml.so.1" vg init --template gradio
expect_rc 0
expect_contains "$OUT" "# GPUs: none found ("
expect_contains "$OUT" '# gpus = [0]'
printf '%s\n' "$OUT" >"$WORK/nogpu.toml"
vg check-config "$WORK/nogpu.toml"
expect_rc 0
echo "PASS"
