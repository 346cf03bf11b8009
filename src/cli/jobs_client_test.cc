#include "cli/jobs_client.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

TEST(JobsClient, ParamArgsBecomeNumbersBoolsOrStrings) {
  auto n = ParseParamArg("frames=24");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->first, "frames");
  EXPECT_TRUE(n->second.is_number_integer());
  EXPECT_EQ(n->second, 24);
  EXPECT_TRUE(ParseParamArg("cfg=7.5")->second.is_number_float());
  EXPECT_EQ(ParseParamArg("tile=true")->second, true);
  EXPECT_EQ(ParseParamArg("prompt=a cat=dog")->second, "a cat=dog");
  EXPECT_EQ(ParseParamArg("seed=")->second, "");
  EXPECT_EQ(ParseParamArg("v=[1]")->second, "[1]");  // only scalars are parsed
  EXPECT_FALSE(ParseParamArg("frames"));
  EXPECT_FALSE(ParseParamArg("=3"));
}

}  // namespace
}  // namespace vg
