// check-config (src/cli/check_config.h): output and exit status, on real files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/check_config.h"

namespace vg {
namespace {

class ConfigCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vg-check-config-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& text) {
    std::string path = dir_ + "/v.toml";
    std::ofstream(path) << text;
    return path;
  }
  int Run(const std::string& path, bool json) {
    out_.str("");
    err_.str("");
    Result<int> r = RunCheckConfig(path, json, out_, err_);
    EXPECT_TRUE(r.has_value());
    return r.value_or(-1);
  }
  std::string dir_;
  std::ostringstream out_, err_;
};

constexpr std::string_view kValid = R"([[service]]
name = "i2v"
command = ["python", "main.py"]

[[service]]
name = "comfy"
command = ["python", "ComfyUI/main.py"]
)";

constexpr std::string_view kInvalid = R"([[service]]
name = "i2v"
comand = ["python", "main.py"]
port = 0
)";

TEST_F(ConfigCheck, ValidFileSaysOkWithServiceNames) {
  EXPECT_EQ(Run(Write(std::string(kValid)), false), 0);
  EXPECT_EQ(out_.str(), "ok: 2 services (i2v, comfy)\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(ConfigCheck, InvalidFilePrintsEachDiagnosticAndExits2) {
  std::string path = Write(std::string(kInvalid));
  EXPECT_EQ(Run(path, false), 2);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), path +
                            ":1:1: [[service]] 'i2v' has no 'command' (write command = "
                            "[\"python\", \"main.py\", \"--port\", \"7860\"])\n" +
                            path +
                            ":3:1: unknown key 'comand' in [[service]] (did you mean "
                            "'command'?)\n" +
                            path + ":4:8: 'port' must be 1..65535, not 0\n");
}

TEST_F(ConfigCheck, JsonForValidAndInvalid) {
  std::string path = Write(std::string(kValid));
  EXPECT_EQ(Run(path, true), 0);
  nlohmann::json ok = nlohmann::json::parse(out_.str());
  EXPECT_EQ(ok["ok"], true);
  EXPECT_EQ(ok["services"], nlohmann::json({"i2v", "comfy"}));
  EXPECT_TRUE(ok["diagnostics"].empty());

  path = Write(std::string(kInvalid));
  EXPECT_EQ(Run(path, true), 2);
  EXPECT_EQ(err_.str(), "");
  nlohmann::json bad = nlohmann::json::parse(out_.str());
  EXPECT_EQ(bad["ok"], false);
  ASSERT_EQ(bad["diagnostics"].size(), 3u);
  EXPECT_EQ(bad["diagnostics"][2]["file"], path);
  EXPECT_EQ(bad["diagnostics"][2]["line"], 4);
  EXPECT_EQ(bad["diagnostics"][2]["column"], 8);
  EXPECT_EQ(bad["diagnostics"][2]["message"], "'port' must be 1..65535, not 0");
}

TEST_F(ConfigCheck, MissingFileIsInvalid) {
  EXPECT_EQ(Run(dir_ + "/nope.toml", true), 2);
  nlohmann::json bad = nlohmann::json::parse(out_.str());
  EXPECT_EQ(bad["diagnostics"][0]["line"], 0);
}

}  // namespace
}  // namespace vg
