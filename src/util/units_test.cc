#include "util/units.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

TEST(Units, ParsesBinaryAndDecimalSizes) {
  EXPECT_EQ(ParseBytes("14GiB").value(), Bytes::GiB(14));
  EXPECT_EQ(ParseBytes("14 gib").value(), Bytes::GiB(14));
  EXPECT_EQ(ParseBytes("512MiB").value(), Bytes::MiB(512));
  EXPECT_EQ(ParseBytes("1.5G").value(), Bytes(1610612736));
  EXPECT_EQ(ParseBytes("10GB").value(), Bytes(10000000000ull));
  EXPECT_EQ(ParseBytes("4096").value(), Bytes(4096));
}

TEST(Units, RejectsNonsenseSizes) {
  EXPECT_FALSE(ParseBytes("").has_value());
  EXPECT_FALSE(ParseBytes("GiB").has_value());
  EXPECT_FALSE(ParseBytes("12 parsecs").has_value());
  EXPECT_FALSE(ParseBytes("-3GiB").has_value());
  EXPECT_EQ(ParseBytes("x").error().code, ErrorCode::kInvalidArgument);
}

TEST(Units, FormatsWithOneDecimalInBinaryUnits) {
  EXPECT_EQ(FormatBytes(Bytes(11380000000ull)), "10.6 GiB");
  EXPECT_EQ(FormatBytes(Bytes(641728512)), "612.0 MiB");
  EXPECT_EQ(FormatBytes(Bytes(512)), "512 B");
  EXPECT_EQ(FormatBytes(Bytes::GiB(24)), "24.0 GiB");
}

TEST(Units, ParsesDurations) {
  EXPECT_EQ(ParseDuration("10s").value(), Millis(10000));
  EXPECT_EQ(ParseDuration("100ms").value(), Millis(100));
  EXPECT_EQ(ParseDuration("1.5s").value(), Millis(1500));
  EXPECT_EQ(ParseDuration("2m").value(), Millis(120000));
  EXPECT_EQ(ParseDuration("0").value(), Millis(0));
  EXPECT_FALSE(ParseDuration("soon").has_value());
  EXPECT_FALSE(ParseDuration("5 fortnights").has_value());
}

TEST(Units, FormatsSecondsAndMilliseconds) {
  EXPECT_EQ(FormatSeconds(std::chrono::milliseconds(120)), "0.12 s");
  EXPECT_EQ(FormatSeconds(std::chrono::microseconds(3400)), "3.4 ms");
  EXPECT_EQ(FormatSeconds(std::chrono::microseconds(42)), "42 µs");
  // From a minute on, whole units as a person writes them: never "3600.00 s".
  EXPECT_EQ(FormatSeconds(std::chrono::milliseconds(59'990)), "59.99 s");
  EXPECT_EQ(FormatSeconds(std::chrono::seconds(60)), "1m");
  EXPECT_EQ(FormatSeconds(std::chrono::seconds(90)), "1m 30s");
  EXPECT_EQ(FormatSeconds(std::chrono::seconds(3600)), "1h");
  EXPECT_EQ(FormatSeconds(std::chrono::milliseconds(3'599'700)), "1h");
  EXPECT_EQ(FormatSeconds(std::chrono::seconds(2 * 3600 + 5 * 60 + 30)), "2h 5m");
  EXPECT_EQ(FormatSeconds(std::chrono::hours(48)), "48h");
}

TEST(Units, BytesSubtractionSaturates) { EXPECT_EQ(Bytes(5) - Bytes(9), Bytes(0)); }

}  // namespace
}  // namespace vg
