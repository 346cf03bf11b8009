#include "device_select.h"

#include <algorithm>
#include <charconv>

#include "http.h"

namespace vg::demo {
namespace {

// The device an entry names: an index, or a UUID (or unique prefix of one, "GPU-" optional).
std::optional<unsigned> Resolve(std::string_view entry,
                                const std::vector<sim::DeviceConfig>& devices) {
  unsigned index = 0;
  auto [end, ec] = std::from_chars(entry.data(), entry.data() + entry.size(), index);
  if (ec == std::errc() && end == entry.data() + entry.size()) {
    for (const auto& d : devices) {
      if (d.index == index) return index;
    }
    return std::nullopt;
  }
  std::string prefix(entry);
  if (!prefix.starts_with("GPU-")) prefix = "GPU-" + prefix;
  if (prefix.size() <= 4) return std::nullopt;
  std::optional<unsigned> found;
  for (const auto& d : devices) {
    if (d.uuid.starts_with(prefix)) {
      if (found) return std::nullopt;  // ambiguous prefix
      found = d.index;
    }
  }
  return found;
}

}  // namespace

std::optional<std::vector<std::string>> ParseVisibleDevices(const char* value) {
  if (value == nullptr) return std::nullopt;
  std::vector<std::string> out;
  std::string_view rest(value);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view entry = TrimBlanks(rest.substr(0, comma));
    if (!entry.empty()) out.emplace_back(entry);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

Result<unsigned> SelectSimGpu(const std::optional<std::vector<std::string>>& visible,
                              unsigned ordinal, const std::vector<sim::DeviceConfig>& devices) {
  std::vector<unsigned> order;
  if (visible) {
    for (const std::string& entry : *visible) {
      auto index = Resolve(entry, devices);
      if (!index) break;  // the driver ignores the rest of the list
      if (std::find(order.begin(), order.end(), *index) != order.end()) break;
      order.push_back(*index);
    }
  } else {
    for (const auto& d : devices) order.push_back(d.index);
  }
  if (order.empty()) {
    return Fail(ErrorCode::kNotFound, "no CUDA-capable device is detected",
                visible ? "check CUDA_VISIBLE_DEVICES against the simulated GPUs' indices and UUIDs"
                        : "create a simulated GPU with vg-simgpu create");
  }
  if (ordinal >= order.size()) {
    return Fail(ErrorCode::kNotFound,
                "invalid device ordinal " + std::to_string(ordinal) + ": " +
                    std::to_string(order.size()) + " device(s) visible",
                "pass --gpu below " + std::to_string(order.size()));
  }
  return order[ordinal];
}

}  // namespace vg::demo
