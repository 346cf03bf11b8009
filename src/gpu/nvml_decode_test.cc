#include "gpu/nvml_decode.h"

#include <gtest/gtest.h>

#include <cstring>

namespace vg::nvml {
namespace {

struct Entry {
  std::uint32_t pid;
  std::uint64_t used;
};

// Writes entries the way a driver with the given entry size would, into a pre-filled buffer.
std::vector<unsigned char> DriverWrites(const std::vector<Entry>& entries, unsigned stride,
                                        unsigned capacity = 16) {
  std::vector<unsigned char> buf(capacity * kMaxStride, kFillByte);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    unsigned char* e = buf.data() + i * stride;
    std::memset(e, 0, stride);  // the driver writes whole structs, padding included
    std::memcpy(e, &entries[i].pid, 4);
    std::memcpy(e + 8, &entries[i].used, 8);
    if (stride >= 24) {
      std::uint32_t none = 0xFFFFFFFFu;
      std::memcpy(e + 16, &none, 4);
      std::memcpy(e + 20, &none, 4);
    }
  }
  return buf;
}

const Bytes k80GiB = Bytes::GiB(80);

TEST(NvmlDecode, Stride24AsExpected) {
  auto buf = DriverWrites({{526, 11380000000ull}, {612, 641728512ull}}, 24);
  auto d = DecodeProcessList(buf, 2, 24, k80GiB);
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->stride, 24u);
  ASSERT_EQ(d->processes.size(), 2u);
  EXPECT_EQ(d->processes[0].pid, 526u);
  EXPECT_EQ(d->processes[0].used, Bytes(11380000000ull));
  EXPECT_EQ(d->processes[1].pid, 612u);
}

TEST(NvmlDecode, Stride16FromV1) {
  auto buf = DriverWrites({{100, 1000}, {200, 2000}, {300, 3000}}, 16);
  auto d = DecodeProcessList(buf, 3, 16, k80GiB);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->stride, 16u);
  EXPECT_EQ(d->processes[2].pid, 300u);
  EXPECT_EQ(d->processes[2].used, Bytes(3000));
}

// Early R535 drivers (535.54.03, 535.98) wrote 32-byte _v3 entries (nvitop#75, gpustat#161).
TEST(NvmlDecode, Regression_R535Writes32ByteEntriesForV3) {
  auto buf = DriverWrites({{526, 5000}, {547, 6000}}, 32);
  auto d = DecodeProcessList(buf, 2, 24, k80GiB);
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->stride, 32u);
  EXPECT_EQ(d->processes[1].pid, 547u);
  EXPECT_EQ(d->processes[1].used, Bytes(6000));
}

TEST(NvmlDecode, SingleEntry32Stride) {
  auto buf = DriverWrites({{4242, 1 << 20}}, 32);
  auto d = DecodeProcessList(buf, 1, 24, k80GiB);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->stride, 32u);
  EXPECT_EQ(d->processes[0].pid, 4242u);
}

TEST(NvmlDecode, NotAvailableIsUnknownNotSixteenExbibytes) {
  auto buf = DriverWrites({{77, kValueNotAvailable}}, 24);
  auto d = DecodeProcessList(buf, 1, 24, k80GiB);
  ASSERT_TRUE(d.has_value());
  EXPECT_FALSE(d->processes[0].used.has_value());
}

TEST(NvmlDecode, GarbageIsAnErrorNotNonsensePids) {
  std::vector<unsigned char> buf(16 * kMaxStride, kFillByte);
  for (std::size_t i = 0; i < 40; ++i) buf[i] = static_cast<unsigned char>(0xF0 + i);
  auto d = DecodeProcessList(buf, 2, 24, k80GiB);
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code, ErrorCode::kDriverError);
}

TEST(NvmlDecode, UsageAboveDeviceTotalIsImplausible) {
  auto buf = DriverWrites({{10, Bytes::GiB(100).count()}}, 24);
  EXPECT_FALSE(DecodeProcessList(buf, 1, 24, k80GiB).has_value());
}

TEST(NvmlDecode, ZeroCountIsEmpty) {
  std::vector<unsigned char> buf(64, kFillByte);
  auto d = DecodeProcessList(buf, 0, 24, k80GiB);
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->processes.empty());
}

TEST(NvmlDecode, MemoryV2VersionConstant) {
  EXPECT_EQ(kMemoryV2Version, 0x02000028u);
  EXPECT_NE(kMemoryV2Version, 2u);  // what nvtop passes, and the driver rejects
}

// A fake driver call for the INSUFFICIENT_SIZE protocol.
struct ScriptedDriver {
  std::vector<std::vector<Entry>> lists;  // what the driver has at each successive call
  int calls = 0;
  unsigned stride = 24;
  nvmlReturn_t operator()(unsigned* count, void* buffer) {
    const auto& now = lists[std::min<std::size_t>(calls, lists.size() - 1)];
    ++calls;
    if (*count < now.size()) {
      *count = static_cast<unsigned>(now.size());
      return kErrorInsufficientSize;
    }
    auto bytes = DriverWrites(now, stride, *count);
    if (!now.empty()) std::memcpy(buffer, bytes.data(), now.size() * stride);
    *count = static_cast<unsigned>(now.size());
    return kSuccess;
  }
};

TEST(NvmlFetch, EmptyListIsSuccessWithCountZero) {
  ScriptedDriver driver{{{}}};
  FetchResult r = FetchProcessList(std::ref(driver), 24, k80GiB);
  EXPECT_EQ(r.status, kSuccess);
  EXPECT_TRUE(r.list.processes.empty());
  EXPECT_EQ(driver.calls, 1);
}

TEST(NvmlFetch, AsksForSizeThenReads) {
  ScriptedDriver driver{{{{1, 10}, {2, 20}}}};
  FetchResult r = FetchProcessList(std::ref(driver), 24, k80GiB);
  ASSERT_EQ(r.status, kSuccess);
  EXPECT_EQ(r.list.processes.size(), 2u);
  EXPECT_EQ(driver.calls, 2);
}

TEST(NvmlFetch, ListGrowingWithinHeadroomNeedsNoRetry) {
  ScriptedDriver driver{{{{1, 10}}, {{1, 10}, {2, 20}, {3, 30}}}};
  FetchResult r = FetchProcessList(std::ref(driver), 24, k80GiB);
  ASSERT_EQ(r.status, kSuccess);
  EXPECT_EQ(r.list.processes.size(), 3u);
  EXPECT_EQ(driver.calls, 2);
}

TEST(NvmlFetch, ListGrowingPastHeadroomIsAskedAgain) {
  std::vector<Entry> big;
  for (std::uint32_t p = 1; p <= 40; ++p) big.push_back({p, p * 100ull});
  ScriptedDriver driver{{{{1, 10}}, big}};
  FetchResult r = FetchProcessList(std::ref(driver), 24, k80GiB);
  ASSERT_EQ(r.status, kSuccess);
  EXPECT_EQ(r.list.processes.size(), 40u);
  EXPECT_EQ(driver.calls, 3);
}

TEST(NvmlFetch, DriverErrorIsPassedOn) {
  auto lost = [](unsigned*, void*) { return kErrorGpuIsLost; };
  FetchResult r = FetchProcessList(lost, 24, k80GiB);
  EXPECT_EQ(r.status, kErrorGpuIsLost);
}

TEST(NvmlMerge, SamePidInBothListsIsOneEntry) {
  auto merged =
      MergeProcessLists({{5, Bytes(100)}, {9, std::nullopt}}, {{9, Bytes(50)}, {3, Bytes(1)}});
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].pid, 3u);
  EXPECT_EQ(merged[2].pid, 9u);
  EXPECT_EQ(merged[2].used, Bytes(50));
}

}  // namespace
}  // namespace vg::nvml
