#include "cli/socket_discovery.h"

#include <map>
#include <set>

#include <gtest/gtest.h>

namespace vg {
namespace {

// Config files by path → the socket a daemon started with it listens on.
SocketInputs Inputs(const std::map<std::string, std::string>& configs = {}) {
  SocketInputs in;
  in.default_config = "/home/u/.config/vramguard/vramguard.toml";
  in.user_socket = "/run/user/1000/vramguard.sock";
  in.system_socket = "/run/vramguard/vramguard.sock";
  in.config_socket = [configs](const std::string& path) -> Result<std::string> {
    if (path == "/broken.toml") {
      return std::unexpected(Error{ErrorCode::kInvalidArgument, "/broken.toml:1:1: bad"});
    }
    auto it = configs.find(path);
    if (it == configs.end()) return std::unexpected(Error{ErrorCode::kNotFound, "no such file"});
    return it->second;
  };
  return in;
}

std::vector<std::string> Paths(const Result<std::vector<SocketCandidate>>& r) {
  std::vector<std::string> out;
  for (const SocketCandidate& c : r.value()) out.push_back(c.path + " (" + c.source + ")");
  return out;
}

TEST(SocketDiscovery, NothingNamedTriesUserThenSystem) {
  EXPECT_EQ(
      Paths(SocketCandidates(Inputs())),
      (std::vector<std::string>{"/run/user/1000/vramguard.sock (your default socket)",
                                "/run/vramguard/vramguard.sock (the system daemon's socket)"}));
}

TEST(SocketDiscovery, TheDefaultConfigsSocketComesFirstWhenTheFileExists) {
  auto in = Inputs({{"/home/u/.config/vramguard/vramguard.toml", "/tmp/custom.sock"}});
  EXPECT_EQ(Paths(SocketCandidates(in)),
            (std::vector<std::string>{
                "/tmp/custom.sock (the config /home/u/.config/vramguard/vramguard.toml)",
                "/run/user/1000/vramguard.sock (your default socket)",
                "/run/vramguard/vramguard.sock (the system daemon's socket)"}));
}

TEST(SocketDiscovery, OnePathIsTriedOnce) {
  // root: its default socket is the system daemon's; a config that sets the default too.
  auto in = Inputs({{"/home/u/.config/vramguard/vramguard.toml", "/run/vramguard/vramguard.sock"}});
  in.user_socket = "/run/vramguard/vramguard.sock";
  EXPECT_EQ(Paths(SocketCandidates(in)),
            (std::vector<std::string>{"/run/vramguard/vramguard.sock (the config "
                                      "/home/u/.config/vramguard/vramguard.toml)"}));
}

TEST(SocketDiscovery, ABrokenDefaultConfigIsSkipped) {
  auto in = Inputs();
  in.default_config = "/broken.toml";
  EXPECT_EQ(SocketCandidates(in)->size(), 2u);
}

TEST(SocketDiscovery, WhatTheUserNamesIsTheOnlyOneTriedInThisOrder) {
  auto in = Inputs({{"/a.toml", "/a.sock"}, {"/b.toml", "/b.sock"}});
  in.flag_socket = "/flag.sock";
  in.env_socket = "/env.sock";
  in.flag_config = "/a.toml";
  in.env_config = "/b.toml";
  EXPECT_EQ(Paths(SocketCandidates(in)), std::vector<std::string>{"/flag.sock (--socket)"});
  in.flag_socket.clear();
  EXPECT_EQ(Paths(SocketCandidates(in)), std::vector<std::string>{"/env.sock (VRAMGUARD_SOCKET)"});
  in.env_socket.clear();
  EXPECT_EQ(Paths(SocketCandidates(in)), std::vector<std::string>{"/a.sock (--config /a.toml)"});
  in.flag_config.clear();
  EXPECT_EQ(Paths(SocketCandidates(in)),
            std::vector<std::string>{"/b.sock (VRAMGUARD_CONFIG /b.toml)"});
}

TEST(SocketDiscovery, ANamedConfigThatCannotBeReadIsAnErrorNamingIt) {
  auto in = Inputs();
  in.flag_config = "/missing.toml";
  auto r = SocketCandidates(in);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().message, "--config names /missing.toml: no such file");
  in.flag_config.clear();
  in.env_config = "/broken.toml";
  r = SocketCandidates(in);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "VRAMGUARD_CONFIG names /broken.toml: /broken.toml:1:1: bad");
}

TEST(SocketDiscovery, ChoosesTheFirstThatAnswersOrRefusesThisUser) {
  std::vector<SocketCandidate> c = {{"/a", "your default socket"},
                                    {"/b", "the system daemon's socket"}};
  std::set<std::string> probed;
  auto probe = [&](SocketProbe b_is) {
    return [&, b_is](const std::string& p) {
      probed.insert(p);
      return p == "/b" ? b_is : SocketProbe::kAbsent;
    };
  };
  EXPECT_EQ(ChooseSocket(c, probe(SocketProbe::kAnswers)).value(), "/b");
  EXPECT_EQ(ChooseSocket(c, probe(SocketProbe::kDenied)).value(), "/b");
  EXPECT_EQ(probed, (std::set<std::string>{"/a", "/b"}));
  auto first = [](const std::string&) { return SocketProbe::kAnswers; };
  EXPECT_EQ(ChooseSocket(c, first).value(), "/a");
}

TEST(SocketDiscovery, NoneAnsweringNamesEverySocketTried) {
  std::vector<SocketCandidate> c = {{"/a", "your default socket"},
                                    {"/b", "the system daemon's socket"}};
  auto r = ChooseSocket(c, [](const std::string&) { return SocketProbe::kAbsent; });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().message,
            "no vramguard daemon answers (tried /a (your default socket), /b "
            "(the system daemon's socket))");
  EXPECT_NE(r.error().hint.find("--config"), std::string::npos);
  r = ChooseSocket({{"/x.sock", "--socket"}},
                   [](const std::string&) { return SocketProbe::kAbsent; });
  EXPECT_EQ(r.error().message, "no vramguard daemon answers (tried /x.sock (--socket))");
  EXPECT_EQ(r.error().hint, "start it with `vramguard up` (with that config or socket)");
}

}  // namespace
}  // namespace vg
