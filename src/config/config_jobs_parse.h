// Internal to src/config: the job keys of a [[service]] table — `jobs`, `[[service.param]]`,
// `[[service.sizing]]` and `idle_unload` — into ServiceConfig::jobs / idle_unload. Problems go to
// the reader's diagnostics with the value's line:col. Not thread-safe (one ParseConfig call).
#pragma once

#include "config/config_reader.h"
#include "config/config_types.h"

namespace vg::config_internal {

// Reads the keys through `r` (marking them valid); call before r.RejectUnknownKeys().
void ParseJobKeys(TableReader& r, ServiceConfig* s);

}  // namespace vg::config_internal
