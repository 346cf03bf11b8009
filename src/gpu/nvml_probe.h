// NvmlProbe: the production GpuProbe. Loads libnvidia-ml.so.1 with dlopen (no CUDA toolkit at
// build time), resolves one table of symbols, newest version first, and answers Snapshot().
//
// The same code loads the simulated GPU's fake library when VRAMGUARD_NVML_LIBRARY names it.
// A missing optional symbol disables one feature (utilisation, memory v2, graphics processes),
// never the backend. Owns the library handle and the NVML session; not thread-safe.
#pragma once

#include <memory>
#include <string>

#include "gpu/gpu_probe.h"

namespace vg {

struct NvmlOptions {
  // Path or soname to dlopen. Empty: $VRAMGUARD_NVML_LIBRARY, else "libnvidia-ml.so.1".
  std::string library;
  // Call nvmlShutdown on destruction. A one-shot CLI skips it (8.5 ms; process exit cleans up).
  bool shutdown_on_close = false;
};

class NvmlProbe final : public GpuProbe {
 public:
  // Loads the library and initialises NVML. kNoDriver when either is impossible, with the reason.
  static Result<std::unique_ptr<NvmlProbe>> Open(const NvmlOptions& options);
  ~NvmlProbe() override;
  NvmlProbe(const NvmlProbe&) = delete;
  NvmlProbe& operator=(const NvmlProbe&) = delete;

  Result<GpuSnapshot> Snapshot() override;

  // Which library file was loaded (for `vramguard gpus --json` and diagnostics).
  const std::string& library() const;

 private:
  struct Api;
  explicit NvmlProbe(std::unique_ptr<Api> api);
  std::unique_ptr<Api> api_;
};

// The library path NvmlOptions resolves to when `library` is empty.
std::string DefaultNvmlLibrary();

}  // namespace vg
