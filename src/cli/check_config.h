// `vramguard check-config FILE [--json]`: validates a config file without starting anything.
//
// Human output: "ok: N services (a, b)" on stdout and status 0 when valid; otherwise each problem
// as one line "file:line:col: message" on stderr and status 2. With json: one document on stdout,
// {"ok", "services": [names], "diagnostics": [{"file", "line", "column", "message"}]}, with the
// same statuses. The Result never holds an Error: every problem with the file is a diagnostic.
#pragma once

#include <ostream>
#include <string>

#include "util/error.h"

namespace vg {

// Exit status of check-config for an invalid file (the same as bad usage, docs/cli.md).
inline constexpr int kExitInvalidConfig = 2;

Result<int> RunCheckConfig(const std::string& path, bool json);
// The same, writing to the given streams (tests).
Result<int> RunCheckConfig(const std::string& path, bool json, std::ostream& out,
                           std::ostream& err);

}  // namespace vg
