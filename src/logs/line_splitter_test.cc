#include "logs/line_splitter.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

using Lines = std::vector<std::string>;

TEST(LogSplitterTest, SplitsOnNewline) {
  LineSplitter s;
  EXPECT_EQ(s.Feed("one\ntwo\n\nthree\n"), (Lines{"one", "two", "", "three"}));
  EXPECT_EQ(s.Flush(), std::nullopt);
}

TEST(LogSplitterTest, PartialLinesAcrossFeeds) {
  LineSplitter s;
  EXPECT_EQ(s.Feed("Running on lo"), Lines{});
  EXPECT_EQ(s.Feed("cal URL:  http://127"), Lines{});
  EXPECT_EQ(s.Feed(".0.0.1:7860\nnext"), Lines{"Running on local URL:  http://127.0.0.1:7860"});
  EXPECT_EQ(s.Flush(), "next");
  EXPECT_EQ(s.Flush(), std::nullopt);  // flushing twice yields nothing more
}

TEST(LogSplitterTest, CrLfEndingsLoseTheCr) {
  LineSplitter s;
  EXPECT_EQ(s.Feed("a\r\nb\r\n"), (Lines{"a", "b"}));
  // The \r and the \n in different reads.
  EXPECT_EQ(s.Feed("c\r"), Lines{});
  EXPECT_EQ(s.Feed("\nd\r\r\n"), (Lines{"c", "d"}));
}

TEST(LogSplitterTest, CarriageReturnRedrawsTheLine) {
  LineSplitter s;
  EXPECT_EQ(s.Feed(" 10%|#    |\r 50%|###  |\r"), Lines{});
  EXPECT_EQ(s.Feed("100%|#####|\n"), Lines{"100%|#####|"});
  EXPECT_EQ(s.Feed("tail\r"), Lines{});
  EXPECT_EQ(s.Flush(), "tail");
}

TEST(LogSplitterTest, OverlongLineCutMarkedAndRestDropped) {
  LineSplitter s(8);
  EXPECT_EQ(s.Feed("12345678\n"), Lines{"12345678"});  // exactly the limit: intact
  EXPECT_EQ(s.Feed("abcdefghij"), Lines{"abcdefgh [truncated]"});
  EXPECT_EQ(s.Feed("klmnop"), Lines{});  // still the same line
  EXPECT_EQ(s.Feed("qr\nshort\n"), Lines{"short"});
  EXPECT_EQ(s.Feed("0123456789"), Lines{"01234567 [truncated]"});
  EXPECT_EQ(s.Flush(), std::nullopt);
  EXPECT_EQ(s.Feed("fresh\n"), Lines{"fresh"});
}

TEST(LogSplitterTest, CutNeverSplitsAUtf8Character) {
  LineSplitter s(5);
  // "abcd" then "é" (2 bytes) crosses the limit: the cut falls before the é.
  EXPECT_EQ(s.Feed("abcd\xC3\xA9zz\n"), Lines{"abcd [truncated]"});
}

}  // namespace
}  // namespace vg
