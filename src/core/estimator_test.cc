#include "core/estimator.h"

#include <gtest/gtest.h>

#include <random>

#include "core/job_schema_testing.h"

namespace vg {
namespace {

using testing::DemoActivation;
using testing::DemoParams;
using testing::DemoSchema;

double Ratio(Bytes a, Bytes b) {
  return static_cast<double>(a.count()) / static_cast<double>(b.count());
}

TEST(Estimator, PriorReproducesSizingRowsExactly) {
  Estimator e(DemoSchema());
  EXPECT_EQ(e.Prior(DemoParams(512, 16)), DemoActivation(512, 16));
  EXPECT_EQ(e.Prior(DemoParams(768, 24, 80)), DemoActivation(768, 24));
  EXPECT_EQ(e.Prior(DemoParams(1024, 32, 1)), DemoActivation(1024, 32));
  Estimate est = e.Predict(DemoParams(768, 24));
  EXPECT_EQ(est.source, "prior");
  EXPECT_EQ(est.prior, DemoActivation(768, 24));
  // Prior-only margin: k·prior_sigma = 20 %.
  EXPECT_NEAR(Ratio(est.bytes, est.prior), std::exp(0.2), 1e-6);
}

TEST(Estimator, PriorInterpolatesLogLogAndExtrapolatesWithTheNearestSlope) {
  Estimator e(DemoSchema());
  // The rows lie on bytes ∝ feature^0.5 (up to the 2 MiB rounding): interpolation and
  // extrapolation follow that curve.
  for (auto [res, frames] : {std::pair{512, 20}, {768, 32}, {256, 4}, {1024, 64}, {256, 1}}) {
    EXPECT_NEAR(Ratio(e.Prior(DemoParams(res, frames)), DemoActivation(res, frames)), 1.0, 0.01)
        << res << "p/" << frames << "f";
  }
  Bytes lo = e.Prior(DemoParams(512, 16)), hi = e.Prior(DemoParams(768, 24));
  Bytes mid = e.Prior(DemoParams(768, 16));
  EXPECT_GT(mid, lo);
  EXPECT_LT(mid, hi);
  EXPECT_GT(e.Prior(DemoParams(256, 1)).count(), 0u);  // never below zero
}

TEST(Estimator, OneRowMeansProportionalToTheFeature) {
  JobSchema s = DemoSchema();
  s.sizing.resize(1);
  Estimator e(s);
  EXPECT_NEAR(Ratio(e.Prior(DemoParams(512, 32)), e.Prior(DemoParams(512, 16))), 2.0, 1e-6);
}

TEST(Estimator, NoTableAndNoObservationsIsNone) {
  JobSchema s = DemoSchema();
  s.sizing.clear();
  Estimator e(s);
  Estimate est = e.Predict(DemoParams(512, 16));
  EXPECT_EQ(est.source, "none");
  EXPECT_EQ(est.bytes, Bytes(0));
  e.Observe({DemoParams(512, 16), DemoActivation(512, 16), ObservationKind::kExact});
  EXPECT_GE(e.Predict(DemoParams(512, 16)).bytes, DemoActivation(512, 16));
}

TEST(Estimator, LearningConvergesOnTheDemoCurveFromAWrongPrior) {
  JobSchema s = DemoSchema();
  for (SizingRow& r : s.sizing) r.bytes = Bytes(r.bytes.count() * 13 / 10);  // 30 % too high
  Estimator e(s);
  std::mt19937 rng(7);
  const int kRes[] = {256, 512, 768, 1024};
  for (int i = 0; i < 40; ++i) {
    int res = kRes[rng() % 4];
    int frames = 1 + static_cast<int>(rng() % 64);
    e.Observe({DemoParams(res, frames), DemoActivation(res, frames), ObservationKind::kExact});
  }
  Estimate est = e.Predict(DemoParams(768, 24));
  EXPECT_EQ(est.source, "learned(n=40)");
  for (auto [res, frames] : {std::pair{512, 16}, {768, 24}, {1024, 32}, {1024, 64}, {256, 8}}) {
    Bytes truth = DemoActivation(res, frames);
    Bytes got = e.Predict(DemoParams(res, frames)).bytes;
    EXPECT_GE(got, truth) << res << "p/" << frames << "f";
    EXPECT_LT(Ratio(got, truth), 1.06) << res << "p/" << frames << "f";
  }
}

TEST(Estimator, CensoredObservationsNeitherInflateNorCountAsExact) {
  Estimator e(DemoSchema());
  Bytes before = e.Predict(DemoParams(512, 16)).bytes;
  // The service held 18 GiB of cache: a 512p job's usage did not rise; need ≤ 18 GiB.
  e.Observe({DemoParams(512, 16), Bytes::GiB(18), ObservationKind::kAtMost});
  Estimate after = e.Predict(DemoParams(512, 16));
  EXPECT_EQ(after.bytes, before);
  EXPECT_EQ(after.source, "prior");
  EXPECT_EQ(e.exact_count(), 0);
}

TEST(Estimator, CensoredObservationLowersOnlyAtOrBelowItsFeature) {
  Estimator e(DemoSchema());
  Bytes truth = DemoActivation(768, 24);
  Bytes big_before = e.Predict(DemoParams(1024, 32)).bytes;
  e.Observe({DemoParams(768, 24), truth, ObservationKind::kAtMost});
  Estimate at = e.Predict(DemoParams(768, 24));
  EXPECT_EQ(at.bytes, truth);  // capped at the bound: need ≤ it, certain
  EXPECT_EQ(at.source, "prior+capped");
  EXPECT_LE(e.Predict(DemoParams(768, 16)).bytes, truth);        // smaller jobs need no more
  EXPECT_EQ(e.Predict(DemoParams(1024, 32)).bytes, big_before);  // bigger: says nothing
}

TEST(Estimator, CensoredBoundNeverPushesBelowAnExactObservation) {
  Estimator e(DemoSchema());
  Bytes truth = DemoActivation(512, 16);
  e.Observe({DemoParams(512, 16), truth, ObservationKind::kExact});
  e.Observe({DemoParams(512, 16), Bytes(truth.count() - (64 << 20)), ObservationKind::kAtMost});
  EXPECT_GE(e.Predict(DemoParams(512, 16)).bytes, truth);
}

TEST(Estimator, OomRaisesTheEstimateAtAndNearItsParams) {
  Estimator e(DemoSchema());
  Bytes near_before = e.Predict(DemoParams(768, 20)).bytes;
  Bytes far_before = e.Predict(DemoParams(256, 1)).bytes;
  // An OOM at 768p/24f: it needed more than 12 GiB (the table says 7.7).
  e.Observe({DemoParams(768, 24), Bytes::GiB(12), ObservationKind::kAtLeast});
  Estimate at = e.Predict(DemoParams(768, 24));
  EXPECT_GE(at.bytes, Bytes(Bytes::GiB(12).count() * 103 / 100));
  EXPECT_EQ(at.source, "prior+oom");
  EXPECT_GE(e.Predict(DemoParams(768, 32)).bytes, at.bytes);  // bigger needs at least as much
  EXPECT_GT(Ratio(e.Predict(DemoParams(768, 20)).bytes, near_before), 1.2);  // near: raised
  EXPECT_LT(Ratio(e.Predict(DemoParams(256, 1)).bytes, far_before), 1.05);   // far: barely
}

TEST(Estimator, AnExactZeroIsNotAPointOnTheCurve) {
  Estimator e(DemoSchema());
  Bytes before = e.Predict(DemoParams(256, 8)).bytes;
  e.Observe({DemoParams(512, 16), Bytes(0), ObservationKind::kExact});
  e.Observe({DemoParams(512, 16), Bytes(4096), ObservationKind::kAtMost});
  EXPECT_EQ(e.exact_count(), 0);
  EXPECT_EQ(e.Predict(DemoParams(256, 8)).bytes, before);  // not capped at nothing either
  EXPECT_EQ(e.Predict(DemoParams(256, 8)).source, "prior");
}

TEST(Estimator, OomBelowTheEstimateChangesNothing) {
  Estimator e(DemoSchema());
  Bytes before = e.Predict(DemoParams(768, 24)).bytes;
  e.Observe({DemoParams(768, 24), Bytes::GiB(2), ObservationKind::kAtLeast});
  EXPECT_EQ(e.Predict(DemoParams(768, 24)).bytes, before);
}

TEST(Estimator, ObservationsFromSamples) {
  Bytes model = Bytes::GiB(8);
  // Usage rose from the model to 15.7 GiB: exact, 7.7 GiB.
  Observation o =
      ObservationFromPeak(DemoParams(768, 24), model, model, Bytes::MiB(8 * 1024 + 7885), false);
  EXPECT_EQ(o.kind, ObservationKind::kExact);
  EXPECT_EQ(o.bytes, Bytes::MiB(7885));
  // 18 GiB of cache held before; usage stayed: at most 18 GiB.
  o = ObservationFromPeak(DemoParams(512, 16), model, Bytes::GiB(26), Bytes::GiB(26), false);
  EXPECT_EQ(o.kind, ObservationKind::kAtMost);
  EXPECT_EQ(o.bytes, Bytes::GiB(18));
  // Rose, but another job of the service ran too: only an upper bound.
  o = ObservationFromPeak(DemoParams(512, 16), model, model, Bytes::GiB(20), true);
  EXPECT_EQ(o.kind, ObservationKind::kAtMost);
  o = ObservationFromOom(DemoParams(1024, 32), model, Bytes::GiB(12), Bytes::GiB(2));
  EXPECT_EQ(o.kind, ObservationKind::kAtLeast);
  EXPECT_EQ(o.bytes, Bytes::GiB(6));
}

}  // namespace
}  // namespace vg
