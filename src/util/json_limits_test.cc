#include "util/json_limits.h"

#include <gtest/gtest.h>

#include <string>

namespace vg {
namespace {

TEST(JsonNesting, CountsBracketsOutsideStrings) {
  EXPECT_TRUE(JsonNestingWithin(R"({"params": {"frames": [1, 2]}})", 3));
  EXPECT_FALSE(JsonNestingWithin(R"({"params": {"frames": [1, 2]}})", 2));
  EXPECT_TRUE(JsonNestingWithin(R"({"s": "[[[[[[{{{{{"})", 1));
  EXPECT_TRUE(JsonNestingWithin(R"({"s": "a\"[[[[[["})", 1));
  EXPECT_TRUE(JsonNestingWithin("", 0));
}

TEST(JsonNesting, FourHundredThousandLevelsAreRejectedWithoutRecursion) {
  std::string deep(400000, '[');
  deep += std::string(400000, ']');
  EXPECT_FALSE(JsonNestingWithin(deep, kMaxJsonDepth));
  std::string ok(kMaxJsonDepth, '[');
  ok += std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(JsonNestingWithin(ok, kMaxJsonDepth));
  EXPECT_FALSE(JsonNestingWithin("[" + ok + "]", kMaxJsonDepth));
}

TEST(Abbreviate, CutsLongValuesOnACharacterBoundary) {
  EXPECT_EQ(Abbreviate(nlohmann::json(12)), "12");
  EXPECT_EQ(Abbreviate(nlohmann::json("short")), "\"short\"");
  std::string cut = Abbreviate(nlohmann::json(std::string(100000, 'x')));
  EXPECT_LE(cut.size(), kMaxEchoBytes + 3);
  EXPECT_TRUE(cut.ends_with("…"));
  std::string accents = AbbreviateText("ééééé", 3);  // 2 bytes each
  EXPECT_EQ(accents, "é…");
}

}  // namespace
}  // namespace vg
