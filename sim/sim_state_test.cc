// Tests of the state directory's rules (sim_state.h): layout, liveness via flock, the ghost,
// accounting and the OOM check.
#include "sim_state.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

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

class SimStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path() / "state";
    CreateOptions options;
    options.count = 2;
    options.total = Bytes::GiB(24);
    options.overhead = Bytes::MiB(500);
    options.reserved = Bytes::MiB(300);
    ASSERT_TRUE(CreateGpus(dir_, options).has_value());
  }

  // Forks a child that opens a context on `gpu`, allocates `bytes` and sleeps until killed.
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

TEST_F(SimStateTest, CreateWritesLayout) {
  EXPECT_EQ(fs::file_size(dir_ / "dev" / "nvidiactl"), kNodeSize);
  EXPECT_EQ(fs::file_size(dir_ / "dev" / "nvidia0"), kNodeSize);
  EXPECT_EQ(fs::file_size(dir_ / "dev" / "nvidia1"), kNodeSize);
  EXPECT_TRUE(fs::is_directory(dir_ / "gpu1" / "ctx"));
  auto devices = ReadDevices(dir_);
  ASSERT_TRUE(devices.has_value()) << devices.error().message;
  ASSERT_EQ(devices->size(), 2u);
  const DeviceConfig& d = (*devices)[1];
  EXPECT_EQ(d.index, 1u);
  EXPECT_EQ(d.minor, 1u);
  EXPECT_EQ(d.name, "NVIDIA GeForce RTX 4090 (simulated)");
  EXPECT_EQ(d.uuid, "GPU-5a1e0000-0000-4000-8000-000000000001");
  EXPECT_EQ(d.total_bytes, 24 * kGiB);
  EXPECT_EQ(d.context_overhead_bytes, 500 * kMiB);
  EXPECT_EQ(d.reserved_bytes, 300 * kMiB);
  EXPECT_EQ(d.process_entry_stride, 24u);
  EXPECT_FALSE(d.utilization_gpu.has_value());
  EXPECT_TRUE(d.unsupported.empty());
}

TEST_F(SimStateTest, RecreateWithFewerGpusRemovesTheRest) {
  CreateOptions options;
  options.count = 1;
  ASSERT_TRUE(CreateGpus(dir_, options).has_value());
  auto devices = ReadDevices(dir_);
  ASSERT_TRUE(devices.has_value());
  EXPECT_EQ(devices->size(), 1u);
  EXPECT_FALSE(fs::exists(dir_ / "gpu1"));
  EXPECT_FALSE(fs::exists(dir_ / "dev" / "nvidia1"));
}

TEST_F(SimStateTest, NoDirectoryMeansNoDevices) {
  auto devices = ReadDevices(tmp_.path() / "missing");
  ASSERT_TRUE(devices.has_value());
  EXPECT_TRUE(devices->empty());
}

TEST_F(SimStateTest, MalformedDeviceJsonIsAnError) {
  std::ofstream(dir_ / "gpu0" / "device.json") << "{\"name\": 3}";
  auto devices = ReadDevices(dir_);
  ASSERT_FALSE(devices.has_value());
  EXPECT_NE(devices.error().message.find("device.json"), std::string::npos);
}

TEST_F(SimStateTest, WriteDeviceRoundTripsSwitches) {
  DeviceConfig d;
  d.index = 0;
  d.minor = 7;
  d.name = "Sim";
  d.uuid = UuidFor(0);
  d.total_bytes = 8 * kGiB;
  d.context_overhead_bytes = kMiB;
  d.reserved_bytes = 2 * kMiB;
  d.utilization_gpu = 42;
  d.utilization_memory = 7;
  d.process_entry_stride = 32;
  d.unsupported = {"nvmlDeviceGetMemoryInfo_v2"};
  ASSERT_TRUE(WriteDevice(dir_, d).has_value());
  auto back = ReadDevice(dir_, 0);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->minor, 7u);
  EXPECT_EQ(back->utilization_gpu, 42u);
  EXPECT_EQ(back->utilization_memory, 7u);
  EXPECT_EQ(back->process_entry_stride, 32u);
  EXPECT_EQ(back->unsupported, d.unsupported);
  EXPECT_TRUE(back->IsUnsupported("nvmlDeviceGetMemoryInfo_v2"));
  EXPECT_TRUE(fs::exists(dir_ / "dev" / "nvidia7"));
}

TEST_F(SimStateTest, ContextLifecycleInThisProcess) {
  auto ctx = SimContext::Open(dir_, 0);
  ASSERT_TRUE(ctx.has_value()) << ctx.error().message;
  fs::path file = dir_ / "gpu0" / "ctx" / std::to_string(::getpid());
  EXPECT_EQ(ReadText(file), "0\n");
  // The node is mapped, as the driver maps /dev/nvidia<N>.
  EXPECT_NE(ReadText("/proc/self/maps").find((dir_ / "dev" / "nvidia0").string()),
            std::string::npos);

  ASSERT_TRUE(ctx->Allocate(Bytes::GiB(10)).has_value());
  EXPECT_EQ(ReadText(file), std::to_string(10 * kGiB) + "\n");
  ASSERT_TRUE(ctx->Free(Bytes::GiB(9)).has_value());
  EXPECT_EQ(ReadText(file), std::to_string(kGiB) + "\n");
  ASSERT_TRUE(ctx->SetAllocated(Bytes(123)).has_value());
  EXPECT_EQ(ReadText(file), "123\n");
  ASSERT_TRUE(ctx->Free(Bytes::GiB(5)).has_value());
  EXPECT_EQ(ctx->allocated(), Bytes(0));

  auto live = ListLiveContexts(dir_, 0);
  ASSERT_TRUE(live.has_value());
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].pid, ::getpid());

  // One context per process and GPU.
  auto second = SimContext::Open(dir_, 0);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, ErrorCode::kRefused);

  ctx->Close();
  EXPECT_FALSE(fs::exists(file));  // nobody else held it: deleted on close
  EXPECT_TRUE(ListLiveContexts(dir_, 0)->empty());
  EXPECT_EQ(ReadText("/proc/self/maps").find((dir_ / "dev" / "nvidia0").string()),
            std::string::npos);
}

TEST_F(SimStateTest, UsageCountsOverheadAndReserved) {
  pid_t a = StartHolder(0, 2 * kGiB);
  pid_t b = StartHolder(0, 3 * kGiB);
  auto live = ListLiveContexts(dir_, 0);
  ASSERT_TRUE(live.has_value());
  std::vector<LiveContext> expected{{std::min(a, b), a < b ? 2 * kGiB : 3 * kGiB},
                                    {std::max(a, b), a < b ? 3 * kGiB : 2 * kGiB}};
  EXPECT_EQ(*live, expected);
  auto usage = DeviceUsage(dir_, 0);
  ASSERT_TRUE(usage.has_value());
  EXPECT_EQ(usage->used_bytes, 5 * kGiB + 2 * 500 * kMiB);
  EXPECT_EQ(usage->reserved_bytes, 300 * kMiB);
  EXPECT_EQ(usage->free_bytes, 24 * kGiB - 300 * kMiB - usage->used_bytes);
  EXPECT_TRUE(ListLiveContexts(dir_, 1)->empty());

  children_.Kill(a);
  live = ListLiveContexts(dir_, 0);
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].pid, b);
}

TEST_F(SimStateTest, AllocateBeyondFreeFails) {
  pid_t other = StartHolder(0, 20 * kGiB);
  auto ctx = SimContext::Open(dir_, 0);
  ASSERT_TRUE(ctx.has_value());
  // 24 GiB − 300 MiB reserved − (20 GiB + 500 MiB) − our 500 MiB overhead = 2 GiB + 748 MiB.
  std::uint64_t free_now = 2 * kGiB + 748 * kMiB;
  auto r = ctx->Allocate(Bytes(free_now + 1));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kRefused);
  EXPECT_NE(r.error().message.find("CUDA out of memory"), std::string::npos) << r.error().message;
  ASSERT_TRUE(ctx->last_oom().has_value());
  const OutOfMemory& oom = *ctx->last_oom();
  EXPECT_EQ(oom.requested_bytes, free_now + 1);
  EXPECT_EQ(oom.free_bytes, free_now);
  EXPECT_EQ(oom.total_bytes, 24 * kGiB);
  EXPECT_EQ(oom.self_used_bytes, 500 * kMiB);
  ASSERT_EQ(oom.others.size(), 1u);
  EXPECT_EQ(oom.others[0].pid, other);
  EXPECT_EQ(oom.others[0].allocated_bytes, 20 * kGiB);
  EXPECT_EQ(ctx->allocated(), Bytes(0));

  // Exactly what is free fits; then nothing more.
  ASSERT_TRUE(ctx->Allocate(Bytes(free_now)).has_value());
  EXPECT_EQ(DeviceUsage(dir_, 0)->free_bytes, 0u);
  EXPECT_FALSE(ctx->Allocate(Bytes(1)).has_value());
  EXPECT_FALSE(ctx->SetAllocated(Bytes(free_now + 1)).has_value());
  // Once the other process is gone its memory can be used.
  children_.Kill(other);
  EXPECT_TRUE(ctx->Allocate(Bytes::GiB(20)).has_value());
}

TEST_F(SimStateTest, GhostOutlivesCreatorWhileForkedChildHoldsIt) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    auto ctx = SimContext::Open(dir_, 0);
    if (!ctx || !ctx->Allocate(Bytes::GiB(4))) ::_exit(10);
    pid_t grandchild = ::fork();
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
  children_.Add(grandchild);  // reparented to us: we are a subreaper
  auto status = children_.Reap(child);
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);

  auto live = ListLiveContexts(dir_, 0);
  ASSERT_TRUE(live.has_value());
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].pid, child);  // dead, still named: the ghost
  EXPECT_EQ((*live)[0].allocated_bytes, 4 * kGiB);

  children_.Kill(grandchild);
  EXPECT_TRUE(PollUntil([&] { return ListLiveContexts(dir_, 0)->empty(); }));
  EXPECT_FALSE(fs::exists(dir_ / "gpu0" / "ctx" / std::to_string(child)));  // dead: deleted
}

TEST_F(SimStateTest, CloseInForkedChildKeepsTheContext) {
  auto ctx = SimContext::Open(dir_, 0);
  ASSERT_TRUE(ctx.has_value());
  ASSERT_TRUE(ctx->Allocate(Bytes::GiB(1)).has_value());
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    ctx->Close();  // not the opener: must not release anything
    char ok = 'y';
    (void)!::write(fds[1], &ok, 1);
    for (;;) ::pause();
  }
  children_.Add(child);
  ::close(fds[1]);
  char ok = 0;
  ASSERT_EQ(::read(fds[0], &ok, 1), 1);
  ::close(fds[0]);
  ctx->Close();
  auto live = ListLiveContexts(dir_, 0);
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].pid, ::getpid());
  EXPECT_EQ((*live)[0].allocated_bytes, kGiB);
  children_.Kill(child);
  EXPECT_TRUE(ListLiveContexts(dir_, 0)->empty());
}

TEST_F(SimStateTest, DeadContextFilesAreIgnoredAndDeleted) {
  fs::path stale = dir_ / "gpu0" / "ctx" / "999999";
  std::ofstream(stale) << "12345\n";
  // Junk that is not a context is left alone.
  std::ofstream(dir_ / "gpu0" / "ctx" / "notes.txt") << "x";
  EXPECT_TRUE(ListLiveContexts(dir_, 0)->empty());
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(dir_ / "gpu0" / "ctx" / "notes.txt"));
}

TEST_F(SimStateTest, LivenessFollowsTheLockNotTheProcess) {
  // A file held open and locked by anyone is alive; the pid in its name need not exist.
  fs::path file = dir_ / "gpu1" / "ctx" / "424242";
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  ASSERT_EQ(::write(fd, "77\n", 3), 3);
  auto live = ListLiveContexts(dir_, 1);
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0], (LiveContext{424242, 77}));
  // Concurrent readers agree (shared-lock probes do not conflict with each other).
  auto again = ListLiveContexts(dir_, 1);
  EXPECT_EQ(*again, *live);
  ::close(fd);
  EXPECT_TRUE(ListLiveContexts(dir_, 1)->empty());
}

TEST_F(SimStateTest, RecreateKeepsLiveContextsAndDropsDeadOnes) {
  pid_t holder = StartHolder(0, kGiB);
  fs::path stale = dir_ / "gpu0" / "ctx" / "999998";
  std::ofstream(stale) << "1\n";
  CreateOptions options;
  options.count = 2;
  ASSERT_TRUE(CreateGpus(dir_, options).has_value());
  EXPECT_FALSE(fs::exists(stale));
  auto live = ListLiveContexts(dir_, 0);
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].pid, holder);
}

TEST_F(SimStateTest, OpenUnknownGpuFails) {
  auto ctx = SimContext::Open(dir_, 5);
  ASSERT_FALSE(ctx.has_value());
  EXPECT_EQ(ctx.error().code, ErrorCode::kNotFound);
}

TEST(SimStateCreate, RejectsReservedNotBelowTotal) {
  TempDir tmp;
  CreateOptions options;
  options.total = Bytes::GiB(1);
  options.reserved = Bytes::GiB(1);
  auto r = CreateGpus(tmp.path(), options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace vg::sim
