#include <gtest/gtest.h>

#include "config/config.h"

namespace vg {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kIncidentHead =
    "[[service]]\nname = \"a\"\ncommand = [\"a\"]\nport = 7860\n";  // lines 1-4

Config Parse(std::string_view text) {
  ConfigResult parsed = ParseConfig(text, "t.toml");
  EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().front().ToString());
  return parsed ? *parsed : Config{};
}

std::string IncidentError(std::string_view text) {
  ConfigResult parsed = ParseConfig(text, "t.toml");
  EXPECT_FALSE(parsed.has_value());
  if (parsed) return "";
  EXPECT_EQ(parsed.error().size(), 1u) << parsed.error().front().ToString();
  return parsed.error().front().ToString();
}

TEST(ConfigIncidents, DefaultsAreRestartEverything) {
  Config c = Parse(std::string(kIncidentHead));
  const IncidentSpec& i = c.services[0].incidents;
  EXPECT_EQ(i.on_oom, OomPolicy::kRestart);
  EXPECT_EQ(i.on_sticky, CausePolicy::kRestart);
  EXPECT_EQ(i.on_stuck, CausePolicy::kRestart);
  EXPECT_EQ(i.oom_limit, 5);
  EXPECT_EQ(i.oom_window, Millis(3600000));
  EXPECT_FALSE(i.watchdog.enabled);
  EXPECT_TRUE(c.incidents.alerts.empty());
}

TEST(ConfigIncidents, EveryServiceKey) {
  Config c = Parse(std::string(kIncidentHead) + R"(on_oom = "wait-for-vram"
on_sticky = "ignore"
on_stuck = "ignore"
oom_limit = "3 in 30m"
patterns = [{ match = "my model OOM", kind = "oom", what = "model OOM" },
            { match = "^FATAL .*GPU", kind = "sticky", regex = true }]
watchdog = { silence = "2m", busy = { http = "/health", expect_body = "\"busy\":true", timeout = "1s" } }
liveness = { http = "/ping", method = "POST", body = "{}", expect_status = 201, expect_body = "pong" }
)");
  const ServiceConfig& s = c.services[0];
  EXPECT_EQ(s.incidents.on_oom, OomPolicy::kWaitForVram);
  EXPECT_EQ(s.incidents.on_sticky, CausePolicy::kIgnore);
  EXPECT_EQ(s.incidents.on_stuck, CausePolicy::kIgnore);
  EXPECT_EQ(s.incidents.oom_limit, 3);
  EXPECT_EQ(s.incidents.oom_window, Millis(30min));
  ASSERT_EQ(s.incidents.patterns.size(), 2u);
  EXPECT_EQ(s.incidents.patterns[0].match, "my model OOM");
  EXPECT_EQ(s.incidents.patterns[0].kind, "oom");
  EXPECT_EQ(s.incidents.patterns[0].what, "model OOM");
  EXPECT_FALSE(s.incidents.patterns[0].regex);
  EXPECT_TRUE(s.incidents.patterns[1].regex);
  EXPECT_NE(s.incidents.patterns[0].id, s.incidents.patterns[1].id);
  EXPECT_TRUE(s.incidents.watchdog.enabled);
  EXPECT_EQ(s.incidents.watchdog.silence, Millis(2min));
  EXPECT_EQ(s.incidents.watchdog.busy_url, "http://127.0.0.1:7860/health");
  EXPECT_EQ(s.incidents.watchdog.busy_expect_body, "\"busy\":true");
  EXPECT_EQ(s.incidents.watchdog.busy_timeout, Millis(1000));
  EXPECT_EQ(s.liveness.method, "POST");
  EXPECT_EQ(s.liveness.body, "{}");
  EXPECT_EQ(s.liveness.expect_status, 201);
  EXPECT_EQ(s.liveness.expect_body, "pong");
  EXPECT_EQ(s.liveness.http_url, "http://127.0.0.1:7860/ping");
}

TEST(ConfigIncidents, TopLevelPatternsAndAlerts) {
  Config c = Parse(std::string(kIncidentHead) + R"(
[[pattern]]
match = "GPU melted"
kind = "device-lost"

[[alert]]
webhook = "http://127.0.0.1:9000/hook"
kinds = ["oom", "sticky"]
services = ["a"]
dedup = "1m"
timeout = "2s"
retries = 1

[[alert]]
command = ["notify-send", "vramguard"]
)");
  ASSERT_EQ(c.incidents.patterns.size(), 1u);
  EXPECT_EQ(c.incidents.patterns[0].kind, "device-lost");
  ASSERT_EQ(c.incidents.alerts.size(), 2u);
  const AlertSpec& w = c.incidents.alerts[0];
  EXPECT_EQ(w.webhook, "http://127.0.0.1:9000/hook");
  EXPECT_EQ(w.kinds, (std::vector<std::string>{"oom", "sticky"}));
  EXPECT_EQ(w.services, (std::vector<std::string>{"a"}));
  EXPECT_EQ(w.dedup, Millis(60000));
  EXPECT_EQ(w.timeout, Millis(2000));
  EXPECT_EQ(w.retries, 1);
  EXPECT_EQ(w.where, "t.toml:10");
  const AlertSpec& cmd = c.incidents.alerts[1];
  EXPECT_EQ(cmd.command, (std::vector<std::string>{"notify-send", "vramguard"}));
  EXPECT_TRUE(cmd.kinds.empty());
  EXPECT_EQ(cmd.dedup, Millis(600000));
  EXPECT_EQ(cmd.retries, 3);
}

TEST(ConfigIncidents, MistakesNameTheirLine) {
  EXPECT_EQ(IncidentError(std::string(kIncidentHead) + "on_oom = \"reboot\"\n"),
            "t.toml:5:10: 'on_oom' must be one of \"restart\", \"wait-for-vram\", \"ignore\", not "
            "'reboot'");
  EXPECT_EQ(
      IncidentError(std::string(kIncidentHead) +
                    "patterns = [{ match = \"(\", kind = \"oom\", regex = true }]\n")
          .substr(0, 60),
      std::string("t.toml:5:23: 'patterns.match' is not a valid regular expression").substr(0, 60));
  EXPECT_TRUE(IncidentError(std::string(kIncidentHead) +
                            "patterns = [{ match = \"x\", kind = \"boom\" }]\n")
                  .starts_with("t.toml:5:35: 'patterns.kind' must be oom"));
  EXPECT_TRUE(
      IncidentError(std::string(kIncidentHead) + "watchdog = { busy = { http = \"/h\" } }\n")
          .starts_with("t.toml:5:12: 'watchdog' needs 'silence'"));
  EXPECT_TRUE(IncidentError(std::string(kIncidentHead) +
                            "liveness = { http = \"/\", expect_body = \"[\" }\n")
                  .starts_with("t.toml:5:40: 'liveness.expect_body' is not a valid regular"));
  EXPECT_TRUE(IncidentError(std::string(kIncidentHead) + "[[alert]]\nwebhook = \"https://x/\"\n")
                  .starts_with("t.toml:6:11: 'alert.webhook' must be an http://"));
  EXPECT_TRUE(IncidentError(std::string(kIncidentHead) + "[[alert]]\nkinds = [\"oom\"]\n")
                  .starts_with("t.toml:5:1: an [[alert]] needs 'webhook'"));
  EXPECT_TRUE(IncidentError(std::string(kIncidentHead) +
                            "[[alert]]\nwebhook = \"http://h/\"\nkinds = [\"alert-failed\"]\n")
                  .starts_with("t.toml:7:9: 'alert.kinds' cannot hold alert-failed"));
  EXPECT_TRUE(IncidentError(std::string(kIncidentHead) +
                            "[[alert]]\nwebhook = \"http://h/\"\nkinds = [\"oomm\"]\n")
                  .starts_with("t.toml:7:9: 'alert.kinds' names an unknown event kind 'oomm'"));
  EXPECT_TRUE(
      IncidentError(std::string(kIncidentHead) + "[[alert]]\nwebhook = \"http://h/\"\nretry = 2\n")
          .find("retry") != std::string::npos);
  EXPECT_TRUE(IncidentError(std::string(kIncidentHead) + "[[pattern]]\nmatch = \"x\"\n")
                  .starts_with("t.toml:5:1: 'pattern' needs 'kind'"));
}

}  // namespace
}  // namespace vg
