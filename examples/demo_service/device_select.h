// Which device the demo service uses: its ordinal (--gpu K) read through CUDA_VISIBLE_DEVICES the
// way the CUDA driver reads it, mapped onto the simulated GPUs of the state directory.
//
// CUDA_VISIBLE_DEVICES is a comma-separated list of device indices ("1,0") or UUIDs
// ("GPU-5a1e…", a unique prefix is enough). Like the driver, the list ends at the first entry that
// names no device; an empty list hides every device. On a real GPU the driver applies the variable
// itself, so only the simulated backend needs this.
//
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim_state.h"
#include "util/error.h"

namespace vg::demo {

inline constexpr const char* kVisibleDevicesVar = "CUDA_VISIBLE_DEVICES";

// The entries of a CUDA_VISIBLE_DEVICES value, trimmed; nullopt when the variable is unset.
std::optional<std::vector<std::string>> ParseVisibleDevices(const char* value);

// The index N of the simulated gpu<N> that ordinal `ordinal` names. kNotFound ("no CUDA-capable
// device is detected", "invalid device ordinal") when there is none.
Result<unsigned> SelectSimGpu(const std::optional<std::vector<std::string>>& visible,
                              unsigned ordinal, const std::vector<sim::DeviceConfig>& devices);

}  // namespace vg::demo
