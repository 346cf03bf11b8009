// CudaMemory against fake_cuda.cc, a stand-in libcuda.so.1 loaded through the same dlopen path.
#include "cuda_memory.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <thread>

namespace vg::demo {
namespace {

class DemoCudaMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The same handle CudaMemory gets: dlopen counts references to one loaded copy.
    library_ = ::dlopen(VG_DEMO_FAKE_CUDA_PATH, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(library_, nullptr) << ::dlerror();
    used_ = reinterpret_cast<std::size_t (*)()>(::dlsym(library_, "fake_cuda_used_bytes"));
    auto set_total =
        reinterpret_cast<void (*)(std::size_t)>(::dlsym(library_, "fake_cuda_set_total_bytes"));
    ASSERT_NE(used_, nullptr);
    ASSERT_NE(set_total, nullptr);
    ::unsetenv("FAKE_CUDA_TOTAL_BYTES");
    set_total(Bytes::GiB(12).count());
    ::setenv("FAKE_CUDA_TOTAL_BYTES", std::to_string(Bytes::GiB(12).count()).c_str(), 1);
  }
  void TearDown() override {
    if (library_ != nullptr) ::dlclose(library_);
  }

  void* library_ = nullptr;
  std::size_t (*used_)() = nullptr;
};

TEST_F(DemoCudaMemoryTest, GrowsInChunksAndReleasesBackToTheModel) {
  auto memory = CudaMemory::Open(VG_DEMO_FAKE_CUDA_PATH, 0);
  ASSERT_TRUE(memory.has_value()) << memory.error().message;
  CudaMemory& m = **memory;
  ASSERT_TRUE(m.Grow(Bytes::MiB(2500)));
  EXPECT_EQ(m.Held(), Bytes::MiB(2500));
  EXPECT_EQ(used_(), Bytes::MiB(2500).count());
  ASSERT_TRUE(m.Grow(Bytes::MiB(6100)));  // a job on top of a 2500 MiB model
  EXPECT_EQ(used_(), Bytes::MiB(6100).count());
  ASSERT_TRUE(m.Grow(Bytes::MiB(3000)));  // below the high-water mark: nothing happens
  EXPECT_EQ(used_(), Bytes::MiB(6100).count());
  ASSERT_TRUE(m.ReleaseTo(Bytes::MiB(2500)));
  EXPECT_EQ(m.Held(), Bytes::MiB(2500));
  EXPECT_EQ(used_(), Bytes::MiB(2500).count());
}

TEST_F(DemoCudaMemoryTest, OutOfMemoryKeepsWhatWasHeldAndReports) {
  auto memory = CudaMemory::Open(VG_DEMO_FAKE_CUDA_PATH, 0);
  ASSERT_TRUE(memory.has_value()) << memory.error().message;
  CudaMemory& m = **memory;
  ASSERT_TRUE(m.Grow(Bytes::GiB(8)));
  auto grown = m.Grow(Bytes::GiB(15));  // 12 GiB device: fails after allocating some chunks
  ASSERT_FALSE(grown.has_value());
  EXPECT_EQ(grown.error().code, ErrorCode::kRefused);
  EXPECT_EQ(m.Held(), Bytes::GiB(8));
  EXPECT_EQ(used_(), Bytes::GiB(8).count());
  auto oom = m.LastOom();
  ASSERT_TRUE(oom.has_value());
  EXPECT_EQ(oom->requested, Bytes::GiB(7));
  EXPECT_EQ(oom->total, Bytes::GiB(12));
  EXPECT_EQ(oom->free, Bytes::GiB(4));
  ASSERT_EQ(oom->processes.size(), 1u);
  EXPECT_EQ(oom->processes[0].pid, oom->self_pid);
  EXPECT_EQ(oom->processes[0].used, Bytes::GiB(8));
}

// A CUDA context is current per thread. The demo opens its memory on the main thread and serves
// jobs on HTTP threads; on an H200 every job failed with CUDA error 201 (invalid device context)
// until each call made the context current on its own thread. The fake refuses the same way.
TEST_F(DemoCudaMemoryTest, GrowsAndReleasesFromThreadsOtherThanTheOpener) {
  auto memory = CudaMemory::Open(VG_DEMO_FAKE_CUDA_PATH, 0);
  ASSERT_TRUE(memory.has_value()) << memory.error().message;
  CudaMemory& m = **memory;
  Result<void> grown, released;
  std::thread([&] { grown = m.Grow(Bytes::GiB(3)); }).join();
  ASSERT_TRUE(grown.has_value()) << grown.error().message;
  EXPECT_EQ(used_(), Bytes::GiB(3).count());
  std::thread([&] { released = m.ReleaseTo(Bytes::GiB(1)); }).join();
  ASSERT_TRUE(released.has_value()) << released.error().message;
  EXPECT_EQ(used_(), Bytes::GiB(1).count());
  std::thread([&] { memory->reset(); }).join();  // destruction on yet another thread frees all
  EXPECT_EQ(used_(), 0u);
}

TEST_F(DemoCudaMemoryTest, DestructionFreesEverything) {
  {
    auto memory = CudaMemory::Open(VG_DEMO_FAKE_CUDA_PATH, 0);
    ASSERT_TRUE(memory.has_value()) << memory.error().message;
    ASSERT_TRUE((*memory)->Grow(Bytes::GiB(3)));
    EXPECT_EQ(used_(), Bytes::GiB(3).count());
  }
  EXPECT_EQ(used_(), 0u);
}

TEST_F(DemoCudaMemoryTest, ReportsAMissingDeviceAndAMissingDriver) {
  auto bad_ordinal = CudaMemory::Open(VG_DEMO_FAKE_CUDA_PATH, 3);
  ASSERT_FALSE(bad_ordinal.has_value());
  EXPECT_EQ(bad_ordinal.error().code, ErrorCode::kDriverError);
  EXPECT_NE(bad_ordinal.error().message.find("invalid device ordinal"), std::string::npos);

  auto none = CudaMemory::Open("/nonexistent/libcuda.so.1", 0);
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, ErrorCode::kNoDriver);
}

}  // namespace
}  // namespace vg::demo
