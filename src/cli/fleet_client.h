// `vramguard fleet [--config FILE] [--job ID] [--json]` (docs/fleet.md): the fleet as Redis holds
// it, read directly (no daemon needed): the hosts alive (their heartbeat has not expired) with
// GPUs, free/total, capacity per service, jobs running and queued; per job stream the entries
// waiting and pending (taken, not acknowledged); the dead letters and the newest reasons. With
// --job: where a fleet job is and how it ended (vg:job:<id>).
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "fleet/fleet_store.h"
#include "util/error.h"

namespace vg {

struct FleetOptions {
  std::string config;  // default: $VRAMGUARD_CONFIG or the per-user path
  std::string job;
  bool json = false;
};

Result<int> RunFleet(const FleetOptions& options);

// The fleet's state as one JSON document, read through `store` (tests: the fake).
Result<nlohmann::json> ReadFleet(fleet::FleetStore& store, std::int64_t now_unix_ms);
void RenderFleet(const nlohmann::json& fleet, std::ostream& out);

}  // namespace vg
