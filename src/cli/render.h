// Rendering for humans (aligned tables, binary units with one decimal) and for machines (one
// JSON document; sizes in *_bytes, durations in *_s). Pure: values in, text or JSON out.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "core/reap_plan.h"
#include "core/vram_view.h"
#include "gpu/gpu_probe.h"
#include "ops/reaper.h"

namespace vg {

std::string RenderGpus(const GpuSnapshot& s);
nlohmann::json GpusJson(const GpuSnapshot& s, const std::string& library);

// width: terminal columns to fit the command column into (0: no limit).
// The service each pid belongs to, from the daemon's `GET /v1/status` (its services' `members`).
using ServiceOwners = std::map<pid_t, std::string>;
ServiceOwners OwnersFromStatus(const nlohmann::json& status);
// The service an entry's memory belongs to: its pid's, a holder's, or that of the pid it holds
// memory for; "" when none.
std::string ServiceOf(const VramEntry& e, const ServiceOwners& owners);

// `owners` (from a daemon that answered; empty otherwise) adds a SERVICE column / `service` key.
std::string RenderPs(const VramView& v, bool all, unsigned width, const ServiceOwners& owners = {});
nlohmann::json PsJson(const VramView& v, bool all, const ServiceOwners& owners = {});

std::string RenderReapPlan(const ReapPlan& plan, const std::string& what);
std::string RenderReapOutcome(const ReapOutcome& out);
nlohmann::json ReapJson(const std::string& mode, bool dry_run, const ReapPlan& plan,
                        const ReapOutcome* out);

// "command line" of a process in the view, or "-" when it is unknown.
std::string CommandOf(const VramView& v, pid_t pid);

// A time for humans, in the local time zone (TZ; `TZ=UTC vramguard …` for UTC):
// "2026-12-03 20:04:33", or "20:04:33" with `clock_only`. JSON keeps UTC (`time`, `*_unix_ms`).
std::string LocalTime(std::int64_t unix_ms, bool clock_only = false);

}  // namespace vg
