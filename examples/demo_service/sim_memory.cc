#include "sim_memory.h"

#include <unistd.h>

#include <algorithm>

namespace vg::demo {

Result<std::unique_ptr<SimMemory>> SimMemory::Open(const std::filesystem::path& dir,
                                                   unsigned sim_gpu, unsigned ordinal) {
  auto device = sim::ReadDevice(dir, sim_gpu);
  if (!device) return std::unexpected(device.error());
  auto context = sim::SimContext::Open(dir, sim_gpu);
  if (!context) return std::unexpected(context.error());
  std::string description =
      "simulated GPU " + std::to_string(sim_gpu) + " (" + device->name + ", " + device->uuid + ")";
  return std::unique_ptr<SimMemory>(
      new SimMemory(std::move(*context), ordinal, std::move(description)));
}

Result<void> SimMemory::Grow(Bytes target) {
  if (target <= Held()) return {};
  auto grown = context_.SetAllocated(target);
  if (grown || grown.error().code != ErrorCode::kRefused || !context_.last_oom()) return grown;
  // The fake driver lists contexts by pid, each at allocation + overhead, this one included.
  const sim::OutOfMemory& seen = *context_.last_oom();
  OomReport report;
  report.device = ordinal_;
  report.requested = Bytes(seen.requested_bytes);
  report.total = Bytes(seen.total_bytes);
  report.free = Bytes(seen.free_bytes);
  report.self_pid = ::getpid();
  for (const sim::LiveContext& other : seen.others) {
    report.processes.push_back({other.pid, Bytes(other.allocated_bytes) + context_.overhead()});
  }
  report.processes.push_back({report.self_pid, Bytes(seen.self_used_bytes)});
  std::sort(report.processes.begin(), report.processes.end(),
            [](const ProcessUse& a, const ProcessUse& b) { return a.pid < b.pid; });
  last_oom_ = std::move(report);
  return grown;
}

Result<void> SimMemory::ReleaseTo(Bytes target) {
  if (target >= Held()) return {};
  return context_.SetAllocated(target);
}

}  // namespace vg::demo
