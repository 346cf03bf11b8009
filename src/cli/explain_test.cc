#include "cli/explain.h"

#include <stdlib.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
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

// --config: the file's [[pattern]] tables and the named service's own patterns apply, as in the
// daemon; without --config a line only they know is not an incident.
TEST(RunExplainTest, ConfigPatternsApply) {
  char dir_tmpl[] = "/tmp/vg-explain-test.XXXXXX";
  const std::string dir = ::mkdtemp(dir_tmpl);
  {
    std::ofstream cfg(dir + "/vg.toml");
    cfg << "[[pattern]]\nmatch = \"ENGINE RAN DRY\"\nkind = \"oom\"\n\n"
           "[[service]]\nname = \"llm\"\ncommand = [\"true\"]\n"
           "patterns = [{ match = \"KV POOL FULL\", kind = \"sticky\" }]\n";
    std::ofstream log(dir + "/llm.log");
    log << "ENGINE RAN DRY\nok\nKV POOL FULL\n";
  }
  auto count = [&](ExplainOptions o) {
    o.file = dir + "/llm.log";
    o.json = true;
    ::testing::internal::CaptureStdout();
    auto rc = RunExplain(o);
    std::string text = ::testing::internal::GetCapturedStdout();
    if (!rc) return -1;
    return static_cast<int>(nlohmann::json::parse(text)["incidents"].size());
  };
  ExplainOptions builtins;
  EXPECT_EQ(count(builtins), 0);
  ExplainOptions top;
  top.config = dir + "/vg.toml";
  EXPECT_EQ(count(top), 1);
  ExplainOptions with_service = top;
  with_service.service = "llm";
  EXPECT_EQ(count(with_service), 2);
  ExplainOptions unknown = top;
  unknown.service = "nope";
  auto rc = RunExplain(unknown);
  ASSERT_FALSE(rc);
  EXPECT_EQ(rc.error().code, ErrorCode::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(RunExplainTest, MissingFileIsNotFound) {
  auto rc = RunExplain(ExplainOptions{"/nonexistent/vramguard.log", "", false});
  ASSERT_FALSE(rc);
  EXPECT_EQ(rc.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace vg
