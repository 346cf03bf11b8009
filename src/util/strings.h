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

}  // namespace vg
