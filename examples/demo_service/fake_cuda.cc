// A stand-in for libcuda.so.1 with the few driver API entry points CudaMemory uses, so its code
// path (dlopen, symbol lookup, chunked allocation, out-of-memory handling) runs in tests on
// machines without a GPU. One device of FAKE_CUDA_TOTAL_BYTES (default 24 GiB) bytes; device
// pointers are counters; fake_cuda_used_bytes() lets a test see what is allocated.
//
// State lives in one object inside this library (a C ABI leaves no other place). Thread-safe.
// Like the real driver, a context is current per thread: memory calls on a thread that never made
// one current fail with CUDA_ERROR_INVALID_CONTEXT (201), as they did on an H200 when the demo
// allocated on its HTTP threads after making the context current only on the main thread.
#include <cstddef>
#include <cstdlib>
#include <map>
#include <mutex>

namespace {

constexpr int kSuccess = 0;
constexpr int kInvalidValue = 1;
constexpr int kOutOfMemory = 2;
constexpr int kNotInitialized = 3;
constexpr int kInvalidDevice = 101;
constexpr int kInvalidContext = 201;

thread_local void* current_context = nullptr;

struct FakeDevice {
  std::mutex mutex;
  bool initialised = false;
  std::size_t total = std::size_t{24} << 30;
  std::size_t used = 0;
  unsigned long long next_pointer = 0x10000;
  std::map<unsigned long long, std::size_t> allocations;
};

FakeDevice& Device() {
  static FakeDevice device;
  return device;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int cuInit(unsigned) {
  FakeDevice& d = Device();
  std::lock_guard lock(d.mutex);
  if (const char* total = std::getenv("FAKE_CUDA_TOTAL_BYTES")) {
    d.total = std::strtoull(total, nullptr, 10);
  }
  d.initialised = true;
  return kSuccess;
}

__attribute__((visibility("default"))) int cuDeviceGet(int* device, int ordinal) {
  if (!Device().initialised) return kNotInitialized;
  if (ordinal != 0) return kInvalidDevice;
  *device = 0;
  return kSuccess;
}

__attribute__((visibility("default"))) int cuDevicePrimaryCtxRetain(void** context, int device) {
  if (device != 0) return kInvalidDevice;
  static int the_context;
  *context = &the_context;
  return kSuccess;
}

__attribute__((visibility("default"))) int cuCtxSetCurrent(void* context) {
  current_context = context;
  return kSuccess;
}

__attribute__((visibility("default"))) int cuMemAlloc_v2(unsigned long long* pointer,
                                                         std::size_t size) {
  if (current_context == nullptr) return kInvalidContext;
  FakeDevice& d = Device();
  std::lock_guard lock(d.mutex);
  if (size == 0) return kInvalidValue;
  if (size > d.total - d.used) return kOutOfMemory;
  d.used += size;
  *pointer = d.next_pointer;
  d.next_pointer += size;
  d.allocations[*pointer] = size;
  return kSuccess;
}

__attribute__((visibility("default"))) int cuMemFree_v2(unsigned long long pointer) {
  if (current_context == nullptr) return kInvalidContext;
  FakeDevice& d = Device();
  std::lock_guard lock(d.mutex);
  auto it = d.allocations.find(pointer);
  if (it == d.allocations.end()) return kInvalidValue;
  d.used -= it->second;
  d.allocations.erase(it);
  return kSuccess;
}

__attribute__((visibility("default"))) int cuMemGetInfo_v2(std::size_t* free, std::size_t* total) {
  if (current_context == nullptr) return kInvalidContext;
  FakeDevice& d = Device();
  std::lock_guard lock(d.mutex);
  *free = d.total - d.used;
  *total = d.total;
  return kSuccess;
}

__attribute__((visibility("default"))) int cuGetErrorString(int error, const char** text) {
  switch (error) {
    case kSuccess:
      *text = "no error";
      break;
    case kOutOfMemory:
      *text = "out of memory";
      break;
    case kInvalidDevice:
      *text = "invalid device ordinal";
      break;
    case kInvalidContext:
      *text = "invalid device context";
      break;
    default:
      *text = "unknown error";
      break;
  }
  return kSuccess;
}

// Test hooks, not part of the driver API.
__attribute__((visibility("default"))) std::size_t fake_cuda_used_bytes() {
  FakeDevice& d = Device();
  std::lock_guard lock(d.mutex);
  return d.used;
}

__attribute__((visibility("default"))) void fake_cuda_set_total_bytes(std::size_t total) {
  FakeDevice& d = Device();
  std::lock_guard lock(d.mutex);
  d.total = total;
}

}  // extern "C"
