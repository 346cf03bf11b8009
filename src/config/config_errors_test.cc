#include <gtest/gtest.h>

#include "config/config.h"

namespace vg {
namespace {

// The diagnostics of a config that must not parse, as "line:col: message" strings.
std::vector<std::string> Errors(std::string_view text) {
  ConfigResult parsed = ParseConfig(text, "t.toml");
  EXPECT_FALSE(parsed.has_value()) << "parsed, but should not have";
  std::vector<std::string> out;
  if (parsed) return out;
  for (const ConfigDiagnostic& d : parsed.error()) {
    EXPECT_EQ(d.where.file, "t.toml");
    out.push_back(std::to_string(d.where.line) + ":" + std::to_string(d.where.column) + ": " +
                  d.message);
  }
  return out;
}

// The only diagnostic of `text`.
std::string Error(std::string_view text) {
  std::vector<std::string> errors = Errors(text);
  EXPECT_EQ(errors.size(), 1u) << ::testing::PrintToString(errors);
  return errors.empty() ? "" : errors.front();
}

constexpr std::string_view kHead = "[[service]]\nname = \"a\"\ncommand = [\"a\"]\n";  // lines 1-3

std::string Service(std::string_view rest) { return std::string(kHead) + std::string(rest); }

TEST(ConfigErrors, TomlSyntaxErrorHasLineAndColumn) {
  std::string e = Error("[daemon]\nstate_dir = \n");
  EXPECT_TRUE(e.starts_with("2:13: ")) << e;
}

TEST(ConfigErrors, DiagnosticToStringIsFileLineColMessage) {
  ConfigDiagnostic d{{"/etc/v.toml", 3, 7}, "bad"};
  EXPECT_EQ(d.ToString(), "/etc/v.toml:3:7: bad");
  EXPECT_EQ((ConfigDiagnostic{{"/etc/v.toml", 0, 0}, "missing"}).ToString(),
            "/etc/v.toml: missing");
}

TEST(ConfigErrors, UnknownKeySuggestsTheNearestValidKey) {
  EXPECT_EQ(Error("[[service]]\nname = \"a\"\ncomand = [\"a\"]\ncommand = [\"a\"]\n"),
            "3:1: unknown key 'comand' in [[service]] (did you mean 'command'?)");
  EXPECT_EQ(Error(Service("ready = { log = \"x\", timout = \"1s\" }\n")),
            "4:22: unknown key 'timout' in 'ready' (did you mean 'timeout'?)");
  EXPECT_EQ(Error("[daemon]\nstatedir = \"/x\"\n"),
            "2:1: unknown key 'statedir' in [daemon] (did you mean 'state_dir'?)");
  EXPECT_EQ(Error("[[services]]\nname = \"a\"\n"),
            "1:3: unknown key 'services' at the top level (did you mean 'service'?)");
}

TEST(ConfigErrors, UnknownKeyFarFromAnyValidKeyHasNoSuggestion) {
  EXPECT_EQ(Error(Service("frobnicate = \"yes\"\n")),
            "4:1: unknown key 'frobnicate' in [[service]]");
}

TEST(ConfigErrors, CommandAsStringSaysToWriteAnArray) {
  std::string e = Error("[[service]]\nname = \"a\"\ncommand = \"python main.py\"\n");
  EXPECT_TRUE(e.starts_with("3:11: 'command' must be an array of strings")) << e;
  EXPECT_NE(e.find("no implicit shell"), std::string::npos) << e;
}

TEST(ConfigErrors, CommandMustBeNonEmptyStrings) {
  EXPECT_TRUE(
      Error("[[service]]\nname = \"a\"\ncommand = []\n").starts_with("3:11: 'command' must start"));
  EXPECT_EQ(Error("[[service]]\nname = \"a\"\ncommand = [\"a\", 3]\n"),
            "3:17: 'command' must hold only strings, not an integer");
}

TEST(ConfigErrors, MissingNameAndCommandPointAtTheServiceHeader) {
  std::vector<std::string> e = Errors("\n[[service]]\ncwd = \"/\"\n");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_TRUE(e[0].starts_with("2:1: [[service]] has no 'name'")) << e[0];
  EXPECT_TRUE(e[1].starts_with("2:1: [[service]] has no 'command'")) << e[1];
}

TEST(ConfigErrors, ServiceNamesAreCheckedAndUnique) {
  EXPECT_TRUE(Error("[[service]]\nname = \"My App\"\ncommand = [\"a\"]\n")
                  .starts_with("2:8: invalid service name 'My App'"));
  EXPECT_EQ(Error(Service("\n[[service]]\nname = \"a\"\ncommand = [\"b\"]\n")),
            "6:8: duplicate service name 'a' (first defined at line 2)");
}

TEST(ConfigErrors, GpusAreIndexesOrUuids) {
  std::vector<std::string> e = Errors(Service("gpus = [0, \"1\", -1, \"GPU-x\", 0]\n"));
  ASSERT_EQ(e.size(), 3u) << ::testing::PrintToString(e);
  EXPECT_TRUE(e[0].starts_with("4:12: 'gpus' holds GPU indexes")) << e[0];
  EXPECT_TRUE(e[1].starts_with("4:17: 'gpus': invalid GPU index -1")) << e[1];
  EXPECT_EQ(e[2], "4:30: 'gpus' names the same GPU twice");
  EXPECT_TRUE(Error(Service("gpus = 0\n")).starts_with("4:8: 'gpus' must be an array"));
}

TEST(ConfigErrors, SizesAndDurationsSayHowToWriteThem) {
  EXPECT_EQ(Error(Service("gpus = [0]\nvram = \"14 parsecs\"\n")),
            "5:8: 'vram': invalid size '14 parsecs' (write a size like 14GiB, 512MiB or 10GB)");
  EXPECT_EQ(Error(Service("vram_wait = \"soon\"\n")),
            "4:13: 'vram_wait': invalid duration 'soon' (write a duration like 10s, 500ms, 2m or "
            "1h)");
  EXPECT_TRUE(Error(Service("vram_wait = 10\n"))
                  .starts_with("4:13: 'vram_wait' must be a duration string with a unit"));
  EXPECT_EQ(Error("[gpu]\nreserve = -1\n"), "2:11: 'gpu.reserve' must not be negative");
}

TEST(ConfigErrors, VramNeedsGpus) {
  EXPECT_TRUE(Error(Service("vram = \"1GiB\"\n")).starts_with("4:8: 'vram' needs 'gpus'"));
}

TEST(ConfigErrors, PortsAreInRangeAndUnique) {
  EXPECT_EQ(Error(Service("port = 70000\n")), "4:8: 'port' must be 1..65535, not 70000");
  EXPECT_EQ(Error(Service("ports = [80, 0]\n")), "4:14: 'ports' must hold port numbers 1..65535");
  EXPECT_EQ(Error(Service("ports = [80, 80]\n")), "4:14: 'ports' lists 80 twice");
  EXPECT_EQ(Error(Service("port = 1\nports = [2]\n")), "5:9: set 'port' or 'ports', not both");
}

TEST(ConfigErrors, ReadyTakesExactlyOneCheck) {
  EXPECT_EQ(Error(Service("ready = { timeout = \"5s\" }\n")),
            "4:9: 'ready' needs one of log, http, tcp");
  EXPECT_EQ(Error(Service("ready = { log = \"x\", tcp = 80 }\n")),
            "4:28: 'ready' takes one of log, http, tcp, not several");
  EXPECT_EQ(Error(Service("ready = { tcp = 80, status = 200 }\n")),
            "4:30: 'ready.status' applies only to ready.http");
}

TEST(ConfigErrors, ReadyLogMustBeAValidRegex) {
  std::string e = Error(Service("ready = { log = \"Running on (local\" }\n"));
  EXPECT_TRUE(e.starts_with("4:17: 'ready.log' is not a valid regular expression")) << e;
}

TEST(ConfigErrors, HttpUrlsMustBeHttp) {
  EXPECT_TRUE(Error(Service("ready = { http = \"https://x/\" }\n"))
                  .starts_with("4:18: 'ready.http' must be an http:// URL"));
  EXPECT_TRUE(Error(Service("ready = { http = \"/health\" }\n"))
                  .starts_with("4:18: 'ready.http' is a path, '/health', but the service has no "
                               "'port'"));
  EXPECT_TRUE(Error(Service("liveness = { http = \"ftp://x\" }\n"))
                  .starts_with("4:21: 'liveness.http' must be an http:// URL"));
  EXPECT_TRUE(Error(Service("stop = { release = { http = \"FETCH http://x/\" } }\n"))
                  .starts_with("4:29: 'stop.release.http': invalid HTTP method 'FETCH'"));
  EXPECT_TRUE(Error(Service("url = \"localhost:80\"\n")).starts_with("4:7: 'url' must start with"));
}

TEST(ConfigErrors, LivenessNeedsHttp) {
  EXPECT_TRUE(Error(Service("liveness = { interval = \"1s\" }\n"))
                  .starts_with("4:12: 'liveness' needs 'http'"));
}

TEST(ConfigErrors, ReleaseTakesHttpOrCommand) {
  EXPECT_EQ(Error(Service("stop.release = { timeout = \"1s\" }\n")),
            "4:16: 'stop.release' needs one of http, command");
  EXPECT_TRUE(Error(Service("stop.release = { command = \"curl -X POST x\" }\n"))
                  .starts_with("4:28: 'stop.release.command' must be an array of strings"));
}

TEST(ConfigErrors, BadSignalRestartBackoffLimit) {
  std::vector<std::string> e = Errors(Service(R"(stop = { signal = "SIGFOO" }
restart = { when = "sometimes", backoff = "60s..1s", limit = "5 per hour" }
)"));
  ASSERT_EQ(e.size(), 4u) << ::testing::PrintToString(e);
  EXPECT_TRUE(e[0].starts_with("4:19: 'stop.signal': invalid signal 'SIGFOO'")) << e[0];
  EXPECT_TRUE(e[1].starts_with("5:20: 'restart.when': invalid restart policy 'sometimes'")) << e[1];
  EXPECT_TRUE(
      e[2].starts_with("5:43: 'restart.backoff': invalid backoff '60s..1s': the first "
                       "delay is longer than the cap"))
      << e[2];
  EXPECT_TRUE(e[3].starts_with("5:62: 'restart.limit': invalid start limit '5 per hour'")) << e[3];
}

TEST(ConfigErrors, WrongTypesNameTheTypeFound) {
  EXPECT_EQ(Error(Service("autostart = \"yes\"\n")),
            "4:13: 'autostart' must be true or false, not a string");
  EXPECT_EQ(Error(Service("logs = { keep = \"5\" }\n")),
            "4:17: 'logs.keep' must be an integer, not a string");
  EXPECT_EQ(Error(Service("env = { A = [1] }\n")), "4:13: 'env.A' must be a string, not an array");
  EXPECT_TRUE(Error(Service("ready = \"Running\"\n")).starts_with("4:9: 'ready' must be a table"));
}

TEST(ConfigErrors, ServiceAsPlainTableSaysToUseDoubleBrackets) {
  std::string e = Error("[service]\nname = \"a\"\n");
  EXPECT_TRUE(e.starts_with("1:1: 'service' must be an array of tables")) << e;
  EXPECT_NE(e.find("[[service]]"), std::string::npos);
}

TEST(ConfigErrors, TildeIsNotExpanded) {
  EXPECT_TRUE(
      Error(Service("cwd = \"~/ComfyUI\"\n")).starts_with("4:7: 'cwd': '~' is not expanded"));
}

TEST(ConfigErrors, OffLoopbackListenerNeedsAToken) {
  std::string e = Error("[daemon]\nhttp = \"0.0.0.0:7861\"\n");
  EXPECT_TRUE(
      e.starts_with("2:8: 'daemon.http' listens on 0.0.0.0, off loopback: set daemon.token"))
      << e;
  EXPECT_TRUE(
      ParseConfig("[daemon]\nhttp = \"0.0.0.0:7861\"\ntoken = \"s3cret\"\n", "t").has_value());
  EXPECT_TRUE(ParseConfig("[daemon]\nhttp = \"[::1]:7861\"\n", "t").has_value());
  EXPECT_TRUE(ParseConfig("[daemon]\nhttp = \"localhost:7861\"\n", "t").has_value());
  EXPECT_TRUE(
      Error("[daemon]\nhttp = \"7861\"\n").starts_with("2:8: 'daemon.http': invalid listen"));
  EXPECT_EQ(Error("[daemon]\ntoken = \"a\"\ntoken_file = \"/t\"\n"),
            "3:14: set 'daemon.token' or 'daemon.token_file', not both");
}

TEST(ConfigErrors, ReserveOrPollInBothPlacesIsAnError) {
  EXPECT_EQ(Error("[daemon]\nreserve = \"1GiB\"\n[gpu]\nreserve = \"2GiB\"\n"),
            "4:11: 'reserve' is set in both [daemon] and [gpu]; keep the one in [gpu]");
  EXPECT_EQ(Error("[gpu]\npoll = \"1ms\"\n"), "2:8: 'gpu.poll' must be at least 10ms");
}

TEST(ConfigErrors, ZeroTimeoutsAreRejected) {
  EXPECT_EQ(Error(Service("ready = { tcp = 1, timeout = \"0s\" }\n")),
            "4:30: 'ready.timeout' must be above zero");
}

TEST(ConfigErrors, ManyErrorsAreAllReportedInFileOrder) {
  std::vector<std::string> e = Errors(R"([daemon]
poll = "fast"

[[service]]
name = "Bad Name"
command = "run.sh"
port = 0
gpus = ["gpu0"]
colour = "blue"

[[service]]
name = "ok"
command = ["ok"]
restart = { when = "never" }
)");
  ASSERT_EQ(e.size(), 7u) << ::testing::PrintToString(e);
  EXPECT_TRUE(e[0].starts_with("2:8: 'daemon.poll': invalid duration")) << e[0];
  EXPECT_TRUE(e[1].starts_with("5:8: invalid service name")) << e[1];
  EXPECT_TRUE(e[2].starts_with("6:11: 'command' must be an array")) << e[2];
  EXPECT_TRUE(e[3].starts_with("7:8: 'port' must be 1..65535")) << e[3];
  EXPECT_TRUE(e[4].starts_with("8:9: 'gpus' holds GPU indexes")) << e[4];
  EXPECT_TRUE(e[5].starts_with("9:1: unknown key 'colour' in [[service]]")) << e[5];
  EXPECT_TRUE(e[6].starts_with("14:20: 'restart.when': invalid restart policy 'never'")) << e[6];
}

TEST(ConfigErrors, ProxyNeedsAListenAddressAndAnUpstreamPort) {
  EXPECT_EQ(Error(Service("port = 17860\n[service.proxy]\nupstream_port = 17860\n")),
            "5:1: [service.proxy] needs 'listen', the address clients connect to, like "
            "{ listen = \"0.0.0.0:7860\" }");
  EXPECT_EQ(Error(Service("[service.proxy]\nlisten = \"0.0.0.0:7860\"\n")),
            "4:1: [service.proxy] needs the service's own port: set the service's 'port' (where "
            "it listens, on 127.0.0.1) or proxy.upstream_port");
  std::string bad = Error(Service("port = 17860\nproxy = { listen = \"7860\" }\n"));
  EXPECT_TRUE(bad.starts_with("5:20: 'proxy.listen': invalid listen address '7860'")) << bad;
  EXPECT_EQ(Error(Service("port = 17860\nproxy = { listen = \"0.0.0.0:7860\", upstream = 1 }\n")),
            "5:36: unknown key 'upstream' in [service.proxy]");
  EXPECT_EQ(Error(Service("port = 7860\nproxy = { listen = \"0.0.0.0:7860\" }\n")),
            "5:20: 'proxy.listen' uses port 7860, the service's own port: move the service to "
            "another (internal) port and keep 7860 for the proxy");
  EXPECT_EQ(Error(Service("port = 7860\nproxy = \"0.0.0.0:7861\"\n")),
            "5:9: 'proxy' must be a table, like { listen = \"0.0.0.0:7860\" }, not a string");
}

TEST(ConfigErrors, TwoProxiesCannotShareAPort) {
  std::string text = Service("port = 17860\n[service.proxy]\nlisten = \"0.0.0.0:7860\"\n") +
                     "[[service]]\nname = \"b\"\ncommand = [\"b\"]\nport = 7860\n";
  EXPECT_EQ(Error(text),
            "5:1: 'proxy.listen' of 'a' uses port 7860, which service 'b' uses "
            "already");
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

// Issue 17: `vram = 1` was one byte. A size without a unit is an error (0 is the same in every
// unit and stays allowed).
TEST(ConfigErrorsSizes, ABareNumberIsNotASize) {
  EXPECT_EQ(Error(Service("vram = 1\n")),
            "4:8: 'vram' = 1 has no unit: write a size like \"1GiB\" or \"1MiB\"");
  EXPECT_EQ(Error(Service("vram = \"12\"\n")),
            "4:8: 'vram' = \"12\" has no unit: write a size like \"12GiB\" or \"12MiB\"");
}

}  // namespace
}  // namespace vg
