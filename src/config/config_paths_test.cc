#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "config/config.h"

namespace vg {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ConfigPaths, RootUsesSystemPaths) {
  DefaultPaths p =
      DefaultPathsFor(true, Env({{"HOME", "/root"}, {"XDG_RUNTIME_DIR", "/run/user/0"}}));
  EXPECT_EQ(p.state_dir, "/var/lib/vramguard");
  EXPECT_EQ(p.socket, "/run/vramguard/vramguard.sock");
}

TEST(ConfigPaths, UserFollowsXdg) {
  DefaultPaths p = DefaultPathsFor(false, Env({{"HOME", "/home/u"},
                                               {"XDG_STATE_HOME", "/data/state/"},
                                               {"XDG_RUNTIME_DIR", "/run/user/1000"}}));
  EXPECT_EQ(p.state_dir, "/data/state/vramguard");
  EXPECT_EQ(p.socket, "/run/user/1000/vramguard.sock");
}

TEST(ConfigPaths, UserWithoutXdgFallsBackToHomeAndStateDir) {
  DefaultPaths p = DefaultPathsFor(false, Env({{"HOME", "/home/u"}}));
  EXPECT_EQ(p.state_dir, "/home/u/.local/state/vramguard");
  EXPECT_EQ(p.socket, "/home/u/.local/state/vramguard/vramguard.sock");
  // Relative XDG values are ignored, as the spec says.
  p = DefaultPathsFor(
      false, Env({{"HOME", "/home/u"}, {"XDG_STATE_HOME", "rel"}, {"XDG_RUNTIME_DIR", ""}}));
  EXPECT_EQ(p.state_dir, "/home/u/.local/state/vramguard");
  EXPECT_EQ(p.socket, "/home/u/.local/state/vramguard/vramguard.sock");
}

TEST(ConfigPaths, SocketEnvironmentOverridesForEveryone) {
  EXPECT_EQ(DefaultPathsFor(true, Env({{"VRAMGUARD_SOCKET", "/tmp/v.sock"}})).socket,
            "/tmp/v.sock");
  EXPECT_EQ(
      DefaultPathsFor(false, Env({{"HOME", "/h"}, {"VRAMGUARD_SOCKET", "/tmp/v.sock"}})).socket,
      "/tmp/v.sock");
}

TEST(ConfigPaths, DefaultConfigPath) {
  EXPECT_EQ(DefaultConfigPathFor(true, Env({})), "/etc/vramguard/vramguard.toml");
  EXPECT_EQ(DefaultConfigPathFor(false, Env({{"HOME", "/home/u"}})),
            "/home/u/.config/vramguard/vramguard.toml");
  EXPECT_EQ(DefaultConfigPathFor(false, Env({{"HOME", "/home/u"}, {"XDG_CONFIG_HOME", "/cfg"}})),
            "/cfg/vramguard/vramguard.toml");
  EXPECT_EQ(DefaultConfigPathFor(true, Env({{"VRAMGUARD_CONFIG", "/x.toml"}})), "/x.toml");
  EXPECT_EQ(DefaultConfigPathFor(false, Env({{"VRAMGUARD_CONFIG", "/x.toml"}})), "/x.toml");
}

TEST(ConfigPaths, CurrentUserReadsTheProcessEnvironment) {
  const char* old = std::getenv("VRAMGUARD_SOCKET");
  std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  setenv("VRAMGUARD_SOCKET", "/tmp/vg-config-test.sock", 1);
  std::string socket = DefaultPathsForCurrentUser().socket;
  if (saved) {
    setenv("VRAMGUARD_SOCKET", saved->c_str(), 1);
  } else {
    unsetenv("VRAMGUARD_SOCKET");
  }
  EXPECT_EQ(socket, "/tmp/vg-config-test.sock");
  EXPECT_FALSE(DefaultPathsForCurrentUser().state_dir.empty());
}

TEST(ConfigPaths, ApplyDefaultsFillsOnlyWhatIsEmpty) {
  Config c = ParseConfig("[daemon]\nsocket = \"/s.sock\"\n", "/etc/v.toml").value();
  ApplyDefaults(&c, DefaultPaths{"/default/state", "/default.sock"});
  EXPECT_EQ(c.daemon.state_dir, "/default/state");
  EXPECT_EQ(c.daemon.socket, "/s.sock");
}

class ConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vg-config-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(ConfigFiles, LoadReadsAndResolvesAgainstTheFilesDirectory) {
  std::string path = Write("v.toml", "[[service]]\nname = \"a\"\ncommand = [\"a\"]\ncwd = \"w\"\n");
  ConfigResult c = LoadConfig(path);
  ASSERT_TRUE(c.has_value()) << c.error().front().ToString();
  EXPECT_EQ(c->file, path);
  EXPECT_EQ(c->services.at(0).cwd, dir_ + "/w");
}

TEST_F(ConfigFiles, MissingFileIsOneDiagnosticAtLineZero) {
  ConfigResult c = LoadConfig(dir_ + "/absent.toml");
  ASSERT_FALSE(c.has_value());
  ASSERT_EQ(c.error().size(), 1u);
  EXPECT_EQ(c.error()[0].where.line, 0);
  EXPECT_EQ(c.error()[0].where.file, dir_ + "/absent.toml");
  EXPECT_TRUE(
      c.error()[0].ToString().starts_with(dir_ + "/absent.toml: cannot read the config file"))
      << c.error()[0].ToString();
}

TEST_F(ConfigFiles, DirectoryIsNotAConfig) {
  ConfigResult c = LoadConfig(dir_);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error()[0].where.line, 0);
}

TEST_F(ConfigFiles, ErrorsNameTheFileAsGiven) {
  std::string path = Write("bad.toml", "[[service]]\nname = \"a\"\ncommand = \"a\"\n");
  ConfigResult c = LoadConfig(path);
  ASSERT_FALSE(c.has_value());
  EXPECT_TRUE(c.error()[0].ToString().starts_with(path + ":3:11: ")) << c.error()[0].ToString();
}

}  // namespace
}  // namespace vg
