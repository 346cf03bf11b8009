// GpuMemory on a real GPU through the CUDA driver API, loaded at run time with
// dlopen("libcuda.so.1") and declared here (no CUDA toolkit needed to build).
//
// The allocation is a list of device buffers of at most kChunk each, so it can shrink back to the
// resident size by freeing the buffers allocated after it. CUDA_VISIBLE_DEVICES is applied by the
// driver itself: `ordinal` counts visible devices. The report of an allocation that did not fit
// has the driver's free and total memory; it lists only this process (the driver API cannot see
// others) at what it allocated, without the context's own overhead.
//
// Owns the library handle and the buffers (freed on destruction; the primary context stays until
// process exit, as with PyTorch). Not thread-safe (see gpu_memory.h), but callable from any thread
// in turn: a CUDA context is current per thread, so every call makes the primary context current
// on the calling thread first (the demo serves jobs on its HTTP threads, not where Open ran).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gpu_memory.h"

namespace vg::demo {

inline constexpr const char* kCudaLibrary = "libcuda.so.1";

class CudaMemory final : public GpuMemory {
 public:
  static constexpr Bytes kChunk = Bytes::GiB(1);

  // Loads `library` (kCudaLibrary in production; a fake in tests), initialises the driver and
  // makes device `ordinal`'s primary context current. kNoDriver when the library or an entry
  // point is missing, kDriverError when the driver refuses.
  static Result<std::unique_ptr<CudaMemory>> Open(const std::string& library, unsigned ordinal);
  ~CudaMemory() override;

  Result<void> Grow(Bytes target) override;
  Result<void> ReleaseTo(Bytes target) override;
  Bytes Held() const override { return held_; }
  std::optional<OomReport> LastOom() const override { return last_oom_; }
  std::string Describe() const override;

 private:
  struct Api;
  struct Chunk {
    unsigned long long pointer = 0;  // CUdeviceptr
    Bytes size;
  };

  CudaMemory() = default;
  std::string ErrorText(int result) const;
  void FreeFrom(std::size_t first);  // frees chunks_[first..] and drops them
  Result<void> MakeCurrent() const;  // the primary context, on the calling thread

  void* library_ = nullptr;
  std::unique_ptr<Api> api_;
  unsigned ordinal_ = 0;
  void* context_ = nullptr;  // CUcontext: the device's primary context
  std::vector<Chunk> chunks_;
  Bytes held_;
  std::optional<OomReport> last_oom_;
};

}  // namespace vg::demo
