#include "core/log_time.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

double Between(std::string_view a, std::string_view b) {
  auto ta = ParseLogTime(a);
  auto tb = ParseLogTime(b);
  EXPECT_TRUE(ta.has_value()) << a;
  EXPECT_TRUE(tb.has_value()) << b;
  if (!ta || !tb) return -1;
  auto d = SecondsBetween(*ta, *tb);
  EXPECT_TRUE(d.has_value());
  return d.value_or(-1);
}

TEST(LogTimeTest, Dmesg) {
  auto t = ParseLogTime("[594646.252242] gsd-color invoked oom-killer: gfp_mask=0x14200ca");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->clock, LogTime::Clock::kBoot);
  EXPECT_NEAR(t->seconds, 594646.252242, 1e-6);
  // Padded, and after the journal's own prefix.
  EXPECT_NEAR(Between("[    0.000316] x", "[   12.5] y"), 12.5 - 0.000316, 1e-9);
  // `dmesg -H`'s "[  +0.000316]" is the gap to the line before, not a time.
  EXPECT_FALSE(ParseLogTime("[  +0.000316] pcieport 0000:00:03.0: AER").has_value());
  EXPECT_NEAR(Between("Apr 25 06:31:56 host kernel: [594646.252242] a",
                      "Apr 25 06:31:56 host kernel: [594675.027262] b"),
              0.0, 1e-9);  // the syslog prefix comes first and wins
}

TEST(LogTimeTest, IsoAndSqlForms) {
  EXPECT_NEAR(Between("2024-04-29T14:55:41,678628+02:00 pool invoked oom-killer",
                      "2024-04-29T14:55:46,947445+02:00 oom_reaper: reaped"),
              5.268817, 1e-6);
  EXPECT_NEAR(Between("2019-08-18 03:55:10.593121: W tensorflow/core/…",
                      "2019-08-18 03:55:11.000000: W tensorflow/core/…"),
              0.406879, 1e-6);
  // Across a month's end and a leap day: real calendar days.
  EXPECT_NEAR(Between("2024-02-28 23:59:50 a", "2024-03-01 00:00:10 b"), 86400 + 20, 1e-6);
  EXPECT_NEAR(Between("2023-12-31 23:59:59 a", "2024-01-01 00:00:01 b"), 2, 1e-6);
}

TEST(LogTimeTest, SyslogGlogTensorRt) {
  EXPECT_NEAR(Between("Apr 25 06:31:56 h kernel: x", "Apr 25 08:31:56 h kernel: y"), 7200, 1e-9);
  EXPECT_NEAR(Between("Apr  5 06:31:56 h kernel: x", "Apr  6 06:31:56 h kernel: y"), 86400, 1e-9);
  EXPECT_NEAR(Between("E0323 20:28:49.804409  1234 gpu_hlo_schedule.cc:654] x",
                      "W0323 20:28:59.832181  1234 bfc_allocator.cc:501] y"),
              10.027772, 1e-6);
  EXPECT_NEAR(Between("[08/03/2022-23:18:05] [E] [TRT] a", "[08/04/2022-00:18:05] [E] [TRT] b"),
              3600, 1e-9);
}

TEST(LogTimeTest, ClocksAreNotCompared) {
  auto boot = ParseLogTime("[12.5] a");
  auto cal = ParseLogTime("2024-01-01 00:00:00 b");
  ASSERT_TRUE(boot && cal);
  EXPECT_FALSE(SecondsBetween(*boot, *cal).has_value());
}

TEST(LogTimeTest, NotATime) {
  for (std::string_view line :
       {"", "Traceback (most recent call last):", "[rank3]: torch.OutOfMemoryError: CUDA",
        "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB", "[E] [TRT] no time",
        "Epoch 12:30:15 done", "version 2024-13-45 10:00:00", "I0000 99:00:00 not a clock",
        "[1234] no fraction", "v12024-04-29 10:00:00 inside a word"}) {
    EXPECT_FALSE(ParseLogTime(line).has_value()) << line;
  }
  // Past the prefix bound: a date deep inside prose is not the line's time.
  EXPECT_FALSE(ParseLogTime(std::string(50, 'x') + " 2024-04-29 10:00:00").has_value());
}

}  // namespace
}  // namespace vg
