// Tests of the fake libnvidia-ml.so.1, loaded like production code loads NVML: dlopen with
// RTLD_LOCAL and dlsym. Covers init and its errors, device identity, memory v1/v2 and the v2
// version trap, the INSUFFICIENT_SIZE protocol, entry strides, the ghost and the test switches.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>

#include "gpu/nvml_types.h"
#include "sim_state.h"
#include "sim_test_util.h"

namespace vg::sim {
namespace {
namespace fs = std::filesystem;
using testing::Children;
using testing::PollUntil;
using testing::ReadText;
using testing::TempDir;

using testing::kGiB;
using testing::kMiB;
constexpr std::uint64_t kOverhead = 500 * kMiB;
constexpr std::uint64_t kReserved = 300 * kMiB;

using InitFn = nvmlReturn_t (*)();
using CountFn = nvmlReturn_t (*)(unsigned*);
using HandleFn = nvmlReturn_t (*)(unsigned, nvmlDevice_t*);
using StringFn = nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned);
using MinorFn = nvmlReturn_t (*)(nvmlDevice_t, unsigned*);
using MemoryFn = nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t*);
using MemoryV2Fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_v2_t*);
using ProcessesFn = nvmlReturn_t (*)(nvmlDevice_t, unsigned*, nvmlProcessInfo_t*);
using UtilizationFn = nvmlReturn_t (*)(nvmlDevice_t, nvmlUtilization_t*);
using DriverVersionFn = nvmlReturn_t (*)(char*, unsigned);
using ErrorStringFn = const char* (*)(nvmlReturn_t);

// The library's entry points, resolved once for the whole test binary.
struct Nvml {
  void* lib = nullptr;
  InitFn init_v2, init, shutdown;
  CountFn count_v2, count;
  HandleFn handle_v2, handle;
  StringFn name, uuid;
  MinorFn minor;
  MemoryFn memory;
  MemoryV2Fn memory_v2;
  ProcessesFn compute_v3, compute_v2, compute_v1, graphics_v3, graphics_v2, graphics_v1;
  UtilizationFn utilization;
  DriverVersionFn driver_version;
  ErrorStringFn error_string;
};

template <class F>
F Sym(void* lib, const char* name) {
  void* p = ::dlsym(lib, name);
  if (p == nullptr) ADD_FAILURE() << "missing symbol " << name;
  return reinterpret_cast<F>(p);
}

const Nvml& Lib() {
  static const Nvml nvml = [] {
    Nvml n;
    n.lib = ::dlopen(VG_FAKE_NVML_PATH, RTLD_NOW | RTLD_LOCAL);
    if (n.lib == nullptr) {
      ADD_FAILURE() << "dlopen " << VG_FAKE_NVML_PATH << ": " << ::dlerror();
      std::abort();
    }
    n.init_v2 = Sym<InitFn>(n.lib, "nvmlInit_v2");
    n.init = Sym<InitFn>(n.lib, "nvmlInit");
    n.shutdown = Sym<InitFn>(n.lib, "nvmlShutdown");
    n.count_v2 = Sym<CountFn>(n.lib, "nvmlDeviceGetCount_v2");
    n.count = Sym<CountFn>(n.lib, "nvmlDeviceGetCount");
    n.handle_v2 = Sym<HandleFn>(n.lib, "nvmlDeviceGetHandleByIndex_v2");
    n.handle = Sym<HandleFn>(n.lib, "nvmlDeviceGetHandleByIndex");
    n.name = Sym<StringFn>(n.lib, "nvmlDeviceGetName");
    n.uuid = Sym<StringFn>(n.lib, "nvmlDeviceGetUUID");
    n.minor = Sym<MinorFn>(n.lib, "nvmlDeviceGetMinorNumber");
    n.memory = Sym<MemoryFn>(n.lib, "nvmlDeviceGetMemoryInfo");
    n.memory_v2 = Sym<MemoryV2Fn>(n.lib, "nvmlDeviceGetMemoryInfo_v2");
    n.compute_v3 = Sym<ProcessesFn>(n.lib, "nvmlDeviceGetComputeRunningProcesses_v3");
    n.compute_v2 = Sym<ProcessesFn>(n.lib, "nvmlDeviceGetComputeRunningProcesses_v2");
    n.compute_v1 = Sym<ProcessesFn>(n.lib, "nvmlDeviceGetComputeRunningProcesses");
    n.graphics_v3 = Sym<ProcessesFn>(n.lib, "nvmlDeviceGetGraphicsRunningProcesses_v3");
    n.graphics_v2 = Sym<ProcessesFn>(n.lib, "nvmlDeviceGetGraphicsRunningProcesses_v2");
    n.graphics_v1 = Sym<ProcessesFn>(n.lib, "nvmlDeviceGetGraphicsRunningProcesses");
    n.utilization = Sym<UtilizationFn>(n.lib, "nvmlDeviceGetUtilizationRates");
    n.driver_version = Sym<DriverVersionFn>(n.lib, "nvmlSystemGetDriverVersion");
    n.error_string = Sym<ErrorStringFn>(n.lib, "nvmlErrorString");
    return n;
  }();
  return nvml;
}

struct Entry {
  unsigned pid;
  std::uint64_t used;
  unsigned gi;
  unsigned ci;
  bool operator==(const Entry&) const = default;
};

// Decodes `count` entries `stride` bytes apart (24-byte layout; 16 has no instance ids).
std::vector<Entry> Decode(const unsigned char* buf, unsigned count, unsigned stride) {
  std::vector<Entry> out;
  for (unsigned i = 0; i < count; ++i) {
    const unsigned char* p = buf + static_cast<std::size_t>(i) * stride;
    Entry e{};
    std::memcpy(&e.pid, p, 4);
    std::memcpy(&e.used, p + 8, 8);
    if (stride >= 24) {
      std::memcpy(&e.gi, p + 16, 4);
      std::memcpy(&e.ci, p + 20, 4);
    }
    out.push_back(e);
  }
  return out;
}

class FakeNvmlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path() / "state";
    CreateOptions options;
    options.count = 2;
    options.total = Bytes::GiB(24);
    options.overhead = Bytes(kOverhead);
    options.reserved = Bytes(kReserved);
    options.name = "Sim GPU";
    ASSERT_TRUE(CreateGpus(dir_, options).has_value());
    ::setenv(kDirEnvVar, dir_.c_str(), 1);
  }

  void TearDown() override {
    while (Lib().shutdown() == nvml::kSuccess) {
    }
    children_.KillAll();
    ::unsetenv(kDirEnvVar);
  }

  // Edits gpu<gpu>/device.json; call before nvmlInit (the library reads it at init).
  template <class Edit>
  void EditDevice(unsigned gpu, Edit edit) {
    auto d = ReadDevice(dir_, gpu);
    ASSERT_TRUE(d.has_value());
    edit(*d);
    ASSERT_TRUE(WriteDevice(dir_, *d).has_value());
  }

  nvmlDevice_t Handle(unsigned index) {
    nvmlDevice_t h = nullptr;
    EXPECT_EQ(Lib().handle_v2(index, &h), nvml::kSuccess);
    return h;
  }

  // Forks a child holding a context with `bytes` allocated; it sleeps until killed.
  pid_t StartHolder(unsigned gpu, std::uint64_t bytes) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      auto ctx = SimContext::Open(dir_, gpu);
      char ok = ctx && ctx->Allocate(Bytes(bytes)) ? 'y' : 'n';
      (void)!::write(fds[1], &ok, 1);
      for (;;) ::pause();
    }
    children_.Add(pid);
    ::close(fds[1]);
    char ok = 0;
    EXPECT_EQ(::read(fds[0], &ok, 1), 1);
    ::close(fds[0]);
    EXPECT_EQ(ok, 'y');
    return pid;
  }

  TempDir tmp_;
  fs::path dir_;
  Children children_;
};

TEST_F(FakeNvmlTest, DriverNotLoadedWithoutStateDir) {
  ::unsetenv(kDirEnvVar);
  EXPECT_EQ(Lib().init_v2(), nvml::kErrorDriverNotLoaded);
  EXPECT_EQ(Lib().init(), nvml::kErrorDriverNotLoaded);
  ::setenv(kDirEnvVar, "", 1);
  EXPECT_EQ(Lib().init_v2(), nvml::kErrorDriverNotLoaded);
  ::setenv(kDirEnvVar, (tmp_.path() / "empty").c_str(), 1);
  EXPECT_EQ(Lib().init_v2(), nvml::kErrorDriverNotLoaded);
  fs::create_directories(tmp_.path() / "empty");
  EXPECT_EQ(Lib().init_v2(), nvml::kErrorDriverNotLoaded);
  EXPECT_STREQ(Lib().error_string(nvml::kErrorDriverNotLoaded), "Driver Not Loaded");
}

TEST_F(FakeNvmlTest, CallsBeforeInitAreUninitialized) {
  unsigned count = 99;
  EXPECT_EQ(Lib().count_v2(&count), nvml::kErrorUninitialized);
  nvmlDevice_t h = nullptr;
  EXPECT_EQ(Lib().handle_v2(0, &h), nvml::kErrorUninitialized);
  char buf[80];
  EXPECT_EQ(Lib().driver_version(buf, sizeof buf), nvml::kErrorUninitialized);
  EXPECT_EQ(Lib().shutdown(), nvml::kErrorUninitialized);
}

TEST_F(FakeNvmlTest, IdentityOfDevices) {
  ASSERT_EQ(Lib().init_v2(), nvml::kSuccess);
  unsigned count = 0;
  ASSERT_EQ(Lib().count_v2(&count), nvml::kSuccess);
  EXPECT_EQ(count, 2u);
  ASSERT_EQ(Lib().count(&count), nvml::kSuccess);
  EXPECT_EQ(count, 2u);
  char version[nvml::kDriverVersionBufferSize];
  ASSERT_EQ(Lib().driver_version(version, sizeof version), nvml::kSuccess);
  EXPECT_STREQ(version, "580.159.04-sim");

  for (unsigned i = 0; i < 2; ++i) {
    nvmlDevice_t h = nullptr;
    ASSERT_EQ(Lib().handle(i, &h), nvml::kSuccess);
    EXPECT_EQ(h, Handle(i));
    char name[nvml::kNameBufferSize];
    ASSERT_EQ(Lib().name(h, name, sizeof name), nvml::kSuccess);
    EXPECT_STREQ(name, "Sim GPU");
    char uuid[nvml::kUuidBufferSize];
    ASSERT_EQ(Lib().uuid(h, uuid, sizeof uuid), nvml::kSuccess);
    EXPECT_EQ(std::string(uuid), UuidFor(i));
    unsigned minor = 99;
    ASSERT_EQ(Lib().minor(h, &minor), nvml::kSuccess);
    EXPECT_EQ(minor, i);
  }
  nvmlDevice_t h = nullptr;
  EXPECT_EQ(Lib().handle_v2(2, &h), nvml::kErrorInvalidArgument);
  char small[4];
  EXPECT_EQ(Lib().name(Handle(0), small, sizeof small), nvml::kErrorInsufficientSize);
  EXPECT_EQ(Lib().name(reinterpret_cast<nvmlDevice_t>(small), small, sizeof small),
            nvml::kErrorInvalidArgument);
}

TEST_F(FakeNvmlTest, InitIsReferenceCounted) {
  ASSERT_EQ(Lib().init_v2(), nvml::kSuccess);
  ASSERT_EQ(Lib().init(), nvml::kSuccess);
  unsigned count = 0;
  ASSERT_EQ(Lib().shutdown(), nvml::kSuccess);
  EXPECT_EQ(Lib().count_v2(&count), nvml::kSuccess);
  ASSERT_EQ(Lib().shutdown(), nvml::kSuccess);
  EXPECT_EQ(Lib().count_v2(&count), nvml::kErrorUninitialized);
  EXPECT_EQ(Lib().shutdown(), nvml::kErrorUninitialized);
}

TEST_F(FakeNvmlTest, HoldsDeviceNodesOpenWithoutMappingThem) {
  auto holds = [&](const fs::path& node) {
    for (const auto& fd : fs::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      if (fs::read_symlink(fd.path(), ec) == node) return true;
    }
    return false;
  };
  fs::path ctl = dir_ / "dev" / "nvidiactl";
  fs::path node0 = dir_ / "dev" / "nvidia0";
  fs::path node1 = dir_ / "dev" / "nvidia1";
  EXPECT_FALSE(holds(ctl));
  ASSERT_EQ(Lib().init_v2(), nvml::kSuccess);
  EXPECT_TRUE(holds(ctl));
  EXPECT_TRUE(holds(node0));
  EXPECT_TRUE(holds(node1));
  EXPECT_EQ(ReadText("/proc/self/maps").find(dir_.string()), std::string::npos);
  ASSERT_EQ(Lib().shutdown(), nvml::kSuccess);
  EXPECT_FALSE(holds(ctl));
  EXPECT_FALSE(holds(node0));
}

TEST_F(FakeNvmlTest, MemoryV2NeedsTheRealVersionConstant) {
  pid_t holder = StartHolder(0, 2 * kGiB);
  (void)holder;
  ASSERT_EQ(Lib().init_v2(), nvml::kSuccess);
  nvmlMemory_v2_t m{};
  m.version = 2;  // what nvtop passes: fails, exactly like driver 580
  EXPECT_EQ(Lib().memory_v2(Handle(0), &m), nvml::kErrorFunctionNotFound);
  m = {};
  m.version = nvml::kMemoryV2Version;
  ASSERT_EQ(Lib().memory_v2(Handle(0), &m), nvml::kSuccess);
  EXPECT_EQ(m.total, 24 * kGiB);
  EXPECT_EQ(m.reserved, kReserved);
  EXPECT_EQ(m.used, 2 * kGiB + kOverhead);
  EXPECT_EQ(m.free, 24 * kGiB - kReserved - m.used);
}

TEST_F(FakeNvmlTest, MemoryV1CountsReservedAsUsed) {
  ASSERT_EQ(Lib().init_v2(), nvml::kSuccess);
  nvmlMemory_t m{};
  ASSERT_EQ(Lib().memory(Handle(1), &m), nvml::kSuccess);
  EXPECT_EQ(m.total, 24 * kGiB);
  EXPECT_EQ(m.used, kReserved);  // idle GPU: only the driver's reservation
  EXPECT_EQ(m.free, 24 * kGiB - kReserved);
  StartHolder(1, kGiB);
  ASSERT_EQ(Lib().memory(Handle(1), &m), nvml::kSuccess);
  EXPECT_EQ(m.used, kReserved + kGiB + kOverhead);
  EXPECT_EQ(m.free + m.used, m.total);
}

TEST_F(FakeNvmlTest, ProcessListFollowsInsufficientSizeProtocol) {
  pid_t a = StartHolder(0, 1 * kGiB);
  pid_t b = StartHolder(0, 3 * kGiB);
  ASSERT_EQ(Lib().init_v2(), nvml::kSuccess);
  nvmlDevice_t h = Handle(0);

  for (ProcessesFn fn : {Lib().compute_v3, Lib().compute_v2, Lib().compute_v1}) {
    unsigned count = 0;
    EXPECT_EQ(fn(h, &count, nullptr), nvml::kErrorInsufficientSize);
    EXPECT_EQ(count, 2u);
    count = 1;
    nvmlProcessInfo_t one[1];
    EXPECT_EQ(fn(h, &count, one), nvml::kErrorInsufficientSize);
    EXPECT_EQ(count, 2u);
  }

  std::vector<Entry> expected{
      {static_cast<unsigned>(a), kGiB + kOverhead, 0xFFFFFFFFu, 0xFFFFFFFFu},
      {static_cast<unsigned>(b), 3 * kGiB + kOverhead, 0xFFFFFFFFu, 0xFFFFFFFFu}};
  if (a > b) std::swap(expected[0], expected[1]);
  for (ProcessesFn fn : {Lib().compute_v3, Lib().compute_v2}) {
    nvmlProcessInfo_t infos[8];
    std::memset(infos, 0xAB, sizeof infos);
    unsigned count = 8;
    ASSERT_EQ(fn(h, &count, infos), nvml::kSuccess);
    ASSERT_EQ(count, 2u);
    EXPECT_EQ(Decode(reinterpret_cast<unsigned char*>(infos), 2, 24), expected);
  }
  // Unversioned: 16-byte entries.
  unsigned char raw[8 * 24];
  std::memset(raw, 0xAB, sizeof raw);
  unsigned count = 8;
  ASSERT_EQ(Lib().compute_v1(h, &count, reinterpret_cast<nvmlProcessInfo_t*>(raw)), nvml::kSuccess);
  ASSERT_EQ(count, 2u);
  auto v1 = Decode(raw, 2, 16);
  EXPECT_EQ(v1[0].pid, expected[0].pid);
  EXPECT_EQ(v1[0].used, expected[0].used);
  EXPECT_EQ(v1[1].pid, expected[1].pid);
  EXPECT_EQ(v1[1].used, expected[1].used);
  EXPECT_EQ(raw[32], 0xAB);  // nothing written past two 16-byte entries

  // Graphics lists are always empty; success with count 0 means no processes.
  for (ProcessesFn fn : {Lib().graphics_v3, Lib().graphics_v2, Lib().graphics_v1}) {
    unsigned n = 0;
    EXPECT_EQ(fn(h, &n, nullptr), nvml::kSuccess);
    EXPECT_EQ(n, 0u);
  }
  // An idle GPU: success, count 0, even with a null buffer.
  unsigned n = 0;
  EXPECT_EQ(Lib().compute_v3(Handle(1), &n, nullptr), nvml::kSuccess);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(Lib().compute_v3(h, nullptr, nullptr), nvml::kErrorInvalidArgument);
}

TEST_F(FakeNvmlTest, GhostIsListedUnderItsDeadPidUntilTheHolderDies) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    auto ctx = SimContext::Open(dir_, 0);
    if (!ctx || !ctx->Allocate(Bytes::GiB(10))) ::_exit(10);
    pid_t grandchild = ::fork();  // no "CUDA calls": it only inherits the context
    if (grandchild == 0) {
      for (;;) ::pause();
    }
    (void)!::write(fds[1], &grandchild, sizeof grandchild);
    ::_exit(0);
  }
  children_.Add(child);
  ::close(fds[1]);
  pid_t grandchild = 0;
  ASSERT_EQ(::read(fds[0], &grandchild, sizeof grandchild),
            static_cast<ssize_t>(sizeof grandchild));
  ::close(fds[0]);
  children_.Add(grandchild);
  auto status = children_.Reap(child);
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  ASSERT_NE(::kill(child, 0), 0);  // the creator is gone

  ASSERT_EQ(Lib().init_v2(), nvml::kSuccess);
  nvmlDevice_t h = Handle(0);
  nvmlProcessInfo_t infos[4];
  unsigned count = 4;
  ASSERT_EQ(Lib().compute_v3(h, &count, infos), nvml::kSuccess);
  ASSERT_EQ(count, 1u);
  EXPECT_EQ(infos[0].pid, static_cast<unsigned>(child));
  EXPECT_EQ(infos[0].usedGpuMemory, 10 * kGiB + kOverhead);
  nvmlMemory_v2_t m{};
  m.version = nvml::kMemoryV2Version;
  ASSERT_EQ(Lib().memory_v2(h, &m), nvml::kSuccess);
  EXPECT_EQ(m.used, 10 * kGiB + kOverhead);

  children_.Kill(grandchild);
  EXPECT_TRUE(PollUntil([&] {
    unsigned c = 4;
    return Lib().compute_v3(h, &c, infos) == nvml::kSuccess && c == 0;
  }));
  ASSERT_EQ(Lib().memory_v2(h, &m), nvml::kSuccess);
  EXPECT_EQ(m.used, 0u);
}

TEST_F(FakeNvmlTest, Stride32EmulatesBuggyR535Entries) {
  EditDevice(0, [](DeviceConfig& d) { d.process_entry_stride = 32; });
  pid_t a = StartHolder(0, kGiB);
  pid_t b = StartHolder(0, 2 * kGiB);
  ASSERT_EQ(Lib().init_v2(), nvml::kSuccess);
  nvmlDevice_t h = Handle(0);

  unsigned char raw[8 * 24];
  std::memset(raw, 0xAB, sizeof raw);
  unsigned count = 8;
  ASSERT_EQ(Lib().compute_v3(h, &count, reinterpret_cast<nvmlProcessInfo_t*>(raw)), nvml::kSuccess);
  ASSERT_EQ(count, 2u);
  auto entries = Decode(raw, 2, 32);
  EXPECT_EQ(entries[0].pid, static_cast<unsigned>(std::min(a, b)));
  EXPECT_EQ(entries[1].pid, static_cast<unsigned>(std::max(a, b)));
  for (int i = 24; i < 32; ++i) EXPECT_EQ(raw[i], 0) << i;  // the extra 8 bytes are zero
  // Read as 24-byte entries, the second one is scrambled, as tools that assumed 24 saw it.
  auto scrambled = Decode(raw, 2, 24);
  EXPECT_NE(scrambled[1].pid, static_cast<unsigned>(std::max(a, b)));
  EXPECT_EQ(raw[64], 0xAB);  // nothing past two 32-byte entries

  // Exactly two 24-byte entries of room: only what fits in 48 bytes is written, never past it.
  unsigned char tight[2 * 24 + 8];
  std::memset(tight, 0xCD, sizeof tight);
  count = 2;
  ASSERT_EQ(Lib().compute_v2(h, &count, reinterpret_cast<nvmlProcessInfo_t*>(tight)),
            nvml::kSuccess);
  EXPECT_EQ(count, 2u);
  for (std::size_t i = 32; i < sizeof tight; ++i) EXPECT_EQ(tight[i], 0xCD) << i;
  // The unversioned call keeps 16-byte entries.
  count = 8;
  ASSERT_EQ(Lib().compute_v1(h, &count, reinterpret_cast<nvmlProcessInfo_t*>(raw)), nvml::kSuccess);
  EXPECT_EQ(Decode(raw, 2, 16)[1].pid, static_cast<unsigned>(std::max(a, b)));
}

TEST_F(FakeNvmlTest, UnsupportedSymbolsAnswerFunctionNotFound) {
  EditDevice(0, [](DeviceConfig& d) {
    d.unsupported = {"nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetComputeRunningProcesses_v3",
                     "nvmlInit_v2"};
  });
  EXPECT_EQ(Lib().init_v2(), nvml::kErrorFunctionNotFound);
  ASSERT_EQ(Lib().init(), nvml::kSuccess);  // the fallback works
  nvmlMemory_v2_t m2{};
  m2.version = nvml::kMemoryV2Version;
  EXPECT_EQ(Lib().memory_v2(Handle(0), &m2), nvml::kErrorFunctionNotFound);
  EXPECT_EQ(Lib().memory_v2(Handle(1), &m2), nvml::kSuccess);  // per device
  nvmlMemory_t m{};
  EXPECT_EQ(Lib().memory(Handle(0), &m), nvml::kSuccess);
  unsigned count = 0;
  EXPECT_EQ(Lib().compute_v3(Handle(0), &count, nullptr), nvml::kErrorFunctionNotFound);
  EXPECT_EQ(Lib().compute_v2(Handle(0), &count, nullptr), nvml::kSuccess);
  EXPECT_STREQ(Lib().error_string(nvml::kErrorFunctionNotFound), "Function Not Found");
}

TEST_F(FakeNvmlTest, UtilizationIsASwitch) {
  EditDevice(1, [](DeviceConfig& d) {
    d.utilization_gpu = 87;
    d.utilization_memory = 12;
  });
  ASSERT_EQ(Lib().init_v2(), nvml::kSuccess);
  nvmlUtilization_t u{};
  EXPECT_EQ(Lib().utilization(Handle(0), &u), nvml::kErrorNotSupported);
  ASSERT_EQ(Lib().utilization(Handle(1), &u), nvml::kSuccess);
  EXPECT_EQ(u.gpu, 87u);
  EXPECT_EQ(u.memory, 12u);
}

TEST_F(FakeNvmlTest, MinorSwitch) {
  EditDevice(1, [](DeviceConfig& d) { d.minor = 5; });
  ASSERT_EQ(Lib().init_v2(), nvml::kSuccess);
  unsigned minor = 0;
  ASSERT_EQ(Lib().minor(Handle(1), &minor), nvml::kSuccess);
  EXPECT_EQ(minor, 5u);
  // A context on that GPU maps dev/nvidia5.
  auto ctx = SimContext::Open(dir_, 1);
  ASSERT_TRUE(ctx.has_value());
  EXPECT_NE(ReadText("/proc/self/maps").find((dir_ / "dev" / "nvidia5").string()),
            std::string::npos);
}

TEST_F(FakeNvmlTest, HandlesDieWithShutdown) {
  ASSERT_EQ(Lib().init_v2(), nvml::kSuccess);
  nvmlDevice_t h = Handle(0);
  ASSERT_EQ(Lib().shutdown(), nvml::kSuccess);
  nvmlMemory_t m{};
  EXPECT_EQ(Lib().memory(h, &m), nvml::kErrorUninitialized);
}

}  // namespace
}  // namespace vg::sim

namespace vg::sim {
namespace {

using PciFn = nvmlReturn_t (*)(nvmlDevice_t, nvmlPciInfo_t*);

TEST_F(FakeNvmlTest, PciBusIdDefaultsFromTheIndexAndFollowsDeviceJson) {
  EditDevice(1, [](DeviceConfig& d) { d.pci_bus_id = "00000000:3B:00.0"; });
  ASSERT_EQ(Lib().init_v2(), nvml::kSuccess);
  auto pci_fn = reinterpret_cast<PciFn>(dlsym(Lib().lib, "nvmlDeviceGetPciInfo_v3"));
  ASSERT_NE(pci_fn, nullptr);
  nvmlPciInfo_t pci{};
  ASSERT_EQ(pci_fn(Handle(0), &pci), nvml::kSuccess);
  EXPECT_STREQ(pci.busId, "00000000:01:00.0");
  EXPECT_STREQ(pci.busIdLegacy, "0000:01:00.0");
  EXPECT_EQ(pci.bus, 1u);
  ASSERT_EQ(pci_fn(Handle(1), &pci), nvml::kSuccess);
  EXPECT_STREQ(pci.busId, "00000000:3B:00.0");
  EXPECT_EQ(pci.bus, 0x3bu);
  EXPECT_EQ(pci.device, 0u);
  EXPECT_EQ(pci_fn(Handle(0), nullptr), nvml::kErrorInvalidArgument);
  // device.json keeps a non-default id and omits the default.
  EXPECT_NE(ReadText(dir_ / "gpu1" / "device.json").find("00000000:3B:00.0"), std::string::npos);
  EXPECT_EQ(ReadText(dir_ / "gpu0" / "device.json").find("pci_bus_id"), std::string::npos);
}

}  // namespace
}  // namespace vg::sim
