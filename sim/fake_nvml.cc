// The fake libnvidia-ml.so.1: the NVML C API over the simulated GPU's state directory.
//
// Loaded by the production NvmlProbe through VRAMGUARD_NVML_LIBRARY, it answers like driver 580
// (docs/gpu-facts.md), including its traps: nvmlDeviceGetMemoryInfo_v2 wants version 0x02000028 and
// answers FUNCTION_NOT_FOUND to plain 2; process lists follow the INSUFFICIENT_SIZE protocol;
// v1 memory counts driver-reserved memory as used; _v2/_v3 entries are 24 bytes (or the stride
// device.json asks for, to emulate R535's 32-byte entries), unversioned entries 16 bytes.
// A context is listed while alive, under the pid of its creator even when that process has died
// (the ghost). See sim_state.h for the state directory and docs/simulated-gpu.md for users.
//
// Init is reference-counted. While initialised the library keeps dev/nvidiactl and every
// dev/nvidia<minor> open (O_RDONLY|O_CLOEXEC) and maps nothing, as the real library does, so the
// monitoring process shows up as a device-file holder without a context. device.json is read at
// the first nvmlInit; contexts are read on every call. All entry points are thread-safe.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "gpu/nvml_types.h"
#include "sim_state.h"

#define VG_NVML_EXPORT extern "C" __attribute__((visibility("default")))

// The handle type nvml_types.h leaves opaque: one per simulated device.
struct nvmlDevice_st {
  unsigned position = 0;  // NVML index
};

namespace {
namespace fs = std::filesystem;
using vg::sim::DeviceConfig;

constexpr const char* kDriverVersion = "580.159.04-sim";
constexpr unsigned kMaxDevices = 64;
constexpr unsigned kNoInstance = 0xFFFFFFFFu;

// All mutable state of the library: NVML's C API is stateful by design.
struct Driver {
  std::mutex mu;
  int init_count = 0;
  fs::path dir;
  std::vector<DeviceConfig> devices;
  std::vector<int> node_fds;  // nvidiactl and every nvidia<minor>, open while initialised
  nvmlDevice_st handles[kMaxDevices];
};

Driver& TheDriver() {
  static Driver* driver = new Driver();  // never destroyed: may be called during exit
  return *driver;
}

// The device behind a handle, or nullptr when the handle is not one of ours.
const DeviceConfig* DeviceFor(Driver& d, nvmlDevice_t handle) {
  if (handle == nullptr) return nullptr;
  for (std::size_t i = 0; i < d.devices.size(); ++i) {
    if (handle == &d.handles[i]) return &d.devices[i];
  }
  return nullptr;
}

bool AnyUnsupported(const Driver& d, const char* symbol) {
  for (const auto& dev : d.devices) {
    if (dev.IsUnsupported(symbol)) return true;
  }
  return false;
}

void CloseNodes(Driver& d) {
  for (int fd : d.node_fds) ::close(fd);
  d.node_fds.clear();
}

nvmlReturn_t Init(const char* symbol) {
  Driver& d = TheDriver();
  std::lock_guard lock(d.mu);
  if (d.init_count > 0) {
    if (AnyUnsupported(d, symbol)) return vg::nvml::kErrorFunctionNotFound;
    ++d.init_count;
    return vg::nvml::kSuccess;
  }
  auto dir = vg::sim::DirFromEnv();
  if (!dir) return vg::nvml::kErrorDriverNotLoaded;
  auto devices = vg::sim::ReadDevices(*dir);
  if (!devices) return vg::nvml::kErrorUnknown;
  if (devices->empty()) return vg::nvml::kErrorDriverNotLoaded;
  if (devices->size() > kMaxDevices) devices->resize(kMaxDevices);
  for (const auto& dev : *devices) {
    if (dev.IsUnsupported(symbol)) return vg::nvml::kErrorFunctionNotFound;
  }
  d.dir = *dir;
  d.devices = std::move(*devices);
  for (unsigned i = 0; i < d.devices.size(); ++i) d.handles[i].position = i;
  std::vector<fs::path> nodes{vg::sim::CtlNodePath(d.dir)};
  for (const auto& dev : d.devices) nodes.push_back(vg::sim::DeviceNodePath(d.dir, dev.minor));
  for (const auto& node : nodes) {
    int fd = ::open(node.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) d.node_fds.push_back(fd);  // a missing node is the driver's business, not ours
  }
  d.init_count = 1;
  return vg::nvml::kSuccess;
}

nvmlReturn_t CopyString(const std::string& value, char* out, unsigned length) {
  if (out == nullptr) return vg::nvml::kErrorInvalidArgument;
  if (length < value.size() + 1) return vg::nvml::kErrorInsufficientSize;
  std::memcpy(out, value.c_str(), value.size() + 1);
  return vg::nvml::kSuccess;
}

// Runs `body(driver, device)` for a device call under the lock, after the common checks.
template <class Body>
nvmlReturn_t WithDevice(const char* symbol, nvmlDevice_t handle, Body body) {
  Driver& d = TheDriver();
  std::lock_guard lock(d.mu);
  if (d.init_count == 0) return vg::nvml::kErrorUninitialized;
  const DeviceConfig* dev = DeviceFor(d, handle);
  if (dev == nullptr) return vg::nvml::kErrorInvalidArgument;
  if (dev->IsUnsupported(symbol)) return vg::nvml::kErrorFunctionNotFound;
  return body(d, *dev);
}

template <class Body>
nvmlReturn_t WithDriver(const char* symbol, Body body) {
  Driver& d = TheDriver();
  std::lock_guard lock(d.mu);
  if (d.init_count == 0) return vg::nvml::kErrorUninitialized;
  if (AnyUnsupported(d, symbol)) return vg::nvml::kErrorFunctionNotFound;
  return body(d);
}

nvmlReturn_t Usage(Driver& d, const DeviceConfig& dev, vg::sim::Usage* out) {
  auto contexts = vg::sim::ListLiveContexts(d.dir, dev.index);
  if (!contexts) return vg::nvml::kErrorUnknown;
  *out = vg::sim::ComputeUsage(dev, *contexts);
  return vg::nvml::kSuccess;
}

// The INSUFFICIENT_SIZE protocol, entries written `stride` bytes apart. The caller's buffer is
// taken to be *count entries of `declared` bytes; a larger stride (the R535 bug) writes only the
// entries that fit in it, where the real driver would have written past its end.
nvmlReturn_t ComputeProcesses(const char* symbol, nvmlDevice_t handle, unsigned* count,
                              nvmlProcessInfo_t* infos, unsigned declared, bool versioned) {
  return WithDevice(symbol, handle, [&](Driver& d, const DeviceConfig& dev) -> nvmlReturn_t {
    if (count == nullptr) return vg::nvml::kErrorInvalidArgument;
    auto contexts = vg::sim::ListLiveContexts(d.dir, dev.index);
    if (!contexts) return vg::nvml::kErrorUnknown;
    unsigned needed = static_cast<unsigned>(contexts->size());
    if (*count < needed) {
      *count = needed;
      return vg::nvml::kErrorInsufficientSize;
    }
    if (needed > 0 && infos == nullptr) return vg::nvml::kErrorInvalidArgument;
    unsigned stride = versioned ? dev.process_entry_stride : 16;
    std::size_t capacity = static_cast<std::size_t>(*count) * declared;
    auto* out = reinterpret_cast<unsigned char*>(infos);
    for (unsigned i = 0; i < needed; ++i) {
      std::size_t offset = static_cast<std::size_t>(i) * stride;
      if (offset + stride > capacity) break;
      nvmlProcessInfo_t entry{};
      entry.pid = static_cast<unsigned>((*contexts)[i].pid);
      entry.usedGpuMemory = (*contexts)[i].allocated_bytes + dev.context_overhead_bytes;
      entry.gpuInstanceId = kNoInstance;
      entry.computeInstanceId = kNoInstance;
      std::memset(out + offset, 0, stride);
      std::memcpy(out + offset, &entry, std::min<std::size_t>(stride, sizeof entry));
    }
    *count = needed;
    return vg::nvml::kSuccess;
  });
}

nvmlReturn_t GraphicsProcesses(const char* symbol, nvmlDevice_t handle, unsigned* count) {
  return WithDevice(symbol, handle, [&](Driver&, const DeviceConfig&) -> nvmlReturn_t {
    if (count == nullptr) return vg::nvml::kErrorInvalidArgument;
    *count = 0;
    return vg::nvml::kSuccess;
  });
}

nvmlReturn_t DeviceCount(const char* symbol, unsigned* count) {
  return WithDriver(symbol, [&](Driver& d) -> nvmlReturn_t {
    if (count == nullptr) return vg::nvml::kErrorInvalidArgument;
    *count = static_cast<unsigned>(d.devices.size());
    return vg::nvml::kSuccess;
  });
}

nvmlReturn_t HandleByIndex(const char* symbol, unsigned index, nvmlDevice_t* device) {
  Driver& d = TheDriver();
  std::lock_guard lock(d.mu);
  if (d.init_count == 0) return vg::nvml::kErrorUninitialized;
  if (device == nullptr || index >= d.devices.size()) return vg::nvml::kErrorInvalidArgument;
  if (d.devices[index].IsUnsupported(symbol)) return vg::nvml::kErrorFunctionNotFound;
  *device = &d.handles[index];
  return vg::nvml::kSuccess;
}

}  // namespace

VG_NVML_EXPORT nvmlReturn_t nvmlInit_v2() { return Init("nvmlInit_v2"); }
VG_NVML_EXPORT nvmlReturn_t nvmlInit() { return Init("nvmlInit"); }

VG_NVML_EXPORT nvmlReturn_t nvmlShutdown() {
  Driver& d = TheDriver();
  std::lock_guard lock(d.mu);
  if (d.init_count == 0) return vg::nvml::kErrorUninitialized;
  if (--d.init_count == 0) {
    CloseNodes(d);
    d.devices.clear();
  }
  return vg::nvml::kSuccess;
}

VG_NVML_EXPORT const char* nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case 0:
      return "Success";
    case 1:
      return "Uninitialized";
    case 2:
      return "Invalid Argument";
    case 3:
      return "Not Supported";
    case 4:
      return "Insufficient Permissions";
    case 5:
      return "Already Initialized";
    case 6:
      return "Not Found";
    case 7:
      return "Insufficient Size";
    case 8:
      return "Insufficient External Power";
    case 9:
      return "Driver Not Loaded";
    case 10:
      return "Timeout";
    case 11:
      return "Interrupted by IRQ";
    case 12:
      return "NVML Shared Library Not Found";
    case 13:
      return "Function Not Found";
    case 14:
      return "Corrupted infoROM";
    case 15:
      return "GPU is lost";
    case 16:
      return "GPU requires restart";
    case 17:
      return "The operating system has blocked the request.";
    case 18:
      return "RM has detected an NVML/RM version mismatch.";
    case 999:
      return "Unknown Error";
    default:
      return "Unknown Error";
  }
}

VG_NVML_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned length) {
  return WithDriver("nvmlSystemGetDriverVersion",
                    [&](Driver&) { return CopyString(kDriverVersion, version, length); });
}

VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned* count) {
  return DeviceCount("nvmlDeviceGetCount_v2", count);
}
VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned* count) {
  return DeviceCount("nvmlDeviceGetCount", count);
}

VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned index, nvmlDevice_t* device) {
  return HandleByIndex("nvmlDeviceGetHandleByIndex_v2", index, device);
}
VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned index, nvmlDevice_t* device) {
  return HandleByIndex("nvmlDeviceGetHandleByIndex", index, device);
}

VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned length) {
  return WithDevice("nvmlDeviceGetName", device, [&](Driver&, const DeviceConfig& dev) {
    return CopyString(dev.name, name, length);
  });
}

VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned length) {
  return WithDevice("nvmlDeviceGetUUID", device, [&](Driver&, const DeviceConfig& dev) {
    return CopyString(dev.uuid, uuid, length);
  });
}

VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned* minor) {
  return WithDevice("nvmlDeviceGetMinorNumber", device,
                    [&](Driver&, const DeviceConfig& dev) -> nvmlReturn_t {
                      if (minor == nullptr) return vg::nvml::kErrorInvalidArgument;
                      *minor = dev.minor;
                      return vg::nvml::kSuccess;
                    });
}

// busId and busIdLegacy from device.json's pci_bus_id; domain, bus and device parsed from it.
VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t* pci) {
  return WithDevice(
      "nvmlDeviceGetPciInfo_v3", device, [&](Driver&, const DeviceConfig& dev) -> nvmlReturn_t {
        if (pci == nullptr) return vg::nvml::kErrorInvalidArgument;
        *pci = nvmlPciInfo_t{};
        unsigned domain = 0, bus = 0, slot = 0, function = 0;
        if (std::sscanf(dev.pci_bus_id.c_str(), "%x:%x:%x.%x", &domain, &bus, &slot, &function) >=
            3) {
          pci->domain = domain;
          pci->bus = bus;
          pci->device = slot;
        }
        std::snprintf(pci->busId, sizeof pci->busId, "%s", dev.pci_bus_id.c_str());
        std::snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.0",
                      domain & 0xffff, bus, slot);
        return vg::nvml::kSuccess;
      });
}

VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  return WithDevice("nvmlDeviceGetMemoryInfo", device,
                    [&](Driver& d, const DeviceConfig& dev) -> nvmlReturn_t {
                      if (memory == nullptr) return vg::nvml::kErrorInvalidArgument;
                      vg::sim::Usage u;
                      if (nvmlReturn_t r = Usage(d, dev, &u); r != vg::nvml::kSuccess) return r;
                      memory->total = u.total_bytes;
                      memory->free = u.free_bytes;
                      memory->used = u.reserved_bytes + u.used_bytes;
                      return vg::nvml::kSuccess;
                    });
}

VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device,
                                                       nvmlMemory_v2_t* memory) {
  return WithDevice("nvmlDeviceGetMemoryInfo_v2", device,
                    [&](Driver& d, const DeviceConfig& dev) -> nvmlReturn_t {
                      if (memory == nullptr) return vg::nvml::kErrorInvalidArgument;
                      // Measured on driver 580: version 2 answers FUNCTION_NOT_FOUND.
                      if (memory->version != vg::nvml::kMemoryV2Version) {
                        return vg::nvml::kErrorFunctionNotFound;
                      }
                      vg::sim::Usage u;
                      if (nvmlReturn_t r = Usage(d, dev, &u); r != vg::nvml::kSuccess) return r;
                      memory->total = u.total_bytes;
                      memory->reserved = u.reserved_bytes;
                      memory->free = u.free_bytes;
                      memory->used = u.used_bytes;
                      return vg::nvml::kSuccess;
                    });
}

VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                                    unsigned* count,
                                                                    nvmlProcessInfo_t* infos) {
  return ComputeProcesses("nvmlDeviceGetComputeRunningProcesses_v3", device, count, infos,
                          sizeof(nvmlProcessInfo_t), true);
}
VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
                                                                    unsigned* count,
                                                                    nvmlProcessInfo_t* infos) {
  return ComputeProcesses("nvmlDeviceGetComputeRunningProcesses_v2", device, count, infos,
                          sizeof(nvmlProcessInfo_t), true);
}
VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device,
                                                                 unsigned* count,
                                                                 nvmlProcessInfo_t* infos) {
  return ComputeProcesses("nvmlDeviceGetComputeRunningProcesses", device, count, infos, 16, false);
}

VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device,
                                                                     unsigned* count,
                                                                     nvmlProcessInfo_t*) {
  return GraphicsProcesses("nvmlDeviceGetGraphicsRunningProcesses_v3", device, count);
}
VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v2(nvmlDevice_t device,
                                                                     unsigned* count,
                                                                     nvmlProcessInfo_t*) {
  return GraphicsProcesses("nvmlDeviceGetGraphicsRunningProcesses_v2", device, count);
}
VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses(nvmlDevice_t device,
                                                                  unsigned* count,
                                                                  nvmlProcessInfo_t*) {
  return GraphicsProcesses("nvmlDeviceGetGraphicsRunningProcesses", device, count);
}

VG_NVML_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
                                                          nvmlUtilization_t* utilization) {
  return WithDevice("nvmlDeviceGetUtilizationRates", device,
                    [&](Driver&, const DeviceConfig& dev) -> nvmlReturn_t {
                      if (!dev.utilization_gpu) return vg::nvml::kErrorNotSupported;
                      if (utilization == nullptr) return vg::nvml::kErrorInvalidArgument;
                      utilization->gpu = *dev.utilization_gpu;
                      utilization->memory = dev.utilization_memory;
                      return vg::nvml::kSuccess;
                    });
}
