#include "store/state_path.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

TEST(StorePath, RootUsesVarLib) {
  EXPECT_EQ(DefaultStateDir(true, "/home/u/.state", "/home/u").value(), "/var/lib/vramguard");
}

TEST(StorePath, UserPrefersXdgStateHome) {
  EXPECT_EQ(DefaultStateDir(false, "/x/state", "/home/u").value(), "/x/state/vramguard");
}

TEST(StorePath, UserFallsBackToHomeWhenXdgIsUnsetOrRelative) {
  EXPECT_EQ(DefaultStateDir(false, "", "/home/u").value(), "/home/u/.local/state/vramguard");
  EXPECT_EQ(DefaultStateDir(false, "rel/state", "/home/u").value(),
            "/home/u/.local/state/vramguard");
}

TEST(StorePath, UserWithoutHomeIsAnError) {
  auto dir = DefaultStateDir(false, "", "");
  ASSERT_FALSE(dir.has_value());
  EXPECT_EQ(dir.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(dir.error().hint.empty());
}

TEST(StorePath, DatabaseFileIsStateDbInTheDirectory) {
  EXPECT_EQ(StateDbPath("/var/lib/vramguard"), "/var/lib/vramguard/state.db");
  EXPECT_EQ(StateDbPath("/var/lib/vramguard/"), "/var/lib/vramguard/state.db");
}

}  // namespace
}  // namespace vg
