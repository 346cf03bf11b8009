// GpuMemory on the simulated GPU: one vg::sim::SimContext, whose allocation the fake NVML reports
// (plus the device's context overhead) exactly as the real driver reports a CUDA process.
//
// Owns the context. Not thread-safe (see gpu_memory.h).
#pragma once

#include <filesystem>
#include <memory>

#include "gpu_memory.h"
#include "sim_state.h"

namespace vg::demo {

class SimMemory final : public GpuMemory {
 public:
  // Initialises "CUDA" on simulated gpu<sim_gpu> of `dir`; `ordinal` is the number this process
  // knows the device by (what OOM messages print as "GPU N").
  static Result<std::unique_ptr<SimMemory>> Open(const std::filesystem::path& dir, unsigned sim_gpu,
                                                 unsigned ordinal);

  Result<void> Grow(Bytes target) override;
  Result<void> ReleaseTo(Bytes target) override;
  Bytes Held() const override { return context_.allocated(); }
  std::optional<OomReport> LastOom() const override { return last_oom_; }
  std::string Describe() const override { return description_; }

 private:
  SimMemory(sim::SimContext context, unsigned ordinal, std::string description)
      : context_(std::move(context)), ordinal_(ordinal), description_(std::move(description)) {}

  sim::SimContext context_;
  unsigned ordinal_;
  std::string description_;
  std::optional<OomReport> last_oom_;
};

}  // namespace vg::demo
