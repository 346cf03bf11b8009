// `vramguard up`: the supervisor daemon in the foreground.
#pragma once

#include <string>

#include "util/error.h"

namespace vg {

struct UpOptions {
  std::string config;          // empty: DefaultConfigPath()
  bool keep_services = false;  // leave services running on exit (daemon upgrade)
};

Result<int> RunUp(const UpOptions& options);

}  // namespace vg
