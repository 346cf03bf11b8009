#include "gpu/nvml_probe.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

#include "gpu/nvml_decode.h"
#include "gpu/nvml_types.h"

namespace vg {

using nvml::kSuccess;

// Every NVML entry point vramguard uses: one table, one object, no globals.
struct NvmlProbe::Api {
  using InitFn = nvmlReturn_t (*)();
  using ErrorStringFn = const char* (*)(nvmlReturn_t);
  using CountFn = nvmlReturn_t (*)(unsigned*);
  using HandleFn = nvmlReturn_t (*)(unsigned, nvmlDevice_t*);
  using StringFn = nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned);
  using DriverVersionFn = nvmlReturn_t (*)(char*, unsigned);
  using MinorFn = nvmlReturn_t (*)(nvmlDevice_t, unsigned*);
  using MemoryFn = nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t*);
  using MemoryV2Fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_v2_t*);
  using ProcessesFn = nvmlReturn_t (*)(nvmlDevice_t, unsigned*, nvmlProcessInfo_t*);
  using UtilFn = nvmlReturn_t (*)(nvmlDevice_t, nvmlUtilization_t*);
  using PciFn = nvmlReturn_t (*)(nvmlDevice_t, nvmlPciInfo_t*);

  // A process-list entry point and the entry size its API version writes.
  struct ListFn {
    ProcessesFn fn = nullptr;
    unsigned stride = 0;
    const char* name = "";
  };

  void* handle = nullptr;
  std::string library;
  bool shutdown_on_close = false;
  bool initialised = false;

  InitFn init = nullptr;
  InitFn shutdown = nullptr;
  ErrorStringFn error_string = nullptr;
  CountFn device_count = nullptr;
  HandleFn handle_by_index = nullptr;
  StringFn name = nullptr;
  StringFn uuid = nullptr;
  DriverVersionFn driver_version = nullptr;
  MinorFn minor = nullptr;
  MemoryFn memory = nullptr;
  MemoryV2Fn memory_v2 = nullptr;  // optional; disabled after FUNCTION_NOT_FOUND/NOT_SUPPORTED
  UtilFn utilization = nullptr;    // optional
  PciFn pci = nullptr;             // optional; pci_v3: busId is valid (else busIdLegacy only)
  bool pci_v3 = false;
  ListFn compute[3];  // _v3, _v2, v1: tried in order, newest first
  ListFn graphics[3];

  ~Api() {
    if (initialised && shutdown_on_close && shutdown) shutdown();
    if (handle) dlclose(handle);
  }

  // Walks a list family newest first; a version that says FUNCTION_NOT_FOUND/NOT_SUPPORTED, or
  // whose bytes are nonsense, is dropped for good and the next older one is tried.
  Result<std::vector<GpuProcess>> ListProcesses(ListFn (&family)[3], nvmlDevice_t device,
                                                Bytes total) {
    std::string last_error = "no usable process list call";
    for (ListFn& entry : family) {
      if (!entry.fn) continue;
      ProcessesFn fn = entry.fn;
      nvml::FetchResult fetched = nvml::FetchProcessList(
          [&](unsigned* count, void* buffer) {
            return fn(device, count, static_cast<nvmlProcessInfo_t*>(buffer));
          },
          entry.stride, total);
      if (fetched.status == kSuccess) return std::move(fetched.list.processes);
      last_error = std::string(entry.name) + ": " +
                   (fetched.decode_error.empty() ? Describe(fetched.status) : fetched.decode_error);
      if (fetched.status == nvml::kErrorFunctionNotFound ||
          fetched.status == nvml::kErrorNotSupported || !fetched.decode_error.empty() ||
          fetched.status == nvml::kErrorInvalidArgument) {
        entry.fn = nullptr;  // unusable on this driver: never try this version again
        continue;
      }
      break;  // a real error (GPU lost, no permission): older versions will not do better
    }
    return Fail(ErrorCode::kDriverError, last_error);
  }

  std::string Describe(nvmlReturn_t r) const {
    std::string text = nvml::ReturnName(r);
    if (error_string) {
      const char* s = error_string(r);
      if (s && *s) text += std::string(" (") + s + ")";
    }
    return text;
  }
};

namespace {

// One row of the symbol table: the names to try (newest first) and where the pointer goes.
struct Symbol {
  const char* names[3];
  void** slot;
  bool required;
};

void* Resolve(void* handle, const char* const names[3], const char** chosen) {
  for (int i = 0; i < 3 && names[i]; ++i) {
    if (void* p = dlsym(handle, names[i])) {
      if (chosen) *chosen = names[i];
      return p;
    }
  }
  return nullptr;
}

std::string TrimmedString(const char* buf) { return std::string(buf, strnlen(buf, 256)); }

}  // namespace

std::string DefaultNvmlLibrary() {
  const char* env = std::getenv("VRAMGUARD_NVML_LIBRARY");
  return env && *env ? env : "libnvidia-ml.so.1";
}

Result<std::unique_ptr<NvmlProbe>> NvmlProbe::Open(const NvmlOptions& options) {
  auto api = std::make_unique<Api>();
  api->library = options.library.empty() ? DefaultNvmlLibrary() : options.library;
  api->shutdown_on_close = options.shutdown_on_close;
  // RTLD_NODELETE: the library stays mapped after dlclose. A driver library keeps state in its
  // globals (threads, caches) that must not vanish under a late call; and memory it holds only
  // through those globals stays reachable, so a leak checker does not report the driver's own
  // allocations as ours.
  api->handle = dlopen(api->library.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!api->handle) {
    const char* why = dlerror();
    return Fail(ErrorCode::kNoDriver,
                "no NVIDIA driver found (" + std::string(why ? why : api->library) + ")",
                "install the NVIDIA driver, or try the simulated GPU: see docs/simulated-gpu.md");
  }

  Symbol table[] = {
      {{"nvmlInit_v2", "nvmlInit", nullptr}, reinterpret_cast<void**>(&api->init), true},
      {{"nvmlShutdown", nullptr, nullptr}, reinterpret_cast<void**>(&api->shutdown), true},
      {{"nvmlErrorString", nullptr, nullptr}, reinterpret_cast<void**>(&api->error_string), false},
      {{"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount", nullptr},
       reinterpret_cast<void**>(&api->device_count),
       true},
      {{"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex", nullptr},
       reinterpret_cast<void**>(&api->handle_by_index),
       true},
      {{"nvmlDeviceGetName", nullptr, nullptr}, reinterpret_cast<void**>(&api->name), false},
      {{"nvmlDeviceGetUUID", nullptr, nullptr}, reinterpret_cast<void**>(&api->uuid), false},
      {{"nvmlSystemGetDriverVersion", nullptr, nullptr},
       reinterpret_cast<void**>(&api->driver_version),
       false},
      {{"nvmlDeviceGetMinorNumber", nullptr, nullptr},
       reinterpret_cast<void**>(&api->minor),
       false},
      {{"nvmlDeviceGetMemoryInfo", nullptr, nullptr}, reinterpret_cast<void**>(&api->memory), true},
      {{"nvmlDeviceGetMemoryInfo_v2", nullptr, nullptr},
       reinterpret_cast<void**>(&api->memory_v2),
       false},
      {{"nvmlDeviceGetUtilizationRates", nullptr, nullptr},
       reinterpret_cast<void**>(&api->utilization),
       false},
      {{"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo"},
       reinterpret_cast<void**>(&api->pci),
       false},
  };
  for (const Symbol& s : table) {
    *s.slot = Resolve(api->handle, s.names, nullptr);
    if (!*s.slot && s.required) {
      return Fail(ErrorCode::kNoDriver,
                  std::string(api->library) + " lacks " + s.names[0] + ": not an NVML library",
                  "point VRAMGUARD_NVML_LIBRARY at libnvidia-ml.so.1 of the installed driver");
    }
  }
  if (api->pci) {
    api->pci_v3 =
        dlsym(api->handle, "nvmlDeviceGetPciInfo_v3") == reinterpret_cast<void*>(api->pci);
  }
  // Process lists: each version separately, so a FUNCTION_NOT_FOUND at call time can fall back.
  const char* compute_names[3] = {"nvmlDeviceGetComputeRunningProcesses_v3",
                                  "nvmlDeviceGetComputeRunningProcesses_v2",
                                  "nvmlDeviceGetComputeRunningProcesses"};
  const char* graphics_names[3] = {"nvmlDeviceGetGraphicsRunningProcesses_v3",
                                   "nvmlDeviceGetGraphicsRunningProcesses_v2",
                                   "nvmlDeviceGetGraphicsRunningProcesses"};
  const unsigned strides[3] = {24, 24, 16};
  for (int i = 0; i < 3; ++i) {
    api->compute[i] = {reinterpret_cast<Api::ProcessesFn>(dlsym(api->handle, compute_names[i])),
                       strides[i], compute_names[i]};
    api->graphics[i] = {reinterpret_cast<Api::ProcessesFn>(dlsym(api->handle, graphics_names[i])),
                        strides[i], graphics_names[i]};
  }
  if (!api->compute[0].fn && !api->compute[1].fn && !api->compute[2].fn) {
    return Fail(ErrorCode::kNoDriver, api->library + " has no compute process list call",
                "the NVIDIA driver is too old for vramguard (need R450 or newer)");
  }

  nvmlReturn_t r = api->init();
  if (r != kSuccess) {
    ErrorCode code = ErrorCode::kDriverError;
    std::string hint = "check `nvidia-smi`; the driver may need a reload";
    if (r == nvml::kErrorDriverNotLoaded || r == nvml::kErrorLibraryNotFound) {
      code = ErrorCode::kNoDriver;
      hint =
          "no NVIDIA GPU is usable on this machine; try the simulated GPU: docs/simulated-gpu.md";
    } else if (r == nvml::kErrorLibRmVersionMismatch) {
      hint =
          "the driver was upgraded without a reboot: reboot, or reload the nvidia kernel modules";
    } else if (r == nvml::kErrorNoPermission) {
      code = ErrorCode::kPermissionDenied;
      hint = "check permissions on /dev/nvidia*";
    }
    return Fail(code, "NVML initialisation failed: " + api->Describe(r), hint);
  }
  api->initialised = true;
  return std::unique_ptr<NvmlProbe>(new NvmlProbe(std::move(api)));
}

NvmlProbe::NvmlProbe(std::unique_ptr<Api> api) : api_(std::move(api)) {}
NvmlProbe::~NvmlProbe() = default;

const std::string& NvmlProbe::library() const { return api_->library; }

Result<GpuSnapshot> NvmlProbe::Snapshot() {
  Api& api = *api_;
  auto describe = [&](nvmlReturn_t r) { return api.Describe(r); };
  GpuSnapshot snap;
  if (api.driver_version) {
    char buf[nvml::kDriverVersionBufferSize] = {};
    if (api.driver_version(buf, sizeof buf) == kSuccess) snap.driver_version = TrimmedString(buf);
  }
  unsigned count = 0;
  if (nvmlReturn_t r = api.device_count(&count); r != kSuccess) {
    return Fail(ErrorCode::kDriverError, "NVML cannot count GPUs: " + describe(r),
                "check `nvidia-smi`");
  }
  for (unsigned i = 0; i < count; ++i) {
    GpuInfo gpu;
    gpu.index = i;
    nvmlDevice_t device = nullptr;
    if (nvmlReturn_t r = api.handle_by_index(i, &device); r != kSuccess) {
      gpu.problem = "cannot open GPU " + std::to_string(i) + ": " + describe(r);
      snap.gpus.push_back(std::move(gpu));
      continue;
    }
    char buf[nvml::kNameBufferSize] = {};
    if (api.name && api.name(device, buf, sizeof buf) == kSuccess) gpu.name = TrimmedString(buf);
    char ubuf[nvml::kUuidBufferSize] = {};
    if (api.uuid && api.uuid(device, ubuf, sizeof ubuf) == kSuccess) gpu.uuid = TrimmedString(ubuf);
    unsigned minor = 0;
    if (api.minor && api.minor(device, &minor) == kSuccess) gpu.minor = minor;
    nvmlPciInfo_t pci{};
    if (api.pci && api.pci(device, &pci) == kSuccess) {
      std::string bus = api.pci_v3 ? std::string(pci.busId, strnlen(pci.busId, sizeof pci.busId))
                                   : std::string(pci.busIdLegacy,
                                                 strnlen(pci.busIdLegacy, sizeof pci.busIdLegacy));
      if (!bus.empty()) gpu.pci_bus_id = std::move(bus);
    }

    bool have_memory = false;
    if (api.memory_v2) {
      nvmlMemory_v2_t m{};
      m.version = nvml::kMemoryV2Version;
      nvmlReturn_t r = api.memory_v2(device, &m);
      if (r == kSuccess) {
        gpu.total = Bytes(m.total);
        gpu.free = Bytes(m.free);
        gpu.used = Bytes(m.used);
        gpu.reserved = Bytes(m.reserved);
        have_memory = true;
      } else if (r == nvml::kErrorFunctionNotFound || r == nvml::kErrorNotSupported ||
                 r == nvml::kErrorInvalidArgument) {
        api.memory_v2 = nullptr;  // v1 from now on
      }
    }
    if (!have_memory) {
      nvmlMemory_t m{};
      nvmlReturn_t r = api.memory(device, &m);
      if (r != kSuccess) {
        gpu.problem = "cannot read memory of GPU " + std::to_string(i) + ": " + describe(r);
        snap.gpus.push_back(std::move(gpu));
        continue;
      }
      gpu.total = Bytes(m.total);
      gpu.free = Bytes(m.free);
      gpu.used = Bytes(m.used);  // v1: includes driver-reserved memory
    }
    if (api.utilization) {
      nvmlUtilization_t u{};
      nvmlReturn_t r = api.utilization(device, &u);
      if (r == kSuccess) {
        gpu.utilization_percent = u.gpu;
      } else if (r == nvml::kErrorFunctionNotFound) {
        api.utilization = nullptr;
      }
    }
    auto compute = api.ListProcesses(api.compute, device, gpu.total);
    if (!compute) {
      gpu.problem =
          "cannot list processes on GPU " + std::to_string(i) + ": " + compute.error().message;
    } else {
      gpu.processes = nvml::MergeProcessLists(std::move(*compute), {});
      auto graphics = api.ListProcesses(api.graphics, device, gpu.total);
      if (graphics) gpu.processes = nvml::MergeProcessLists(std::move(gpu.processes), *graphics);
    }
    snap.gpus.push_back(std::move(gpu));
  }
  return snap;
}

}  // namespace vg
