#include "util/prom_text.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

TEST(PromText, FamilyHeaderEscapesHelp) {
  PromWriter w;
  w.Begin("vramguard_x", "gauge", "a \\ b\nc");
  EXPECT_EQ(w.text(), "# HELP vramguard_x a \\\\ b\\nc\n# TYPE vramguard_x gauge\n");
}

TEST(PromText, LabelsAreEscapedAndNumbersExact) {
  PromWriter w;
  w.Sample("m", {{"name", "a\"b\\c\nd"}, {"k", "v"}}, 81559420928.0);
  w.Sample("m", {}, 0.25);
  w.Sample("m", {}, 1e300);
  EXPECT_EQ(w.text(),
            "m{name=\"a\\\"b\\\\c\\nd\",k=\"v\"} 81559420928\n"
            "m 0.25\n"
            "m 1e+300\n");
}

TEST(PromText, SpecialValuesAreSpelledAsTheFormatSays) {
  PromWriter w;
  w.Sample("m", {}, std::numeric_limits<double>::infinity());
  w.Sample("m", {}, -std::numeric_limits<double>::infinity());
  w.Sample("m", {}, std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(w.text(), "m +Inf\nm -Inf\nm NaN\n");
}

TEST(PromText, HistogramIsCumulativeWithInfSumAndCount) {
  PromHistogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 5.0, 50.0}) h.Observe(v);
  h.Observe(std::numeric_limits<double>::quiet_NaN());  // ignored
  PromWriter w;
  w.Histogram("t_seconds", {{"service", "a"}}, h);
  EXPECT_EQ(w.text(),
            "t_seconds_bucket{service=\"a\",le=\"0.1\"} 2\n"
            "t_seconds_bucket{service=\"a\",le=\"1\"} 3\n"
            "t_seconds_bucket{service=\"a\",le=\"10\"} 4\n"
            "t_seconds_bucket{service=\"a\",le=\"+Inf\"} 5\n"
            "t_seconds_sum{service=\"a\"} 55.65\n"
            "t_seconds_count{service=\"a\"} 5\n");
  EXPECT_EQ(h.count(), 5u);
}

}  // namespace
}  // namespace vg
