#include "util/pattern.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace vg {
namespace {

using Clock = std::chrono::steady_clock;

TEST(Pattern, SearchesAnywhereInTheText) {
  Result<Pattern> p = Pattern::Compile("Uvicorn running on http://[0-9.]+:([0-9]+)");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE(p->Search("INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C)"));
  EXPECT_FALSE(p->Search("INFO:     Started server process"));
  EXPECT_EQ(p->expr(), "Uvicorn running on http://[0-9.]+:([0-9]+)");
}

TEST(Pattern, EmptyMatchesEverything) {
  Result<Pattern> p = Pattern::Compile("");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->Search(""));
  EXPECT_TRUE(p->Search("anything"));
}

TEST(Pattern, RejectsBackreferencesAndLookaroundSayingSo) {
  for (const char* expr : {"(a)\\1", "foo(?=bar)", "foo(?!bar)", "(?<=x)y", "[unclosed", "a**"}) {
    Result<Pattern> p = Pattern::Compile(expr);
    ASSERT_FALSE(p) << expr;
    EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(p.error().message.find("not a valid RE2 pattern"), std::string::npos);
    EXPECT_NE(p.error().hint.find("no backreferences"), std::string::npos);
    EXPECT_EQ(p.error().message.find('\n'), std::string::npos);
  }
}

TEST(Pattern, CopiesShareTheProgram) {
  Result<Pattern> p = Pattern::Compile("ready");
  ASSERT_TRUE(p);
  Pattern copy = *p;
  Pattern moved = std::move(copy);
  EXPECT_TRUE(moved.Search("service is ready"));
}

TEST(Pattern, MatchesInvalidUtf8Lines) {
  Result<Pattern> p = Pattern::Compile(".*ready");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->Search("\xff\xfe garbage then ready"));
}

TEST(Pattern, LooksAtTheFirstMaxMatchLineBytesOnly) {
  Result<Pattern> p = Pattern::Compile("needle");
  ASSERT_TRUE(p);
  std::string line(kMaxMatchLineBytes - 6, 'x');
  EXPECT_TRUE(p->Search(line + "needle"));
  EXPECT_FALSE(p->Search(line + "x" + "needle"));
}

// Issue 10: a 40 KB line against `.*ready` crashed the daemon (std::regex recursion).
TEST(Pattern, FortyKilobyteLineAgainstDotStarReadyIsFast) {
  Result<Pattern> p = Pattern::Compile(".*ready");
  ASSERT_TRUE(p);
  std::string line(40 * 1024, 'x');
  auto start = Clock::now();
  EXPECT_FALSE(p->Search(line));
  line.replace(100, 5, "ready");
  EXPECT_TRUE(p->Search(line));
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(200));
}

// A catastrophic pattern for backtracking engines is linear here.
TEST(Pattern, NestedQuantifiersAreLinear) {
  Result<Pattern> p = Pattern::Compile("(a+)+$");
  ASSERT_TRUE(p);
  Result<Pattern> q = Pattern::Compile("^(a|a)*c$");
  ASSERT_TRUE(q);
  std::string text = std::string(30, 'a') + "b";
  std::string long_text = std::string(kMaxMatchLineBytes - 1, 'a') + "b";
  auto start = Clock::now();
  EXPECT_FALSE(p->Search(text));  // the text ends in 'b'
  EXPECT_FALSE(p->Search(long_text));
  EXPECT_TRUE(p->Search(std::string(30, 'a')));
  EXPECT_FALSE(q->Search(text));
  EXPECT_FALSE(q->Search(long_text));
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(200));
}

}  // namespace
}  // namespace vg
