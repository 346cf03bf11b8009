// The job commands of the CLI (docs/cli.md, "Jobs"): `submit`, `jobs`, `job`, `cancel` — thin
// clients of the daemon's /v1/jobs API over its control socket. AddJobCommands registers them in
// main's subcommand table; the chosen one is stored in `run`.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace CLI {
class App;
}

namespace vg {

// Exit status of `submit` when the daemon refused the job (it can never fit): 5, like kRefused.
inline constexpr int kExitJobRefused = 5;

// The progress line of `submit --wait` from GET /v1/jobs/ID: position and ETA (or why it is
// unknown) while queued, GPU, time and live VRAM while running.
std::string JobWaitText(const nlohmann::json& job, double waited_s);

void AddJobCommands(CLI::App& app, std::function<Result<int>()>& run);

// "frames=16" → ("frames", 16); values that look like numbers or booleans become those,
// everything else a string. kInvalidArgument without '='.
Result<std::pair<std::string, nlohmann::json>> ParseParamArg(const std::string& arg);

}  // namespace vg
