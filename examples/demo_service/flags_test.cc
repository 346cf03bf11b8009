#include "flags.h"

#include <gtest/gtest.h>

namespace vg::demo {
namespace {

TEST(DemoFlagsTest, Defaults) {
  auto flags = ParseFlags({"--port", "7860"});
  ASSERT_TRUE(flags.has_value()) << flags.error().message;
  EXPECT_EQ(flags->port, 7860);
  EXPECT_EQ(flags->host, "127.0.0.1");
  EXPECT_EQ(flags->gpu, 0u);
  EXPECT_EQ(flags->model, Bytes::GiB(8));
  EXPECT_EQ(flags->load_time, Millis(500));
  EXPECT_EQ(flags->step_time, Millis(5));
  EXPECT_FALSE(flags->fork_worker);
  EXPECT_FALSE(flags->ignore_term);
  EXPECT_EQ(flags->crash_after, std::nullopt);
  EXPECT_EQ(flags->backend, Backend::kAuto);
}

TEST(DemoFlagsTest, ParsesEveryFlag) {
  auto flags =
      ParseFlags({"--port=0", "--host", "0.0.0.0", "--gpu", "1", "--model", "2GiB", "--load-time",
                  "0ms", "--step-time=1ms", "--fork-worker", "--ignore-term", "--crash-after", "2s",
                  "--backend", "sim", "--read-timeout", "100ms"});
  ASSERT_TRUE(flags.has_value()) << flags.error().message;
  EXPECT_EQ(flags->port, 0);
  EXPECT_EQ(flags->host, "0.0.0.0");
  EXPECT_EQ(flags->gpu, 1u);
  EXPECT_EQ(flags->model, Bytes::GiB(2));
  EXPECT_EQ(flags->load_time, Millis(0));
  EXPECT_EQ(flags->step_time, Millis(1));
  EXPECT_TRUE(flags->fork_worker);
  EXPECT_TRUE(flags->ignore_term);
  EXPECT_EQ(flags->crash_after, Millis(2000));
  EXPECT_EQ(flags->backend, Backend::kSim);
  EXPECT_EQ(flags->read_timeout, Millis(100));
}

TEST(DemoFlagsTest, RefusesBadUsageNamingTheFlag) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"--port"},
      {"--port", "70000"},
      {"--port", "12x"},
      {"--port", "1", "--model", "lots"},
      {"--port", "1", "--step-time", "5parsecs"},
      {"--port", "1", "--backend", "rocm"},
      {"--port", "1", "--fork-worker=yes"},
      {"--port", "1", "--bogus", "2"},
  };
  for (const auto& args : cases) {
    auto flags = ParseFlags(args);
    EXPECT_FALSE(flags.has_value()) << ::testing::PrintToString(args);
    if (!flags) {
      EXPECT_EQ(flags.error().code, ErrorCode::kInvalidArgument);
    }
  }
  EXPECT_NE(ParseFlags({"--port", "1", "--backend", "rocm"}).error().message.find("--backend"),
            std::string::npos);
}

TEST(DemoFlagsTest, AutoBackendFollowsTheSimulatedGpuVariable) {
  EXPECT_EQ(ResolveBackend(Backend::kAuto, "/tmp/gpu"), Backend::kSim);
  EXPECT_EQ(ResolveBackend(Backend::kAuto, ""), Backend::kCuda);
  EXPECT_EQ(ResolveBackend(Backend::kAuto, nullptr), Backend::kCuda);
  EXPECT_EQ(ResolveBackend(Backend::kCuda, "/tmp/gpu"), Backend::kCuda);
  EXPECT_EQ(ResolveBackend(Backend::kSim, nullptr), Backend::kSim);
}

}  // namespace
}  // namespace vg::demo
