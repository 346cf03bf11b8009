// vg-cudahold: a real CUDA process for the GPU scenarios — the hardware twin of `vg-simgpu run`.
//
//   vg-cudahold [--gpu K] [--alloc SIZE] [--fork-worker] [--ignore-term] [--new-session]
//               [--crash-after DUR | --exit-after DUR] [--ready-file FILE]
//
// Initialises CUDA on GPU K through the driver API (dlopen("libcuda.so.1"); no toolkit needed to
// build), allocates SIZE, optionally forks a worker that makes no CUDA calls but inherits the
// device files and mappings (the ghost's holder, docs/gpu-facts.md), writes "P\n" or "P W\n" to the
// ready file, then sleeps until killed, --exit-after or --crash-after (SIGSEGV). Exit status: 0,
// 2 bad usage, 3 allocation failed, 4 no CUDA.
#include <dlfcn.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "util/units.h"

namespace {

using CUresult = int;
using CUdevice = int;
using CUcontext = void*;
using CUdeviceptr = unsigned long long;

struct Cuda {
  CUresult (*init)(unsigned) = nullptr;
  CUresult (*device_get)(CUdevice*, int) = nullptr;
  CUresult (*primary_retain)(CUcontext*, CUdevice) = nullptr;
  CUresult (*set_current)(CUcontext) = nullptr;
  CUresult (*mem_alloc)(CUdeviceptr*, size_t) = nullptr;
  CUresult (*error_string)(CUresult, const char**) = nullptr;
};

template <class F>
bool Load(void* lib, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  return *out != nullptr;
}

int Usage(const std::string& why) {
  std::fprintf(stderr,
               "vg-cudahold: %s; usage: vg-cudahold [--gpu K] [--alloc SIZE] [--fork-worker] "
               "[--ignore-term] [--new-session] [--crash-after DUR|--exit-after DUR] "
               "[--ready-file FILE]\n",
               why.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int gpu = 0;
  vg::Bytes alloc;
  bool fork_worker = false, ignore_term = false, new_session = false;
  std::optional<vg::Millis> crash_after, exit_after;
  std::string ready_file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--fork-worker")
      fork_worker = true;
    else if (a == "--ignore-term")
      ignore_term = true;
    else if (a == "--new-session")
      new_session = true;
    else if (a == "--gpu" || a == "--alloc" || a == "--crash-after" || a == "--exit-after" ||
             a == "--ready-file") {
      const char* v = value();
      if (!v) return Usage(a + " needs a value");
      if (a == "--gpu") gpu = std::atoi(v);
      if (a == "--ready-file") ready_file = v;
      if (a == "--alloc") {
        auto b = vg::ParseBytes(v);
        if (!b) return Usage(b.error().message);
        alloc = *b;
      }
      if (a == "--crash-after" || a == "--exit-after") {
        auto d = vg::ParseDuration(v);
        if (!d) return Usage(d.error().message);
        (a == "--crash-after" ? crash_after : exit_after) = *d;
      }
    } else {
      return Usage("unknown argument " + a);
    }
  }
  if (new_session) setsid();
  if (ignore_term) signal(SIGTERM, SIG_IGN);
  setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 1);  // ordinals in NVML's order

  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    std::fprintf(stderr, "vg-cudahold: no CUDA driver (%s)\n", dlerror());
    return 4;
  }
  Cuda cu;
  if (!Load(lib, "cuInit", &cu.init) || !Load(lib, "cuDeviceGet", &cu.device_get) ||
      !Load(lib, "cuDevicePrimaryCtxRetain", &cu.primary_retain) ||
      !Load(lib, "cuCtxSetCurrent", &cu.set_current) ||
      !Load(lib, "cuMemAlloc_v2", &cu.mem_alloc)) {
    std::fprintf(stderr, "vg-cudahold: libcuda.so.1 lacks a driver API entry point\n");
    return 4;
  }
  Load(lib, "cuGetErrorString", &cu.error_string);
  auto check = [&](CUresult r, const char* what) {
    if (r == 0) return true;
    const char* s = nullptr;
    if (cu.error_string) cu.error_string(r, &s);
    std::fprintf(stderr, "vg-cudahold: %s failed: %d %s\n", what, r, s ? s : "");
    return false;
  };
  CUdevice dev = 0;
  CUcontext ctx = nullptr;
  if (!check(cu.init(0), "cuInit") || !check(cu.device_get(&dev, gpu), "cuDeviceGet") ||
      !check(cu.primary_retain(&ctx, dev), "cuDevicePrimaryCtxRetain") ||
      !check(cu.set_current(ctx), "cuCtxSetCurrent")) {
    return 4;
  }
  if (alloc.count() > 0) {
    CUdeviceptr p = 0;
    if (!check(cu.mem_alloc(&p, alloc.count()), "cuMemAlloc")) return 3;
  }
  pid_t worker = 0;
  if (fork_worker) {
    worker = fork();
    if (worker == 0) {
      prctl(PR_SET_NAME, "vg-cuda-worker");
      for (;;) pause();  // no CUDA calls: holds the inherited device files and mappings
    }
  }
  std::printf("vg-cudahold: pid %d holds %s on GPU %d%s\n", getpid(),
              vg::FormatBytes(alloc).c_str(), gpu,
              worker ? (", worker pid " + std::to_string(worker)).c_str() : "");
  std::fflush(stdout);
  if (!ready_file.empty()) {
    std::string tmp = ready_file + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      if (worker)
        std::fprintf(f, "%d %d\n", getpid(), worker);
      else
        std::fprintf(f, "%d\n", getpid());
      std::fclose(f);
      std::rename(tmp.c_str(), ready_file.c_str());
    }
  }
  if (crash_after || exit_after) {
    std::this_thread::sleep_for(crash_after ? *crash_after : *exit_after);
    if (crash_after) {
      rlimit none{0, 0};
      setrlimit(RLIMIT_CORE, &none);
      raise(SIGSEGV);
    }
    return 0;
  }
  for (;;) pause();
}
