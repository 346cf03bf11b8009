#include "job.h"
#include "flags.h"

#include <gtest/gtest.h>

namespace vg::demo {
namespace {

constexpr Bytes kSimOverhead = Bytes::MiB(500);

// What the driver reports for the service at the job's peak.
std::uint64_t DriverSees(const JobParams& job) {
  return (PeakBytes(kDefaultModel, job) + kSimOverhead).count();
}

struct TableRow {
  JobParams job;
  double low_gb;
  double high_gb;
};

// the I2V sizing table (docs/admission.md). Each total must lie in the row's range whether "GB"
// means 10⁹ bytes or GiB: at least low GiB, at most high × 10⁹ bytes.
TEST(DemoJobTest, ReproducesTheSizingTableWithTheDefaultModel) {
  const TableRow rows[] = {
      {{512, 16, 50}, 12, 14}, {{768, 24, 80}, 16, 18}, {{1024, 32, 100}, 20, 22}};
  for (const TableRow& row : rows) {
    SCOPED_TRACE(std::to_string(row.job.resolution) + "p/" + std::to_string(row.job.frames) + "f");
    std::uint64_t total = DriverSees(row.job);
    EXPECT_GE(total, static_cast<std::uint64_t>(row.low_gb * (1ull << 30)));
    EXPECT_LE(total, static_cast<std::uint64_t>(row.high_gb * 1e9));
  }
}

TEST(DemoJobTest, ActivationsFollowTheDocumentedFormula) {
  // 2150 KiB × 512 × √16, already a multiple of 2 MiB.
  EXPECT_EQ(ActivationBytes({512, 16, 50}).count(), 2150ull * 1024 * 512 * 4);
  // 2150 KiB × 256 × √1 = 537.5 MiB, rounded up to 538 MiB.
  EXPECT_EQ(ActivationBytes({256, 1, 1}), Bytes::MiB(538));
  for (unsigned r : {256u, 512u, 768u, 1024u}) {
    for (unsigned f = 1; f <= 64; ++f) {
      EXPECT_EQ(ActivationBytes({r, f, 1}).count() % kAllocationGranularity, 0u);
    }
  }
}

TEST(DemoJobTest, MemoryGrowsWithResolutionAndFramesButNotSteps) {
  EXPECT_LT(ActivationBytes({512, 16, 50}), ActivationBytes({768, 16, 50}));
  EXPECT_LT(ActivationBytes({768, 16, 50}), ActivationBytes({768, 17, 50}));
  EXPECT_EQ(ActivationBytes({768, 24, 1}), ActivationBytes({768, 24, 200}));
}

TEST(DemoJobTest, StepsCostTime) {
  EXPECT_EQ(JobDuration({768, 24, 80}, std::chrono::milliseconds(5)),
            std::chrono::milliseconds(400));
}

TEST(DemoJobTest, ParsesAFullBody) {
  auto job = ParseJob(R"({"resolution":768,"frames":24,"steps":80})");
  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_EQ(*job, (JobParams{768, 24, 80}));
}

TEST(DemoJobTest, MissingFieldsAndEmptyBodyTakeDefaults) {
  EXPECT_EQ(ParseJob(""), (JobParams{512, 16, 50}));
  EXPECT_EQ(ParseJob(" \n"), (JobParams{512, 16, 50}));
  EXPECT_EQ(ParseJob("{}"), (JobParams{512, 16, 50}));
  EXPECT_EQ(ParseJob(R"({"frames":1})"), (JobParams{512, 1, 50}));
}

TEST(DemoJobTest, RefusesValuesOutOfRangeNamingTheParameter) {
  struct Case {
    const char* body;
    const char* parameter;
  };
  const Case cases[] = {
      {R"({"resolution":640})", "resolution"},
      {R"({"resolution":0})", "resolution"},
      {R"({"resolution":-512})", "resolution"},
      {R"({"resolution":"768"})", "resolution"},
      {R"({"resolution":768.5})", "resolution"},
      {R"({"resolution":true})", "resolution"},
      {R"({"frames":0})", "frames"},
      {R"({"frames":65})", "frames"},
      {R"({"frames":null})", "frames"},
      {R"({"steps":0})", "steps"},
      {R"({"steps":201})", "steps"},
      {R"({"steps":99999999999999})", "steps"},
      {R"({"resolutoin":768})", "resolutoin"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    auto job = ParseJob(c.body);
    ASSERT_FALSE(job.has_value());
    EXPECT_EQ(job.error().parameter, c.parameter);
    EXPECT_NE(job.error().message.find(c.parameter), std::string::npos) << job.error().message;
  }
  EXPECT_NE(ParseJob(R"({"resolution":640})").error().message.find("256, 512, 768, 1024"),
            std::string::npos);
}

TEST(DemoJobTest, RefusesBodiesThatAreNotAnObject) {
  for (const char* body : {"{", "[768]", "768", "\"x\"", "resolution=768"}) {
    SCOPED_TRACE(body);
    auto job = ParseJob(body);
    ASSERT_FALSE(job.has_value());
    EXPECT_EQ(job.error().parameter, "");
  }
}

}  // namespace
}  // namespace vg::demo
