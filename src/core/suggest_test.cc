#include "core/suggest.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/admission.h"
#include "core/job_schema_testing.h"
#include "core/ledger_testing.h"

namespace vg {
namespace {

using testing::DemoParams;
using testing::DemoSchema;
using testing::GiBf;

// the I2V sizing table (docs/admission.md) on a simulated 24 GiB GPU with the 2 GiB reserve; the
// demo service resident at 8.5 GiB (8 GiB model + 0.5 GiB context): 13.5 GiB for a job on the empty
// GPU.
struct DesignCase {
  Estimator estimator{DemoSchema()};
  ClusterSnapshot cluster = testing::OneGpuCluster(
      Bytes::GiB(24), {testing::RunningService("i2v", GiBf(8.5), GiBf(8.5), 1)});
  Decision Decide(const JobParams& p) {
    JobQueue empty;
    return DecideJob(cluster, empty, {"j", "i2v", 0, 1, {}, estimator.Predict(p).bytes}, {}, {});
  }
};

TEST(Suggest, DesignTableOn24GiB) {
  DesignCase d;
  EXPECT_EQ(d.Decide(DemoParams(512, 16, 50)).verdict, Verdict::kAdmit);
  EXPECT_EQ(d.Decide(DemoParams(768, 24, 80)).verdict, Verdict::kAdmit);
  JobParams big = DemoParams(1024, 32, 100);
  Decision refused = d.Decide(big);
  ASSERT_EQ(refused.verdict, Verdict::kRefuse) << refused.reason;
  EXPECT_EQ(refused.capacity, GiBf(13.5));

  std::vector<Suggestion> s = Suggest(d.estimator, big, refused.capacity);
  // Closest first: fewer frames at 1024p (the largest that fits), then 768p at 32 frames; every
  // other fitting combination changes more than one of these (768p/31f, 512p/…).
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].params.at("resolution"), 1024);
  EXPECT_EQ(s[0].params.at("frames"), 27);
  EXPECT_EQ(s[1].params.at("resolution"), 768);
  EXPECT_EQ(s[1].params.at("frames"), 32);
  for (const Suggestion& x : s) {
    EXPECT_EQ(x.params.at("steps"), 100);  // steps do not drive memory: untouched
    EXPECT_LE(x.estimate, refused.capacity);
    EXPECT_EQ(x.estimate, d.estimator.Predict(x.params).bytes);
    EXPECT_TRUE(ValidateParams(DemoSchema(), nlohmann::json(x.params)).has_value());
    // Each suggestion is admitted on that GPU.
    EXPECT_EQ(d.Decide(x.params).verdict, Verdict::kAdmit)
        << DescribeParams(DemoSchema(), x.params);
  }
  // 28 frames at 1024p do not fit (27 is the largest).
  EXPECT_GT(d.estimator.Predict(DemoParams(1024, 28)).bytes, refused.capacity);
  EXPECT_EQ(DescribeRefusal(DemoSchema(), big, refused.need, refused.capacity, {s[0], s[1]}),
            "resolution=1024 frames=32 needs ~14.5 GiB, 13.5 GiB plannable; fits: "
            "resolution=1024 frames=27 (~13.3 GiB), resolution=768 frames=32 (~10.9 GiB)");
}

TEST(Suggest, NothingFitsGivesNoSuggestion) {
  Estimator e(DemoSchema());
  EXPECT_TRUE(Suggest(e, DemoParams(1024, 32), Bytes::MiB(1)).empty());
}

TEST(Suggest, ClosestFirstAndAllFit) {
  Estimator e(DemoSchema());
  Bytes cap = GiBf(6);
  std::vector<Suggestion> s = Suggest(e, DemoParams(1024, 64), cap, 10);
  ASSERT_GE(s.size(), 3u);
  for (std::size_t i = 1; i < s.size(); ++i) EXPECT_LE(s[i - 1].distance, s[i].distance);
  for (const auto& x : s) EXPECT_LE(x.estimate, cap);
}

TEST(Suggest, AfterLearningTheSuggestionsFollowTheModel) {
  // Learned from exact peaks the margin shrinks to ~3 %: 1024p/32f itself now fits 13.5 GiB.
  Estimator e(DemoSchema());
  for (int res : {256, 512, 768, 1024}) {
    for (int frames : {4, 16, 32, 64}) {
      e.Observe(
          {DemoParams(res, frames), testing::DemoActivation(res, frames), ObservationKind::kExact});
    }
  }
  EXPECT_LE(e.Predict(DemoParams(1024, 32)).bytes, GiBf(13.5));
  std::vector<Suggestion> s = Suggest(e, DemoParams(1024, 64), GiBf(13.5));
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s[0].params.at("resolution"), 1024);
  EXPECT_GE(s[0].params.at("frames").get<int>(), 32);
}

TEST(Suggest, FloatAndWideIntegerRangesAreBisectedToTheLargestFit) {
  // need = 1 GiB × scale² × batch: at most 8 GiB → scale ≤ √(8 / batch).
  JobSchema s;
  ParamSpec scale{.name = "scale", .type = ParamSpec::Type::kFloat, .min = 0.1, .max = 4};
  scale.default_value = 1.0;
  scale.memory_exponent = 2;
  ParamSpec batch{.name = "batch", .type = ParamSpec::Type::kInt, .min = 1, .max = 100000};
  batch.default_value = 1;
  batch.memory_exponent = 1;
  s.params = {scale, batch};
  s.sizing = {{{{"scale", 1.0}, {"batch", 1}}, Bytes::GiB(1)},
              {{{"scale", 2.0}, {"batch", 1}}, Bytes::GiB(4)}};
  Estimator e(s);
  Bytes cap = Bytes::GiB(8);
  std::vector<Suggestion> out = Suggest(e, {{"scale", 4.0}, {"batch", 2}}, cap, 10);
  ASSERT_FALSE(out.empty());
  const double margin = std::exp(0.2);  // prior-only estimates
  bool saw_scale = false, saw_batch = false;
  for (const Suggestion& x : out) {
    EXPECT_LE(x.estimate, cap);
    double sc = x.params.at("scale").get<double>();
    long long b = x.params.at("batch").get<long long>();
    if (b == 2) {
      saw_scale = true;
      EXPECT_NEAR(sc, std::sqrt(8.0 / 2 / margin), 1e-3);
    }
    if (sc == 4.0) saw_batch = true;  // batch 0 is not allowed: 4.0 alone never fits
  }
  EXPECT_TRUE(saw_scale);
  EXPECT_FALSE(saw_batch);
  // A wide integer range: the largest batch that fits at scale 1 is ⌊8 / 1.22⌋ = 6.
  out = Suggest(e, {{"scale", 1.0}, {"batch", 90000}}, cap, 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].params.at("batch"), 6);
  EXPECT_EQ(out[0].params.at("scale"), 1.0);
}

}  // namespace
}  // namespace vg
