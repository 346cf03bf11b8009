#include "util/strings.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

TEST(OneLine, NewlinesAndTabsBecomeOneSpace) {
  EXPECT_EQ(OneLine("python\nmain.py\t\t--port\r\n7860", 100), "python main.py --port 7860");
  EXPECT_EQ(OneLine("\n\nlead", 100), "lead");
}

TEST(OneLine, LongTextIsCutAndMarked) {
  EXPECT_EQ(OneLine("abcdefgh", 4), "abcd…");
  EXPECT_EQ(OneLine("abcd", 4), "abcd");
}

TEST(OneLine, NeverCutsInsideAUtf8Character) {
  // "é" is two bytes; a cut after its first byte drops it whole.
  EXPECT_EQ(OneLine("abé-and-more", 3), "ab…");
}

}  // namespace
}  // namespace vg
