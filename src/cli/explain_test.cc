#include "cli/explain.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace vg {
namespace {

constexpr const char* kLog =
    "INFO: starting\n"
    "RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 10.76 GiB total "
    "capacity; 9.50 GiB already allocated; 13.44 MiB free; 9.66 GiB reserved in total by PyTorch)\n"
    "OSError: Cannot find empty port in range: 7860-7860.\n";

TEST(ExplainStreamTest, JsonDocument) {
  std::istringstream in(kLog);
  std::ostringstream out;
  auto rc = ExplainStream(in, ExplainOptions{"", "i2v", true}, out);
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 0);
  nlohmann::json doc = nlohmann::json::parse(out.str());
  EXPECT_EQ(doc["lines"], 3);
  ASSERT_EQ(doc["incidents"].size(), 2u);
  EXPECT_EQ(doc["incidents"][0]["kind"], "oom");
  EXPECT_EQ(doc["incidents"][0]["line_number"], 2);
  EXPECT_EQ(doc["incidents"][0]["requested_bytes"], 20u << 20);
  EXPECT_EQ(doc["incidents"][0]["explanation"],
            "i2v asked for 20.00 MiB on GPU 0 with 13.44 MiB free of 10.76 GiB");
  EXPECT_EQ(doc["incidents"][1]["kind"], "port-clash");
  EXPECT_EQ(doc["incidents"][1]["port"], 7860);
}

TEST(ExplainStreamTest, HumanReportAndNothingFound) {
  std::istringstream in(kLog);
  std::ostringstream out;
  ASSERT_TRUE(ExplainStream(in, ExplainOptions{"", "", false}, out));
  EXPECT_NE(out.str().find("line 2: oom torch-oom-2.0 (pytorch): CUDA out of memory\n"),
            std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("  requested 20.0 MiB · GPU 0 · free 13.4 MiB · capacity 10.8 GiB"),
            std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("the service could not listen on port 7860"), std::string::npos);
  EXPECT_NE(out.str().find("  | INFO: starting\n"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("2 incidents in 3 lines\n"), std::string::npos);

  std::istringstream clean("all good\n");
  std::ostringstream none;
  ASSERT_EQ(ExplainStream(clean, ExplainOptions{}, none).value_or(-1), 0);
  EXPECT_EQ(none.str(), "no incidents in 1 line\n");
}

TEST(RunExplainTest, MissingFileIsNotFound) {
  auto rc = RunExplain(ExplainOptions{"/nonexistent/vramguard.log", "", false});
  ASSERT_FALSE(rc);
  EXPECT_EQ(rc.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace vg
