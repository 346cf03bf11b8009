// A config's user patterns (docs/oom.md, "Your own patterns") as classifier signatures — the one
// conversion the daemon's incident watch and `vramguard explain --config` share.
#pragma once

#include <vector>

#include "config/config.h"
#include "core/incident.h"

namespace vg {

// The service's own `patterns` first (when `service` is not null), then the top-level
// `[[pattern]]` tables, in file order. Patterns that would not make a valid signature are left
// out (ParseConfig has already refused them, so that happens only for hand-built configs).
std::vector<Signature> UserSignatures(const Config& config, const ServiceConfig* service);

}  // namespace vg
