// Shell completions (bash, zsh, fish) generated from the subcommand table, so they never drift
// from it: `vramguard completion SHELL` prints the script, and the build writes the three that
// `cmake --install` puts in place (CMakeLists.txt).
//
// Pure: the table is described by plain values (CompletionCommand, built from the CLI11 app in
// main.cc), so each script is tested without CLI11.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace vg {

struct CompletionOption {
  std::vector<std::string> names;  // "--json", "-n"
  std::string help;
  bool takes_value = false;          // false: a flag
  std::vector<std::string> choices;  // the values it takes, when there are few (init --template)
};

struct CompletionCommand {
  std::string name;
  std::string help;
  std::vector<CompletionOption> options;
  bool takes_file = false;  // a positional argument that is a file (check-config, explain)
  std::vector<std::string> arg_choices;  // the values of its positional argument (completion)
};

// The shells CompletionScript knows.
std::vector<std::string> CompletionShells();

// The script for `shell` ("bash", "zsh" or "fish"); any other name is kInvalidArgument naming
// the three.
Result<std::string> CompletionScript(std::string_view shell,
                                     const std::vector<CompletionCommand>& commands);

}  // namespace vg
