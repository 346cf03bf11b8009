#include "torch_oom.h"

#include <gtest/gtest.h>

namespace vg::demo {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kGiB = 1 << 30;

TEST(DemoTorchOomTest, FormatsSizesLikePyTorch) {
  EXPECT_EQ(FormatTorchSize(0), "0 bytes");
  EXPECT_EQ(FormatTorchSize(512), "512 bytes");
  EXPECT_EQ(FormatTorchSize(1024), "1024 bytes");
  EXPECT_EQ(FormatTorchSize(1536), "1.50 KiB");
  EXPECT_EQ(FormatTorchSize(kMiB), "1024.00 KiB");
  EXPECT_EQ(FormatTorchSize(kMiB + 1), "1.00 MiB");
  EXPECT_EQ(FormatTorchSize(235 * kMiB + 62915), "235.06 MiB");
  EXPECT_EQ(FormatTorchSize(kGiB), "1024.00 MiB");
  EXPECT_EQ(FormatTorchSize(15 * kGiB), "15.00 GiB");
}

// The line docs/gpu-facts.md records from PyTorch 2.11 on an H100, rebuilt from its numbers.
TEST(DemoTorchOomTest, ReproducesTheRecordedMessageVerbatim) {
  OomReport report;
  report.device = 0;
  report.requested = Bytes(15 * kGiB);
  report.total = Bytes(79 * kGiB + 184 * kMiB);  // 79.18 GiB
  report.free = Bytes(8 * kGiB + 62 * kMiB);     // 8.06 GiB
  report.self_pid = 640;
  report.processes = {{597, Bytes(60 * kGiB + 615 * kMiB)}, {640, Bytes(10 * kGiB + 522 * kMiB)}};
  EXPECT_EQ(
      TorchOomMessage(report, Bytes(10 * kGiB), Bytes(10 * kGiB)),
      "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 15.00 GiB. GPU 0 has a total "
      "capacity of 79.18 GiB of which 8.06 GiB is free. Process 597 has 60.60 GiB memory in use. "
      "Including non-PyTorch memory, this process has 10.51 GiB memory in use. Of the allocated "
      "memory 10.00 GiB is allocated by PyTorch, and 0 bytes is reserved by PyTorch but "
      "unallocated. If reserved but unallocated memory is large try setting "
      "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation "
      "for Memory Management  "
      "(https://docs.pytorch.org/docs/stable/notes/cuda.html"
      "#optimizing-memory-usage-with-pytorch-cuda-alloc-conf)");
}

// Two other processes, listed in the driver's order with this one between them, as PyTorch does.
TEST(DemoTorchOomTest, NamesEveryOtherProcessInDriverOrder) {
  OomReport report;
  report.device = 1;
  report.requested = Bytes(7 * kGiB + 738 * kMiB);
  report.total = Bytes(24 * kGiB);
  report.free = Bytes(1 * kGiB + 512 * kMiB);
  report.self_pid = 300;
  report.processes = {{120, Bytes(2 * kGiB + 500 * kMiB)},
                      {300, Bytes(12 * kGiB + 500 * kMiB)},
                      {4711, Bytes(7 * kGiB + 500 * kMiB)}};
  std::string message = TorchOomMessage(report, Bytes(8 * kGiB), Bytes(12 * kGiB));
  EXPECT_EQ(
      message,
      "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 7.72 GiB. GPU 1 has a total "
      "capacity of 24.00 GiB of which 1.50 GiB is free. Process 120 has 2.49 GiB memory in use. "
      "Including non-PyTorch memory, this process has 12.49 GiB memory in use. Process 4711 has "
      "7.49 GiB memory in use. Of the allocated memory 8.00 GiB is allocated by PyTorch, and 4.00 "
      "GiB is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try "
      "setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See "
      "documentation for Memory Management  "
      "(https://docs.pytorch.org/docs/stable/notes/cuda.html"
      "#optimizing-memory-usage-with-pytorch-cuda-alloc-conf)");
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace vg::demo
