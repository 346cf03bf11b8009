#include "util/strings.h"

#include <algorithm>
#include <cctype>

namespace vg {

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string AsciiUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string OneLine(std::string_view s, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(s.size(), max_bytes + 3));
  bool space = false, cut = false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      space = !out.empty();
      continue;
    }
    if (out.size() + (space ? 1 : 0) >= max_bytes) {
      cut = true;
      break;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  if (cut) {
    // Drop a multi-byte character the cut split (its lead byte and any continuation bytes).
    std::size_t i = out.size();
    while (i > 0 && (static_cast<unsigned char>(out[i - 1]) & 0xC0) == 0x80) --i;
    if (i > 0 && static_cast<unsigned char>(out[i - 1]) >= 0xC0) {
      const auto lead = static_cast<unsigned char>(out[i - 1]);
      const std::size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
      if (out.size() - (i - 1) < len) out.resize(i - 1);
    }
    out += "…";
  }
  return out;
}

}  // namespace vg
