#include "cli/usage_errors.h"

#include "config/config_values.h"

namespace vg {
namespace {

std::string OneLine(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '\n') c = ' ';
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string CommandList(const UsageShape& shape) {
  std::string out;
  for (const std::string& c : shape.commands) out += (out.empty() ? "" : ", ") + c;
  return out;
}

// The command the user typed: the first argument that names one.
std::string TypedCommand(const UsageShape& shape, const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    for (const std::string& c : shape.commands) {
      if (a == c) return c;
    }
  }
  return "";
}

// The first word after the last ": " of a CLI11 message ("… not expected: frobnicate x").
std::string FirstAfterColon(std::string_view what) {
  const std::size_t colon = what.rfind(": ");
  std::string_view rest = colon == std::string_view::npos ? what : what.substr(colon + 2);
  const std::size_t space = rest.find(' ');
  return std::string(space == std::string_view::npos ? rest : rest.substr(0, space));
}

std::string Expected(std::string_view type) {
  if (type == "INT" || type == "UINT") return "a whole number";
  if (type == "FLOAT") return "a number";
  return "a value of type " + std::string(type);
}

std::string DidYouMean(const std::string& typed, const std::vector<std::string>& candidates) {
  if (auto near = NearestKey(typed, candidates)) return " (did you mean '" + *near + "'?)";
  return "";
}

}  // namespace

std::string UsageErrorLine(const UsageShape& shape, std::string_view error_name,
                           std::string_view what, const std::vector<std::string>& args) {
  const std::string command = TypedCommand(shape, args);
  const std::string help = command.empty() ? "`vramguard --help` shows each command with an example"
                                           : "`vramguard " + command + " --help` lists its options";
  // CLI11 names a subcommand's extras error after the subcommand: the message says what it is.
  const bool extras = error_name == "ExtrasError" ||
                      what.starts_with("The following argument was not expected") ||
                      what.starts_with("The following arguments were not expected");
  if (error_name == "RequiredError" && what.find("subcommand") != std::string_view::npos) {
    // "vramguard statsu": the word is not a command, so CLI11 says no command was given.
    for (const std::string& a : args) {
      if (a.starts_with('-')) continue;
      return "unknown command '" + a + "'" + DidYouMean(a, shape.commands) +
             "; commands: " + CommandList(shape);
    }
    return "say what to do: one of " + CommandList(shape) + "; " + help;
  }
  if (extras) {
    const std::string token = FirstAfterColon(what);
    if (command.empty() && !token.starts_with('-')) {
      return "unknown command '" + token + "'" + DidYouMean(token, shape.commands) +
             "; commands: " + CommandList(shape);
    }
    if (token.starts_with('-')) {
      std::vector<std::string> names;
      if (auto it = shape.options.find(command); it != shape.options.end()) {
        for (const auto& [name, type] : it->second) names.push_back(name);
      }
      std::string where = command.empty() ? "" : " for `vramguard " + command + "`";
      return "unknown option '" + token + "'" + where + DidYouMean(token, names) + "; " + help;
    }
    return "'" + token + "' is not expected after `vramguard " + command + "`; " + help;
  }
  if (error_name == "ConversionError") {
    // "Could not convert: --priority = high"
    const std::size_t colon = what.find(": ");
    const std::size_t eq = what.find(" = ");
    if (colon != std::string_view::npos && eq != std::string_view::npos && eq > colon) {
      const std::string option(what.substr(colon + 2, eq - colon - 2));
      const std::string value(what.substr(eq + 3));
      std::string type;
      if (auto it = shape.options.find(command); it != shape.options.end()) {
        if (auto o = it->second.find(option); o != it->second.end()) type = o->second;
      }
      std::string line =
          option + ": '" + value + "' is not " + Expected(type.empty() ? "INT" : type);
      if (type.empty() || type == "INT" || type == "UINT") line += " (e.g. " + option + " 10)";
      return line + "; " + help;
    }
  }
  return OneLine(what) + "; " + help;
}

}  // namespace vg
