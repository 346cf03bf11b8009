#include "core/job_schema.h"

#include <gtest/gtest.h>

#include "core/job_schema_testing.h"
#include "util/json_limits.h"

namespace vg {
namespace {

using nlohmann::json;
using testing::DemoSchema;

Error Invalid(const json& params, std::string* bad = nullptr) {
  Result<JobParams> r = ValidateParams(DemoSchema(), params, bad);
  EXPECT_FALSE(r.has_value()) << params.dump();
  return r.has_value() ? Error{} : r.error();
}

TEST(JobSchema, FillsDefaultsAndNormalisesIntegers) {
  Result<JobParams> r = ValidateParams(DemoSchema(), json{{"resolution", 768}, {"frames", 24.0}});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->at("resolution"), 768);
  EXPECT_TRUE(r->at("frames").is_number_integer());
  EXPECT_EQ(r->at("frames"), 24);
  EXPECT_EQ(r->at("steps"), 50);
  EXPECT_TRUE(ValidateParams(DemoSchema(), json(nullptr)).has_value());  // all defaults
  EXPECT_TRUE(ValidateParams(DemoSchema(), json::object()).has_value());
}

TEST(JobSchema, UnknownParameterNamesItAndTheKnownOnes) {
  std::string bad;
  Error e = Invalid({{"quality", "high"}}, &bad);
  EXPECT_EQ(bad, "quality");
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.message, "quality: unknown parameter (known: resolution, frames, steps)");
}

TEST(JobSchema, WrongTypeOutOfRangeAndNotAChoice) {
  std::string bad;
  EXPECT_EQ(Invalid({{"steps", "many"}}, &bad).message, "steps: expected an integer, got \"many\"");
  EXPECT_EQ(bad, "steps");
  EXPECT_EQ(Invalid({{"frames", 24.5}}, &bad).message, "frames: expected an integer, got 24.5");
  EXPECT_EQ(Invalid({{"frames", 65}}, &bad).message,
            "frames: 65 is out of range (an integer in 1–64)");
  EXPECT_EQ(bad, "frames");
  EXPECT_EQ(Invalid({{"frames", 0}}).hint, "allowed: an integer in 1–64");
  EXPECT_EQ(Invalid({{"resolution", 800}}, &bad).message,
            "resolution: 800 is not one of 256, 512, 768, 1024");
  EXPECT_EQ(bad, "resolution");
  EXPECT_EQ(Invalid({{"resolution", true}}).message, "resolution: expected an integer, got true");
}

// Issue 10: a bad value was echoed whole (10–100 KB error bodies for deeply nested params).
TEST(JobSchema, ErrorsQuoteAtMostAFewDozenBytesOfTheInput) {
  std::string bad;
  Error long_value = Invalid({{"steps", std::string(100000, 'x')}}, &bad);
  EXPECT_LT(long_value.message.size(), 120u) << long_value.message;
  EXPECT_EQ(bad, "steps");
  json nested = json::array();
  for (int i = 0; i < 50; ++i) nested = json::array({nested, std::string(1000, 'y')});
  EXPECT_LT(Invalid({{"frames", nested}}).message.size(), 120u);
  Error long_name = Invalid({{std::string(100000, 'q'), 1}}, &bad);
  EXPECT_LT(long_name.message.size(), 200u) << long_name.message;
  EXPECT_LE(bad.size(), kMaxEchoBytes + 3);
}

TEST(JobSchema, NotAnObjectAndRequiredParameter) {
  std::string bad = "x";
  EXPECT_EQ(Invalid(json::array({1}), &bad).message, "params must be a JSON object");
  EXPECT_EQ(bad, "");
  JobSchema s = DemoSchema();
  s.params[2].default_value.reset();
  Result<JobParams> r = ValidateParams(s, json::object(), &bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "steps: required (an integer in 1–200)");
}

TEST(JobSchema, MemoryFeatureIsPixelsTimesFramesAndIgnoresSteps) {
  JobSchema s = DemoSchema();
  EXPECT_DOUBLE_EQ(MemoryFeature(s, testing::DemoParams(768, 24, 80)), 768.0 * 768 * 24);
  EXPECT_DOUBLE_EQ(MemoryFeature(s, testing::DemoParams(768, 24, 1)), 768.0 * 768 * 24);
  EXPECT_DOUBLE_EQ(MemoryFeature(s, {{"resolution", 1024}}), 1024.0 * 1024 * 16);  // default
  EXPECT_EQ(DescribeParams(s, testing::DemoParams(1024, 32)), "resolution=1024 frames=32");
}

}  // namespace
}  // namespace vg
