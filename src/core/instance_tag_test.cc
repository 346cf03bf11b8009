#include "core/instance_tag.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

TEST(InstanceTagTest, RoundTripsServiceDaemonAndNonce) {
  std::string tag = FormatInstanceTag("i2v.xl-2", "0a1b2c3d", 0xfedcba9876543210ull);
  EXPECT_EQ(tag, "i2v.xl-2.0a1b2c3d-ba9876543210");
  auto t = ParseInstanceTag(tag);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->service, "i2v.xl-2");
  EXPECT_EQ(t->daemon, "0a1b2c3d");
  EXPECT_EQ(t->nonce, "ba9876543210");
  EXPECT_FALSE(t->hook);
  auto h = ParseInstanceTag(tag + ".hook");
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->hook);
  EXPECT_EQ(h->service, "i2v.xl-2");
}

TEST(InstanceTagTest, RejectsWhatThisFormatNeverProduces) {
  EXPECT_FALSE(ParseInstanceTag("i2v.0123456789ab"));  // a pre-daemon-id tag
  EXPECT_FALSE(ParseInstanceTag("i2v.hook"));          // a hook run with no instance
  EXPECT_FALSE(ParseInstanceTag(".0a1b2c3d-ba9876543210"));
  EXPECT_FALSE(ParseInstanceTag("i2v.0A1B2C3D-ba9876543210"));
  EXPECT_FALSE(ParseInstanceTag("i2v.0a1b2c3d_ba9876543210"));
  EXPECT_FALSE(ParseInstanceTag(""));
}

// Regression: two daemons with different state directories swept each other's same-named
// services as "leftovers" because tags named only the service.
TEST(InstanceTagTest, DaemonIdDiffersPerStateDirAndIsStable) {
  EXPECT_EQ(DaemonId("/var/lib/vramguard"), DaemonId("/var/lib/vramguard"));
  EXPECT_NE(DaemonId("/var/lib/vramguard"), DaemonId("/home/u/.local/state/vramguard"));
  EXPECT_EQ(DaemonId("x").size(), 8u);
}

TEST(InstanceTagTest, OwnLeftoverNeedsTheSameServiceAndDaemon) {
  const std::string d = DaemonId("/a");
  const std::string tag = FormatInstanceTag("i2v", d, 7);
  EXPECT_TRUE(IsOwnLeftoverTag(tag, "i2v", d));
  EXPECT_TRUE(IsOwnLeftoverTag(tag + ".hook", "i2v", d));
  EXPECT_FALSE(IsOwnLeftoverTag(tag, "i2v", DaemonId("/b")));
  EXPECT_FALSE(IsOwnLeftoverTag(tag, "i2v.x", d));
  EXPECT_FALSE(IsOwnLeftoverTag(FormatInstanceTag("i2v.x", d, 7), "i2v", d));
  EXPECT_FALSE(IsOwnLeftoverTag(std::nullopt, "i2v", d));
}

}  // namespace
}  // namespace vg
