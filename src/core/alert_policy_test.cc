#include "core/alert_policy.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

using namespace std::chrono_literals;

SteadyTime T(int seconds) { return SteadyTime(std::chrono::seconds(seconds)); }

TEST(AlertPolicy, DefaultKindsAndFilters) {
  EXPECT_TRUE(AlertWants({}, {}, "i2v", "oom"));
  EXPECT_TRUE(AlertWants({}, {}, "i2v", "device-lost"));
  EXPECT_FALSE(AlertWants({}, {}, "i2v", "ready"));
  EXPECT_FALSE(AlertWants({"ready"}, {}, "i2v", "oom"));
  EXPECT_TRUE(AlertWants({"ready"}, {}, "i2v", "ready"));
  EXPECT_FALSE(AlertWants({}, {"comfyui"}, "i2v", "oom"));
  EXPECT_TRUE(AlertWants({}, {"comfyui", "i2v"}, "i2v", "oom"));
}

TEST(AlertPolicy, AlertFailedIsNeverAlerted) {
  EXPECT_FALSE(AlertWants({"alert-failed"}, {}, "i2v", "alert-failed"));
  EXPECT_FALSE(AlertWants({}, {}, "", "alert-failed"));
}

TEST(AlertDedup, FirstAtOnceThenOneSummaryWithTheCount) {
  AlertDedup d(10min);
  EXPECT_TRUE(d.Offer("i2v/oom/torch", 1, T(0)));
  EXPECT_FALSE(d.Offer("i2v/oom/torch", 2, T(10)));
  EXPECT_FALSE(d.Offer("i2v/oom/torch", 3, T(20)));
  EXPECT_TRUE(d.Due(T(599)).empty());
  ASSERT_TRUE(d.NextDue().has_value());
  EXPECT_EQ(*d.NextDue(), T(600));
  std::vector<AlertDedup::Summary> due = d.Due(T(600));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].count, 2);
  EXPECT_EQ(due[0].last_event, 3);
  EXPECT_FALSE(d.NextDue().has_value());
  // After the window, the next one is sent at once again.
  EXPECT_TRUE(d.Offer("i2v/oom/torch", 4, T(700)));
}

TEST(AlertDedup, DifferentKeysAreIndependent) {
  AlertDedup d(1min);
  EXPECT_TRUE(d.Offer("i2v/oom/a", 1, T(0)));
  EXPECT_TRUE(d.Offer("i2v/oom/b", 2, T(1)));
  EXPECT_TRUE(d.Offer("sd/oom/a", 3, T(2)));
  EXPECT_FALSE(d.Offer("i2v/oom/a", 4, T(3)));
}

TEST(AlertDedup, AWindowWithoutRepeatsClosesSilently) {
  AlertDedup d(1min);
  EXPECT_TRUE(d.Offer("k", 1, T(0)));
  EXPECT_TRUE(d.Due(T(61)).empty());
  EXPECT_FALSE(d.NextDue().has_value());
}

TEST(AlertDedup, ZeroWindowSendsEverything) {
  AlertDedup d(0ms);
  EXPECT_TRUE(d.Offer("k", 1, T(0)));
  EXPECT_TRUE(d.Offer("k", 2, T(0)));
  EXPECT_FALSE(d.NextDue().has_value());
}

TEST(AlertPolicy, RetryBackoffDoublesAndCaps) {
  EXPECT_EQ(AlertRetryDelay(1, 1s, 60s), 1s);
  EXPECT_EQ(AlertRetryDelay(2, 1s, 60s), 2s);
  EXPECT_EQ(AlertRetryDelay(3, 1s, 60s), 4s);
  EXPECT_EQ(AlertRetryDelay(10, 1s, 60s), 60s);
  EXPECT_EQ(AlertRetryDelay(0, 1s, 60s), 0s);
}

}  // namespace
}  // namespace vg
