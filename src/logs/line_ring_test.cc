#include "logs/line_ring.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

using Lines = std::vector<std::string>;

TEST(LogRingTest, KeepsTheLastCapacityLines) {
  LineRing ring(3);
  EXPECT_EQ(ring.Last(10), Lines{});
  ring.Push("a");
  ring.Push("b");
  EXPECT_EQ(ring.Last(10), (Lines{"a", "b"}));
  ring.Push("c");
  ring.Push("d");
  ring.Push("e");
  EXPECT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.total(), 5u);
  EXPECT_EQ(ring.Last(10), (Lines{"c", "d", "e"}));
  EXPECT_EQ(ring.Last(2), (Lines{"d", "e"}));
  EXPECT_EQ(ring.Last(0), Lines{});
}

TEST(LogRingTest, ZeroCapacityOnlyCounts) {
  LineRing ring(0);
  ring.Push("a");
  EXPECT_EQ(ring.Last(5), Lines{});
  EXPECT_EQ(ring.total(), 1u);
}

TEST(LogRingTest, WrapsManyTimes) {
  LineRing ring(4);
  for (int i = 0; i < 1003; ++i) ring.Push(std::to_string(i));
  EXPECT_EQ(ring.Last(4), (Lines{"999", "1000", "1001", "1002"}));
}

}  // namespace
}  // namespace vg
