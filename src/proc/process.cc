#include "proc/process.h"

namespace vg {
namespace {

bool NeedsQuotes(const std::string& arg) {
  return arg.empty() || arg.find_first_of(" \t\n") != std::string::npos;
}

// 'arg' with each ' written as '\'' so the result pastes into a shell as one word.
void AppendQuoted(const std::string& arg, std::string* out) {
  out->push_back('\'');
  for (char c : arg) {
    if (c == '\'') {
      out->append("'\\''");
    } else {
      out->push_back(c);
    }
  }
  out->push_back('\'');
}

}  // namespace

// Arguments are joined with spaces. When there are several, an argument that is empty or holds
// blanks is single-quoted so the words stay apart; a lone argument is shown as is (processes that
// rewrite their title, like "nginx: worker process", leave one argument with spaces).
std::string ProcessInfo::CommandLine() const {
  if (argv.empty()) return "[" + comm + "]";
  if (argv.size() == 1) return argv.front();
  std::string out;
  std::size_t size = argv.size();
  for (const std::string& arg : argv) size += arg.size() + 2;
  out.reserve(size);
  for (const std::string& arg : argv) {
    if (!out.empty()) out.push_back(' ');
    if (NeedsQuotes(arg)) {
      AppendQuoted(arg, &out);
    } else {
      out.append(arg);
    }
  }
  return out;
}

}  // namespace vg
