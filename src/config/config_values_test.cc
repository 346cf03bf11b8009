#include "config/config_values.h"

#include <gtest/gtest.h>

#include <csignal>

namespace vg {
namespace {

TEST(ConfigValues, SignalsByNameShortNameAndNumber) {
  EXPECT_EQ(ParseSignal("SIGTERM").value(), SIGTERM);
  EXPECT_EQ(ParseSignal("TERM").value(), SIGTERM);
  EXPECT_EQ(ParseSignal("sigint").value(), SIGINT);
  EXPECT_EQ(ParseSignal("INT").value(), SIGINT);
  EXPECT_EQ(ParseSignal("SIGQUIT").value(), SIGQUIT);
  EXPECT_EQ(ParseSignal("HUP").value(), SIGHUP);
  EXPECT_EQ(ParseSignal("SIGUSR1").value(), SIGUSR1);
  EXPECT_EQ(ParseSignal("USR2").value(), SIGUSR2);
  EXPECT_EQ(ParseSignal("KILL").value(), SIGKILL);
  EXPECT_EQ(ParseSignal("9").value(), 9);
  EXPECT_EQ(ParseSignal("64").value(), 64);
  EXPECT_FALSE(ParseSignal("0").has_value());
  EXPECT_FALSE(ParseSignal("65").has_value());
  EXPECT_FALSE(ParseSignal("-15").has_value());
  EXPECT_FALSE(ParseSignal("SIG").has_value());
  EXPECT_FALSE(ParseSignal("TERMINATE").has_value());
  EXPECT_EQ(SignalName(SIGTERM), "SIGTERM");
  EXPECT_EQ(SignalName(40), "signal 40");
}

TEST(ConfigValues, RestartPolicies) {
  EXPECT_EQ(ParseRestartWhen("no").value(), RestartWhen::kNo);
  EXPECT_EQ(ParseRestartWhen("on-failure").value(), RestartWhen::kOnFailure);
  EXPECT_EQ(ParseRestartWhen("always").value(), RestartWhen::kAlways);
  EXPECT_FALSE(ParseRestartWhen("on_failure").has_value());
  EXPECT_EQ(RestartWhenName(RestartWhen::kOnFailure), "on-failure");
}

TEST(ConfigValues, BackoffRangeOrFixed) {
  Backoff b = ParseBackoff("1s..60s").value();
  EXPECT_EQ(b.min, Millis(1000));
  EXPECT_EQ(b.max, Millis(60000));
  b = ParseBackoff("500ms..2m").value();
  EXPECT_EQ(b.min, Millis(500));
  EXPECT_EQ(b.max, Millis(120000));
  b = ParseBackoff("5s").value();
  EXPECT_EQ(b.min, Millis(5000));
  EXPECT_EQ(b.max, Millis(5000));
  EXPECT_FALSE(ParseBackoff("0s..1s").has_value());
  EXPECT_FALSE(ParseBackoff("10s..1s").has_value());
  EXPECT_FALSE(ParseBackoff("1s..").has_value());
  EXPECT_FALSE(ParseBackoff("fast").has_value());
}

TEST(ConfigValues, StartLimit) {
  StartLimit l = ParseStartLimit("5 in 10m").value();
  EXPECT_EQ(l.count, 5);
  EXPECT_EQ(l.window, Millis(600000));
  l = ParseStartLimit(" 3  in 30s ").value();
  EXPECT_EQ(l.count, 3);
  EXPECT_EQ(l.window, Millis(30000));
  EXPECT_FALSE(ParseStartLimit("0 in 10m").has_value());
  EXPECT_FALSE(ParseStartLimit("5 in 0s").has_value());
  EXPECT_FALSE(ParseStartLimit("5 per 10m").has_value());
  EXPECT_FALSE(ParseStartLimit("5").has_value());
  EXPECT_FALSE(ParseStartLimit("-1 in 10m").has_value());
}

TEST(ConfigValues, ListenAddresses) {
  ListenAddress a = ParseListenAddress("127.0.0.1:7861").value();
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 7861);
  EXPECT_TRUE(a.loopback);
  EXPECT_TRUE(ParseListenAddress("127.8.9.10:1").value().loopback);
  EXPECT_TRUE(ParseListenAddress("localhost:80").value().loopback);
  a = ParseListenAddress("[::1]:7861").value();
  EXPECT_EQ(a.host, "::1");
  EXPECT_TRUE(a.loopback);
  EXPECT_FALSE(ParseListenAddress("0.0.0.0:7861").value().loopback);
  EXPECT_FALSE(ParseListenAddress("[::]:7861").value().loopback);
  EXPECT_FALSE(ParseListenAddress("127.0.0.1.evil.com:80").value().loopback);
  EXPECT_FALSE(ParseListenAddress("192.168.1.4:80").value().loopback);
  EXPECT_FALSE(ParseListenAddress("7861").has_value());
  EXPECT_FALSE(ParseListenAddress(":7861").has_value());
  EXPECT_FALSE(ParseListenAddress("host:0").has_value());
  EXPECT_FALSE(ParseListenAddress("host:65536").has_value());
  EXPECT_FALSE(ParseListenAddress("::1:80").has_value());
}

TEST(ConfigValues, HttpUrlsAndRequestLines) {
  EXPECT_TRUE(IsHttpUrl("http://127.0.0.1:8188/free"));
  EXPECT_TRUE(IsHttpUrl("http://localhost"));
  EXPECT_FALSE(IsHttpUrl("https://localhost/"));
  EXPECT_FALSE(IsHttpUrl("http:///x"));
  EXPECT_FALSE(IsHttpUrl("http://a b/"));
  HttpRequestLine r = ParseHttpRequestLine("POST http://127.0.0.1:8188/free").value();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "http://127.0.0.1:8188/free");
  r = ParseHttpRequestLine("http://x/").value();
  EXPECT_EQ(r.method, "POST");
  r = ParseHttpRequestLine("DELETE /cache").value();
  EXPECT_EQ(r.method, "DELETE");
  EXPECT_EQ(r.url, "/cache");
  EXPECT_FALSE(ParseHttpRequestLine("post http://x/").has_value());
  EXPECT_FALSE(ParseHttpRequestLine("POST ftp://x/").has_value());
}

TEST(ConfigValues, ServiceNames) {
  EXPECT_TRUE(IsValidServiceName("i2v"));
  EXPECT_TRUE(IsValidServiceName("0"));
  EXPECT_TRUE(IsValidServiceName("comfy-ui_2.1"));
  EXPECT_TRUE(IsValidServiceName(std::string(63, 'a')));
  EXPECT_FALSE(IsValidServiceName(std::string(64, 'a')));
  EXPECT_FALSE(IsValidServiceName(""));
  EXPECT_FALSE(IsValidServiceName("-x"));
  EXPECT_FALSE(IsValidServiceName(".x"));
  EXPECT_FALSE(IsValidServiceName("I2V"));
  EXPECT_FALSE(IsValidServiceName("a b"));
  EXPECT_FALSE(IsValidServiceName("a/b"));
}

TEST(ConfigValues, NearestKeyFindsPlausibleTypos) {
  std::vector<std::string> keys = {"command", "cwd", "ports", "port", "restart", "ready"};
  EXPECT_EQ(NearestKey("comand", keys), "command");
  EXPECT_EQ(NearestKey("commnad", keys), "command");  // transposition
  EXPECT_EQ(NearestKey("Command", keys), "command");
  EXPECT_EQ(NearestKey("restrat", keys), "restart");
  EXPECT_EQ(NearestKey("cdw", keys), "cwd");
  EXPECT_EQ(NearestKey("prot", keys), "port");
  EXPECT_EQ(NearestKey("colour", keys), std::nullopt);
  EXPECT_EQ(NearestKey("xy", keys), std::nullopt);
}

}  // namespace
}  // namespace vg
