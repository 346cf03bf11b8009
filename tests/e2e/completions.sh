#!/usr/bin/env bash
# The shell completions list exactly the commands `vramguard --help` lists (they are generated from
# the subcommand table, and the build's copies — what `cmake --install` installs — are the same
# text); bash's completes commands and each command's options; an unknown shell is an error.
source "$(dirname "$0")/lib.sh"

vg --help
expect_rc 0
# CLI11's help: a "Subcommands:" heading, then one "  name  description" line per command.
help_commands=$(printf '%s\n' "$OUT" | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1}' | sort)
[ "$(printf '%s\n' "$help_commands" | wc -l)" -ge 15 ] || fail "could not read the commands from --help: $OUT"

# bash: run the completion function as bash would on `vramguard <TAB>`.
vg completion bash
expect_rc 0
printf '%s' "$OUT" >"$WORK/vramguard.bash"
complete_words() {  # complete_words WORD…: COMPREPLY for the command line "vramguard WORD…"
  bash -c 'source "$1"; shift; COMP_WORDS=(vramguard "$@"); COMP_CWORD=$(($# )); _vramguard
           printf "%s\n" "${COMPREPLY[@]}"' _ "$WORK/vramguard.bash" "$@"
}
bash_commands=$(complete_words "" | grep -v '^--' | sort)
expect_eq "$bash_commands" "$help_commands" "bash completion's commands vs --help"
expect_eq "$(complete_words st | sort | tr '\n' ' ')" "start status stop " "bash: st<TAB>"
expect_eq "$(complete_words reap --g | sort | tr '\n' ' ')" "--ghosts --grace " "bash: reap --g<TAB>"
expect_eq "$(complete_words reap --grace "" | wc -w)" 0 "bash: a value after --grace is left to the shell"
expect_eq "$(complete_words init --template "" | sort | tr '\n' ' ')" "comfyui gradio llama-server llm vllm " "bash: init --template <TAB>"
expect_eq "$(complete_words completion "" | sort | tr '\n' ' ')" "bash fish zsh " "bash: completion <TAB>"

# zsh and fish: their command lists (syntax-checked where the shell is installed).
vg completion zsh
expect_rc 0
zsh_commands=$(printf '%s\n' "$OUT" | sed -n "/^  commands=(/,/^  )/s/^    '\\([a-z-]*\\):.*/\\1/p" | sort)
expect_eq "$zsh_commands" "$help_commands" "zsh completion's commands vs --help"
if command -v zsh >/dev/null; then printf '%s' "$OUT" | zsh -n || fail "zsh -n rejects the zsh completion"; fi
vg completion fish
expect_rc 0
fish_commands=$(printf '%s\n' "$OUT" | sed -n 's/^complete -c vramguard -n __fish_use_subcommand -a \([a-z-]*\) .*/\1/p' | sort)
expect_eq "$fish_commands" "$help_commands" "fish completion's commands vs --help"
if command -v fish >/dev/null; then printf '%s' "$OUT" | fish -n || fail "fish -n rejects the fish completion"; fi

# What the build wrote for `cmake --install` is the same text.
for shell in bash zsh fish; do
  built="$(dirname "$VG_BIN")/completions/vramguard.$shell"
  [ -f "$built" ] || fail "the build did not write $built"
  cmp -s "$built" <("$VG_BIN" completion "$shell") || fail "$built differs from \`vramguard completion $shell\`"
done

vg completion tcsh
expect_rc 2
expect_one_line_error
expect_contains "$ERR" "no completion for shell 'tcsh'; choose bash, zsh or fish"
echo "PASS"
