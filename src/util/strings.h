// Small string helpers shared by the parsers (units, config). ASCII only: config keys, units and
// signal names are ASCII; anything else is left as it is.
#pragma once

#include <string>
#include <string_view>

namespace vg {

std::string AsciiLower(std::string_view s);
std::string AsciiUpper(std::string_view s);
// Without leading and trailing whitespace.
std::string_view TrimSpace(std::string_view s);
// For one line of an event or error: every run of control characters (newlines, tabs, escapes)
// becomes one space, and text past max_bytes is cut (at a UTF-8 boundary) and ends with "…".
std::string OneLine(std::string_view s, std::size_t max_bytes);

}  // namespace vg
