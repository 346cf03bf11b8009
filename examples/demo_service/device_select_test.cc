#include "device_select.h"

#include <gtest/gtest.h>

namespace vg::demo {
namespace {

std::vector<sim::DeviceConfig> ThreeGpus() {
  std::vector<sim::DeviceConfig> devices(3);
  for (unsigned i = 0; i < 3; ++i) {
    devices[i].index = i;
    devices[i].uuid = sim::UuidFor(i);
  }
  return devices;
}

TEST(DemoDeviceSelectTest, ParsesTheVariable) {
  EXPECT_EQ(ParseVisibleDevices(nullptr), std::nullopt);
  EXPECT_EQ(ParseVisibleDevices(""), std::vector<std::string>{});
  EXPECT_EQ(ParseVisibleDevices("1, 0"), (std::vector<std::string>{"1", "0"}));
  EXPECT_EQ(ParseVisibleDevices("GPU-abc,"), (std::vector<std::string>{"GPU-abc"}));
}

TEST(DemoDeviceSelectTest, WithoutTheVariableTheOrdinalIsTheIndex) {
  EXPECT_EQ(SelectSimGpu(std::nullopt, 0, ThreeGpus()), 0u);
  EXPECT_EQ(SelectSimGpu(std::nullopt, 2, ThreeGpus()), 2u);
  auto missing = SelectSimGpu(std::nullopt, 3, ThreeGpus());
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("invalid device ordinal"), std::string::npos);
}

TEST(DemoDeviceSelectTest, TakesTheEntryAtTheOrdinal) {
  auto visible = ParseVisibleDevices("2,0");
  EXPECT_EQ(SelectSimGpu(visible, 0, ThreeGpus()), 2u);
  EXPECT_EQ(SelectSimGpu(visible, 1, ThreeGpus()), 0u);
  EXPECT_FALSE(SelectSimGpu(visible, 2, ThreeGpus()).has_value());
}

TEST(DemoDeviceSelectTest, MapsUuidsAndUniquePrefixes) {
  EXPECT_EQ(SelectSimGpu(ParseVisibleDevices(sim::UuidFor(1).c_str()), 0, ThreeGpus()), 1u);
  std::string without_prefix = sim::UuidFor(2).substr(4);
  EXPECT_EQ(SelectSimGpu(ParseVisibleDevices(without_prefix.c_str()), 0, ThreeGpus()), 2u);
  // "GPU-5a1e" is a prefix of every simulated UUID: ambiguous, so it names nothing.
  EXPECT_FALSE(SelectSimGpu(ParseVisibleDevices("GPU-5a1e"), 0, ThreeGpus()).has_value());
}

TEST(DemoDeviceSelectTest, TheListEndsAtTheFirstEntryThatNamesNothing) {
  auto visible = ParseVisibleDevices("1,7,0");
  EXPECT_EQ(SelectSimGpu(visible, 0, ThreeGpus()), 1u);
  EXPECT_FALSE(SelectSimGpu(visible, 1, ThreeGpus()).has_value());
}

TEST(DemoDeviceSelectTest, AnEmptyListHidesEveryDevice) {
  auto none = SelectSimGpu(ParseVisibleDevices(""), 0, ThreeGpus());
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().message, "no CUDA-capable device is detected");
  EXPECT_FALSE(SelectSimGpu(ParseVisibleDevices("GPU-ffff"), 0, ThreeGpus()).has_value());
}

}  // namespace
}  // namespace vg::demo
