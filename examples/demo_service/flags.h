// The demo service's command line.
//
//   vg-demo-service --port N [--host 127.0.0.1] [--gpu K] [--model SIZE] [--load-time DUR]
//                   [--step-time DUR] [--fork-worker] [--ignore-term] [--crash-after DUR]
//                   [--backend sim|cuda|auto] [--read-timeout DUR]
//
// Values may also be written --flag=value. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"
#include "util/units.h"

namespace vg::demo {

enum class Backend { kAuto, kSim, kCuda };

// The model a demo service loads unless told otherwise (--model).
inline constexpr Bytes kDefaultModel = Bytes::GiB(8);

struct DemoFlags {
  std::uint16_t port = 0;  // 0: any free port (the ready line names it)
  std::string host = "127.0.0.1";
  unsigned gpu = 0;  // ordinal among the visible devices (CUDA_VISIBLE_DEVICES)
  Bytes model = kDefaultModel;
  Millis load_time{500};
  Millis step_time{5};
  bool fork_worker = false;
  bool ignore_term = false;
  std::optional<Millis> crash_after;  // from ready
  Backend backend = Backend::kAuto;
  Millis read_timeout{5000};  // a client must send its whole request within this
  bool help = false;
};

inline constexpr const char* kUsage =
    "usage: vg-demo-service --port N [--host 127.0.0.1] [--gpu K] [--model SIZE] "
    "[--load-time DUR] [--step-time DUR] [--fork-worker] [--ignore-term] [--crash-after DUR] "
    "[--backend sim|cuda|auto] [--read-timeout DUR]";

// Parses argv[1..]. kInvalidArgument names the flag at fault. --port is required (unless --help).
Result<DemoFlags> ParseFlags(const std::vector<std::string>& args);

// kAuto becomes kSim when the simulated GPU's directory variable is set (non-empty), else kCuda.
Backend ResolveBackend(Backend requested, const char* fake_gpu_dir);

}  // namespace vg::demo
