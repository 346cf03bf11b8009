#include "core/vram_need.h"

#include <gtest/gtest.h>

#include "testing/fakes.h"

namespace vg {
namespace {

using testing::MakeGpu;
using testing::MakeProcess;

VramView View() {
  VramViewInput in;
  in.snapshot.gpus.push_back(MakeGpu(
      0, Bytes::GiB(24), {{4242, Bytes::GiB(9)}, {526, Bytes::GiB(3)}, {77, Bytes::GiB(1)}}));
  ProcessInfo holder = MakeProcess(547, 1, "python3");
  holder.sid = 526;
  in.processes = {MakeProcess(1, 0, "systemd", 0), MakeProcess(50, 1, "bash"),
                  MakeProcess(4242, 50, "comfyui"), MakeProcess(77, 50, "llama"), holder};
  in.holders.holders = {{547, {0}, {0}, true}};
  return BuildVramView(in);
}

TEST(VramNeed, FitsWhenFreeMinusReserveCoversTheNeed) {
  VramFit fit = CheckVramFit(View(), {{0}, Bytes::GiB(9), Bytes::GiB(2)});  // 11 free
  EXPECT_TRUE(fit.fits);
}

TEST(VramNeed, ShortfallNamesHoldersBiggestFirst) {
  VramFit fit = CheckVramFit(View(), {{0}, Bytes::GiB(14), Bytes::GiB(2)});
  ASSERT_FALSE(fit.fits);
  ASSERT_EQ(fit.shortfalls.size(), 1u);
  const GpuShortfall& s = fit.shortfalls[0];
  EXPECT_EQ(s.plannable, Bytes::GiB(9));
  ASSERT_EQ(s.holders.size(), 3u);
  EXPECT_EQ(s.holders[0].label, "comfyui (pid 4242)");
  EXPECT_EQ(s.holders[1].label, "exited 526 (held by 547)");
  EXPECT_EQ(fit.Describe(),
            "GPU 0: needs 14.0 GiB, 9.0 GiB plannable (11.0 GiB free); held by comfyui (pid 4242) "
            "9.0 GiB, exited 526 (held by 547) 3.0 GiB, llama (pid 77) 1.0 GiB");
}

TEST(VramNeed, UnknownGpuDoesNotFit) {
  VramFit fit = CheckVramFit(View(), {{3}, Bytes::GiB(1), Bytes()});
  EXPECT_FALSE(fit.fits);
  EXPECT_EQ(fit.Describe(), "GPU 3 does not exist");
}

TEST(VramNeed, MembersHoldTheirEntriesAndGhostsTheyKeep) {
  auto held = MembersVram(View(), {4242, 547});
  EXPECT_EQ(held[0], Bytes::GiB(12));
  EXPECT_EQ(MembersVram(View(), {77})[0], Bytes::GiB(1));
  EXPECT_TRUE(MembersVram(View(), {999}).empty());
}

}  // namespace
}  // namespace vg
