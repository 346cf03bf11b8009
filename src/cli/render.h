// Rendering for humans (aligned tables, binary units with one decimal) and for machines (one
// JSON document; sizes in *_bytes, durations in *_s). Pure: values in, text or JSON out.
#pragma once

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
std::string RenderPs(const VramView& v, bool all, unsigned width);
nlohmann::json PsJson(const VramView& v, bool all);

std::string RenderReapPlan(const ReapPlan& plan, const std::string& what);
std::string RenderReapOutcome(const ReapOutcome& out);
nlohmann::json ReapJson(const std::string& mode, bool dry_run, const ReapPlan& plan,
                        const ReapOutcome* out);

// "command line" of a process in the view, or "-" when it is unknown.
std::string CommandOf(const VramView& v, pid_t pid);

}  // namespace vg
