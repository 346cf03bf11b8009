#include "cuda_memory.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>

namespace vg::demo {
namespace {

using CUresult = int;
using CUdevice = int;
using CUcontext = void*;
using CUdeviceptr = unsigned long long;

constexpr CUresult kCudaSuccess = 0;
constexpr CUresult kCudaErrorOutOfMemory = 2;

}  // namespace

// The driver entry points the demo uses, resolved from the loaded library.
struct CudaMemory::Api {
  CUresult (*init)(unsigned) = nullptr;
  CUresult (*device_get)(CUdevice*, int) = nullptr;
  CUresult (*primary_ctx_retain)(CUcontext*, CUdevice) = nullptr;
  CUresult (*ctx_set_current)(CUcontext) = nullptr;
  CUresult (*mem_alloc)(CUdeviceptr*, size_t) = nullptr;
  CUresult (*mem_free)(CUdeviceptr) = nullptr;
  CUresult (*mem_get_info)(size_t*, size_t*) = nullptr;
  CUresult (*get_error_string)(CUresult, const char**) = nullptr;  // optional
};

namespace {

template <class F>
bool Resolve(void* library, const char* name, F* out) {
  *out = reinterpret_cast<F>(::dlsym(library, name));
  return *out != nullptr;
}

}  // namespace

Result<std::unique_ptr<CudaMemory>> CudaMemory::Open(const std::string& library, unsigned ordinal) {
  void* handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return Fail(
        ErrorCode::kNoDriver,
        "no CUDA driver: cannot load " + library + (why ? std::string(" (") + why + ")" : ""),
        "install the NVIDIA driver, or set VRAMGUARD_FAKE_GPU_DIR to use the simulated GPU");
  }
  std::unique_ptr<CudaMemory> memory(new CudaMemory());
  memory->library_ = handle;
  memory->ordinal_ = ordinal;
  memory->api_ = std::make_unique<Api>();
  Api& api = *memory->api_;
  const char* missing = nullptr;
  if (!Resolve(handle, "cuInit", &api.init))
    missing = "cuInit";
  else if (!Resolve(handle, "cuDeviceGet", &api.device_get))
    missing = "cuDeviceGet";
  else if (!Resolve(handle, "cuDevicePrimaryCtxRetain", &api.primary_ctx_retain))
    missing = "cuDevicePrimaryCtxRetain";
  else if (!Resolve(handle, "cuCtxSetCurrent", &api.ctx_set_current))
    missing = "cuCtxSetCurrent";
  else if (!Resolve(handle, "cuMemAlloc_v2", &api.mem_alloc))
    missing = "cuMemAlloc_v2";
  else if (!Resolve(handle, "cuMemFree_v2", &api.mem_free))
    missing = "cuMemFree_v2";
  else if (!Resolve(handle, "cuMemGetInfo_v2", &api.mem_get_info))
    missing = "cuMemGetInfo_v2";
  if (missing != nullptr) {
    return Fail(ErrorCode::kNoDriver, library + " has no " + missing,
                "the NVIDIA driver is too old or broken; reinstall it");
  }
  Resolve(handle, "cuGetErrorString", &api.get_error_string);

  CUdevice device = 0;
  CUcontext context = nullptr;
  auto step = [&](CUresult r, const char* what) -> Result<void> {
    if (r == kCudaSuccess) return {};
    return Fail(ErrorCode::kDriverError, std::string(what) + " failed: " + memory->ErrorText(r),
                "check nvidia-smi and CUDA_VISIBLE_DEVICES");
  };
  if (auto r = step(api.init(0), "cuInit"); !r) return std::unexpected(r.error());
  if (auto r = step(api.device_get(&device, static_cast<int>(ordinal)), "cuDeviceGet"); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = step(api.primary_ctx_retain(&context, device), "cuDevicePrimaryCtxRetain"); !r) {
    return std::unexpected(r.error());
  }
  memory->context_ = context;
  if (auto r = memory->MakeCurrent(); !r) return std::unexpected(r.error());
  return memory;
}

Result<void> CudaMemory::MakeCurrent() const {
  CUresult r = api_->ctx_set_current(context_);
  if (r == kCudaSuccess) return {};
  return Fail(ErrorCode::kDriverError, "cuCtxSetCurrent failed: " + ErrorText(r),
              "check nvidia-smi and CUDA_VISIBLE_DEVICES");
}

CudaMemory::~CudaMemory() {
  if (api_ && context_ != nullptr && MakeCurrent()) FreeFrom(0);
  // The library stays loaded: the driver's threads outlive this object until process exit.
}

std::string CudaMemory::ErrorText(int result) const {
  const char* text = nullptr;
  if (api_ && api_->get_error_string) api_->get_error_string(result, &text);
  std::string out = "CUDA error " + std::to_string(result);
  if (text != nullptr) out += std::string(" (") + text + ")";
  return out;
}

void CudaMemory::FreeFrom(std::size_t first) {
  while (chunks_.size() > first) {
    api_->mem_free(chunks_.back().pointer);
    held_ = held_ - chunks_.back().size;
    chunks_.pop_back();
  }
}

Result<void> CudaMemory::Grow(Bytes target) {
  if (auto r = MakeCurrent(); !r) return r;
  const Bytes before = held_;
  const std::size_t first_new = chunks_.size();
  while (held_ < target) {
    Bytes size = std::min(kChunk, target - held_);
    CUdeviceptr pointer = 0;
    CUresult r = api_->mem_alloc(&pointer, size.count());
    if (r == kCudaSuccess) {
      chunks_.push_back({pointer, size});
      held_ += size;
      continue;
    }
    FreeFrom(first_new);  // hold exactly what was held before
    if (r != kCudaErrorOutOfMemory) {
      return Fail(ErrorCode::kDriverError, "cuMemAlloc_v2 failed: " + ErrorText(r));
    }
    size_t free = 0, total = 0;
    api_->mem_get_info(&free, &total);
    OomReport report;
    report.device = ordinal_;
    report.requested = target - before;
    report.total = Bytes(total);
    report.free = Bytes(free);
    report.self_pid = ::getpid();
    report.processes.push_back({report.self_pid, before});
    last_oom_ = std::move(report);
    return Fail(ErrorCode::kRefused, "CUDA out of memory: tried to allocate " +
                                         FormatBytes(target - before) + " on GPU " +
                                         std::to_string(ordinal_));
  }
  return {};
}

Result<void> CudaMemory::ReleaseTo(Bytes target) {
  if (auto r = MakeCurrent(); !r) return r;
  while (!chunks_.empty() && held_ - chunks_.back().size >= target && held_ > target) {
    CUresult r = api_->mem_free(chunks_.back().pointer);
    if (r != kCudaSuccess)
      return Fail(ErrorCode::kDriverError, "cuMemFree_v2 failed: " + ErrorText(r));
    held_ = held_ - chunks_.back().size;
    chunks_.pop_back();
  }
  return {};
}

std::string CudaMemory::Describe() const { return "CUDA device " + std::to_string(ordinal_); }

}  // namespace vg::demo
