// libFuzzer target: config files. Any TOML text through the config parser ends in a Config or a
// list of file:line:col diagnostics, never a crash, a hang or an exception.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  vg::ConfigResult result = vg::ParseConfig(text, "fuzz.toml");
  if (!result) {
    if (result.error().empty()) std::abort();  // a failure always says why
  }
  return 0;
}
