// Command-line mistakes in vramguard's own words: CLI11's parse errors ("A subcommand is
// required", "Could not convert: --priority = high", "The following argument was not expected")
// rewritten as one line that names the command or option, what was expected, and a did-you-mean.
//
// Pure: the command table is described by UsageShape (built from the CLI11 app in main.cc), so
// the rewriting is tested with plain values.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vg {

struct UsageShape {
  std::vector<std::string> commands;  // in help order
  // command → its options: long or short name ("--json", "-n") → CLI11 type name ("INT", "TEXT",
  // "" for flags).
  std::map<std::string, std::map<std::string, std::string>> options;
};

// error_name: CLI11's exception class name (ParseError::get_name()); what: its message; args:
// argv[1..]. Returns the line to print after "vramguard: ".
std::string UsageErrorLine(const UsageShape& shape, std::string_view error_name,
                           std::string_view what, const std::vector<std::string>& args);

}  // namespace vg
