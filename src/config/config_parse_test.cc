#include <gtest/gtest.h>

#include <csignal>

#include "config/config.h"

namespace vg {
namespace {

// Every key there is, set to something other than its default.
constexpr std::string_view kFull = R"([daemon]
state_dir = "state"
socket = "/run/vg/api.sock"
http = "0.0.0.0:7861"
token_file = "/etc/vramguard/token"
keep_services = true

[gpu]
reserve = "3GiB"
poll = "250ms"

[[service]]
name = "i2v"
command = ["python", "main.py", "--port", "7860", ""]
cwd = "/srv/image-to-video"
env = { HF_HOME = "/srv/hf", CUDA_LAUNCH_BLOCKING = 1, DEBUG = false }
user = "ml"
gpus = [0, "GPU-5a1e0c2d-aaaa-bbbb-cccc-0123456789ab"]
vram = "14GiB"
ports = [7860, 7861]
url = "https://i2v.example/"
ready = { log = "Running on local URL", timeout = "180s" }
liveness = { http = "/health", status = 204, interval = "15s", failures = 4, timeout = "2s" }
stop = { signal = "SIGINT", grace = "20s", release = { http = "PUT http://127.0.0.1:8188/free", timeout = "3s" }, release_timeout = "30s" }
restart = { when = "always", backoff = "2s..90s", reset_after = "10m", limit = "7 in 15m" }
autostart = false
logs = { max_size = "20MiB", keep = 9 }
vram_wait = "2m"

[[service]]
name = "comfy"
command = ["python3", "ComfyUI/main.py"]
port = 8188
ready = { http = "/", status = 200 }
stop.release.command = ["curl", "-X", "POST", "http://127.0.0.1:8188/free"]
restart = "no"
)";

TEST(ConfigParse, FullConfigFillsEveryField) {
  ConfigResult parsed = ParseConfig(kFull, "/etc/vramguard/vramguard.toml");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().front().ToString();
  const Config& c = *parsed;
  EXPECT_EQ(c.file, "/etc/vramguard/vramguard.toml");

  EXPECT_EQ(c.daemon.state_dir, "/etc/vramguard/state");
  EXPECT_EQ(c.daemon.socket, "/run/vg/api.sock");
  EXPECT_EQ(c.daemon.http, "0.0.0.0:7861");
  EXPECT_EQ(c.daemon.token, "");
  EXPECT_EQ(c.daemon.token_file, "/etc/vramguard/token");
  EXPECT_TRUE(c.daemon.keep_services);
  EXPECT_EQ(c.daemon.reserve, Bytes::GiB(3));
  EXPECT_EQ(c.daemon.poll, Millis(250));

  ASSERT_EQ(c.services.size(), 2u);
  const ServiceConfig& s = c.services[0];
  EXPECT_EQ(s.name, "i2v");
  EXPECT_EQ(s.command, (std::vector<std::string>{"python", "main.py", "--port", "7860", ""}));
  EXPECT_EQ(s.cwd, "/srv/image-to-video");
  EXPECT_EQ(s.env, (std::map<std::string, std::string>{
                       {"HF_HOME", "/srv/hf"}, {"CUDA_LAUNCH_BLOCKING", "1"}, {"DEBUG", "false"}}));
  EXPECT_EQ(s.user, std::optional<std::string>("ml"));
  ASSERT_EQ(s.gpus.size(), 2u);
  EXPECT_EQ(s.gpus[0].index, std::optional<unsigned>(0));
  EXPECT_EQ(s.gpus[0].uuid, "");
  EXPECT_EQ(s.gpus[1].index, std::nullopt);
  EXPECT_EQ(s.gpus[1].uuid, "GPU-5a1e0c2d-aaaa-bbbb-cccc-0123456789ab");
  EXPECT_EQ(s.vram, Bytes::GiB(14));
  EXPECT_EQ(s.ports, (std::vector<int>{7860, 7861}));
  EXPECT_EQ(s.url, "https://i2v.example/");

  EXPECT_EQ(s.ready.kind, ReadyCheck::Kind::kLog);
  EXPECT_EQ(s.ready.log_regex, "Running on local URL");
  EXPECT_EQ(s.ready.timeout, Millis(180000));

  EXPECT_TRUE(s.liveness.enabled);
  EXPECT_EQ(s.liveness.http_url, "http://127.0.0.1:7860/health");
  EXPECT_EQ(s.liveness.expect_status, 204);
  EXPECT_EQ(s.liveness.interval, Millis(15000));
  EXPECT_EQ(s.liveness.failures, 4);
  EXPECT_EQ(s.liveness.timeout, Millis(2000));

  EXPECT_EQ(s.stop.signal, SIGINT);
  EXPECT_EQ(s.stop.grace, Millis(20000));
  EXPECT_EQ(s.stop.release.kind, ReleaseHook::Kind::kHttp);
  EXPECT_EQ(s.stop.release.method, "PUT");
  EXPECT_EQ(s.stop.release.url, "http://127.0.0.1:8188/free");
  EXPECT_EQ(s.stop.release.timeout, Millis(3000));
  EXPECT_EQ(s.stop.release_timeout, Millis(30000));

  EXPECT_EQ(s.restart.when, RestartWhen::kAlways);
  EXPECT_EQ(s.restart.backoff_min, Millis(2000));
  EXPECT_EQ(s.restart.backoff_max, Millis(90000));
  EXPECT_EQ(s.restart.reset_after, Millis(600000));
  EXPECT_EQ(s.restart.limit_count, 7);
  EXPECT_EQ(s.restart.limit_window, Millis(900000));

  EXPECT_FALSE(s.autostart);
  EXPECT_EQ(s.logs.max_size, Bytes::MiB(20));
  EXPECT_EQ(s.logs.keep, 9);
  EXPECT_EQ(s.vram_wait, Millis(120000));
  EXPECT_EQ(s.where.file, "/etc/vramguard/vramguard.toml");
  EXPECT_EQ(s.where.line, 12);
  EXPECT_EQ(s.where.column, 1);

  const ServiceConfig& comfy = c.services[1];
  EXPECT_EQ(comfy.name, "comfy");
  EXPECT_EQ(comfy.where.line, 30);
  EXPECT_EQ(comfy.ports, std::vector<int>{8188});
  EXPECT_EQ(comfy.url, "http://127.0.0.1:8188/");
  EXPECT_EQ(comfy.ready.kind, ReadyCheck::Kind::kHttp);
  EXPECT_EQ(comfy.ready.http_url, "http://127.0.0.1:8188/");
  EXPECT_EQ(comfy.ready.http_status, 200);
  EXPECT_EQ(comfy.stop.release.kind, ReleaseHook::Kind::kCommand);
  EXPECT_EQ(comfy.stop.release.command,
            (std::vector<std::string>{"curl", "-X", "POST", "http://127.0.0.1:8188/free"}));
  EXPECT_EQ(comfy.restart.when, RestartWhen::kNo);

  EXPECT_EQ(c.Find("comfy"), &c.services[1]);
  EXPECT_EQ(c.Find("nope"), nullptr);
}

TEST(ConfigParse, MinimalServiceGetsDocumentedDefaults) {
  ConfigResult parsed = ParseConfig(R"([[service]]
name = "a"
command = ["./server"]
)",
                                    "/home/u/vg/vramguard.toml");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().front().ToString();
  const ServiceConfig& s = parsed->services.at(0);
  EXPECT_EQ(s.cwd, "/home/u/vg");  // the config file's directory
  EXPECT_TRUE(s.env.empty());
  EXPECT_FALSE(s.user.has_value());
  EXPECT_TRUE(s.gpus.empty());
  EXPECT_EQ(s.vram, Bytes(0));
  EXPECT_TRUE(s.ports.empty());
  EXPECT_EQ(s.url, "");
  EXPECT_EQ(s.ready.kind, ReadyCheck::Kind::kNone);
  EXPECT_EQ(s.ready.timeout, Millis(180000));
  EXPECT_FALSE(s.liveness.enabled);
  EXPECT_EQ(s.stop.signal, SIGTERM);
  EXPECT_EQ(s.stop.grace, Millis(10000));
  EXPECT_EQ(s.stop.release.kind, ReleaseHook::Kind::kNone);
  EXPECT_EQ(s.stop.release_timeout, Millis(10000));
  EXPECT_EQ(s.restart.when, RestartWhen::kOnFailure);
  EXPECT_EQ(s.restart.backoff_min, Millis(1000));
  EXPECT_EQ(s.restart.backoff_max, Millis(60000));
  EXPECT_EQ(s.restart.reset_after, Millis(300000));
  EXPECT_EQ(s.restart.limit_count, 5);
  EXPECT_EQ(s.restart.limit_window, Millis(600000));
  EXPECT_TRUE(s.autostart);
  EXPECT_EQ(s.logs.max_size, Bytes::MiB(10));
  EXPECT_EQ(s.logs.keep, 5);
  EXPECT_EQ(s.vram_wait, Millis(600000));

  const DaemonConfig& d = parsed->daemon;
  EXPECT_EQ(d.state_dir, "");  // left to ApplyDefaults
  EXPECT_EQ(d.socket, "");
  EXPECT_EQ(d.http, "");
  EXPECT_EQ(d.reserve, Bytes::GiB(2));
  EXPECT_EQ(d.poll, Millis(100));
  EXPECT_FALSE(d.keep_services);
  EXPECT_EQ(d.kernel_log, "/dev/kmsg");
  EXPECT_EQ(d.request_rate, 200);
}

TEST(ConfigParse, RequestRateIsACountOrZeroForNoLimit) {
  ConfigResult off = ParseConfig("[daemon]\nrequest_rate = 0\n", "x.toml");
  ASSERT_TRUE(off.has_value());
  EXPECT_EQ(off->daemon.request_rate, 0);
  ConfigResult high = ParseConfig("[daemon]\nrequest_rate = 50000\n", "x.toml");
  ASSERT_TRUE(high.has_value());
  EXPECT_EQ(high->daemon.request_rate, 50000);
  EXPECT_FALSE(ParseConfig("[daemon]\nrequest_rate = -1\n", "x.toml").has_value());
  EXPECT_FALSE(ParseConfig("[daemon]\nrequest_rate = \"fast\"\n", "x.toml").has_value());
}

TEST(ConfigParse, HttpPublicReadIsABool) {
  EXPECT_FALSE(ParseConfig("", "x.toml")->daemon.http_public_read);
  ConfigResult on = ParseConfig(
      "[daemon]\nhttp = \"127.0.0.1:7861\"\ntoken = \"t\"\nhttp_public_read = true\n", "x.toml");
  ASSERT_TRUE(on.has_value());
  EXPECT_TRUE(on->daemon.http_public_read);
  ConfigResult word = ParseConfig("[daemon]\nhttp_public_read = \"yes\"\n", "x.toml");
  ASSERT_FALSE(word.has_value());
  EXPECT_NE(word.error()[0].ToString().find("'daemon.http_public_read' must be true or false"),
            std::string::npos)
      << word.error()[0].ToString();
}

TEST(ConfigParse, KernelLogIsAnAbsolutePathOrOff) {
  ConfigResult off = ParseConfig("[daemon]\nkernel_log = \"\"\n", "x.toml");
  ASSERT_TRUE(off.has_value());
  EXPECT_EQ(off->daemon.kernel_log, "");
  ConfigResult fifo = ParseConfig("[daemon]\nkernel_log = \"/run/test/kmsg\"\n", "x.toml");
  ASSERT_TRUE(fifo.has_value());
  EXPECT_EQ(fifo->daemon.kernel_log, "/run/test/kmsg");
  ConfigResult relative = ParseConfig("[daemon]\nkernel_log = \"kmsg\"\n", "x.toml");
  ASSERT_FALSE(relative.has_value());
  EXPECT_NE(relative.error()[0].ToString().find("daemon.kernel_log"), std::string::npos);
}

TEST(ConfigParse, ProxyListensAndForwardsToTheServicePort) {
  ConfigResult parsed = ParseConfig(
      "[[service]]\nname = \"webui\"\ncommand = [\"w\"]\nport = 17860\n"
      "[service.proxy]\nlisten = \"0.0.0.0:7860\"\n"
      "[[service]]\nname = \"comfy\"\ncommand = [\"c\"]\nports = [18188, 18189]\n"
      "proxy = { listen = \"[::1]:8188\", upstream_port = 18189 }\n"
      "[[service]]\nname = \"plain\"\ncommand = [\"p\"]\n",
      "x.toml");
  ASSERT_TRUE(parsed.has_value()) << parsed.error()[0].ToString();
  const ProxySpec& webui = parsed->services[0].proxy;
  EXPECT_TRUE(webui.enabled);
  EXPECT_EQ(webui.listen, "0.0.0.0:7860");
  EXPECT_EQ(webui.upstream_port, 17860);  // the service's first port
  EXPECT_EQ(webui.where.line, 5);
  EXPECT_EQ(parsed->services[1].proxy.listen, "[::1]:8188");
  EXPECT_EQ(parsed->services[1].proxy.upstream_port, 18189);
  EXPECT_FALSE(parsed->services[2].proxy.enabled);
}

TEST(ConfigParse, EmptyFileIsAValidConfigWithoutServices) {
  ConfigResult parsed = ParseConfig("", "x.toml");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(parsed->services.empty());
}

TEST(ConfigParse, DesignSketchShapesParse) {
  // the sketch of a config in the product design (less the keys of later issues): single port,
  // inline tables, release hook.
  ConfigResult parsed = ParseConfig(R"([daemon]
state_dir = "/var/lib/vramguard"
http = "127.0.0.1:7861"

[gpu]
reserve = "2GiB"
poll = "100ms"

[[service]]
name = "i2v"
command = ["python", "main.py", "--port", "7860"]
cwd = "/srv/image-to-video"
gpus = [0]
vram = "14GiB"
port = 7860
ready = { log = "Running on local URL", timeout = "180s" }
stop = { grace = "10s", release = { http = "POST http://127.0.0.1:8188/free" } }
restart = { when = "on-failure", backoff = "1s..60s", limit = "5 in 10m" }
)",
                                    "/etc/vramguard/vramguard.toml");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().front().ToString();
  const ServiceConfig& s = parsed->services.at(0);
  EXPECT_EQ(s.url, "http://127.0.0.1:7860/");
  EXPECT_EQ(s.stop.release.method, "POST");
  EXPECT_EQ(parsed->daemon.http, "127.0.0.1:7861");
}

TEST(ConfigParse, ReadyTcpAndHttpWithoutMethod) {
  ConfigResult parsed = ParseConfig(R"([[service]]
name = "a"
command = ["a"]
ready = { tcp = 9000 }
stop = { signal = 2, release = { http = "http://127.0.0.1:1/x" } }

[[service]]
name = "b"
command = ["b"]
ready = { http = "http://127.0.0.1:9/ok", status = 204 }
)",
                                    "/x/c.toml");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().front().ToString();
  EXPECT_EQ(parsed->services[0].ready.kind, ReadyCheck::Kind::kTcp);
  EXPECT_EQ(parsed->services[0].ready.tcp_port, 9000);
  EXPECT_EQ(parsed->services[0].stop.signal, 2);
  EXPECT_EQ(parsed->services[0].stop.release.method, "POST");
  EXPECT_EQ(parsed->services[0].stop.release.url, "http://127.0.0.1:1/x");
  EXPECT_EQ(parsed->services[1].ready.http_url, "http://127.0.0.1:9/ok");
  EXPECT_EQ(parsed->services[1].ready.http_status, 204);
}

TEST(ConfigParse, ReserveAndPollMayAlsoBeInDaemon) {
  ConfigResult parsed = ParseConfig("[daemon]\nreserve = 0\npoll = \"1s\"\n", "c.toml");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().front().ToString();
  EXPECT_EQ(parsed->daemon.reserve, Bytes(0));
  EXPECT_EQ(parsed->daemon.poll, Millis(1000));
}

TEST(ConfigParse, RelativePathsResolveAgainstTheConfigDirectory) {
  ConfigResult parsed = ParseConfig(R"([daemon]
state_dir = "../state"
socket = "run/vg.sock"
token_file = "./token"

[[service]]
name = "a"
command = ["./bin/server"]
cwd = "apps/a/"
)",
                                    "/opt/vg/etc/vramguard.toml");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().front().ToString();
  EXPECT_EQ(parsed->daemon.state_dir, "/opt/vg/state");
  EXPECT_EQ(parsed->daemon.socket, "/opt/vg/etc/run/vg.sock");
  EXPECT_EQ(parsed->daemon.token_file, "/opt/vg/etc/token");
  EXPECT_EQ(parsed->services[0].cwd, "/opt/vg/etc/apps/a");
  EXPECT_EQ(parsed->services[0].command[0], "./bin/server");  // argv is never rewritten
}

// Routes that are jobs: in order, params by JSON pointer, a condition; and what is refused.
constexpr std::string_view kRouteService = R"([[service]]
name = "webui"
command = ["python", "app.py"]
port = 17860
gpus = [0]
vram = "9GiB"
jobs = { endpoint = "POST http://127.0.0.1:17860/generate" }

[service.proxy]
listen = "127.0.0.1:7860"
)";
constexpr std::string_view kRouteParams = R"(
[[service.param]]
name = "resolution"
type = "int"
min = 64
max = 2048
memory_exponent = 2

[[service.param]]
name = "frames"
type = "int"
min = 1
max = 64
default = 16
)";

TEST(ConfigParse, ProxyRoutesThatAreJobs) {
  const std::string text = std::string(kRouteService) + R"(
[[service.proxy.route]]
match = "POST /gradio_api/queue/join"
protocol = "gradio"
ends = "gradio-queue"
params = { resolution = "/data/1" }
when = { "/fn_index" = 2 }

[[service.proxy.route]]
match = "POST /v1/*"
protocol = "openai"
params = { resolution = "/size", frames = "count:/messages" }

[[service.proxy.route]]
match = "GET /queue/join"
ends = "gradio-ws"
params = { resolution = "/data/0" }
)" + std::string(kRouteParams);
  ConfigResult parsed = ParseConfig(text, "/x/c.toml");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().front().ToString();
  const std::vector<DoorRoute>& routes = parsed->services[0].proxy.routes;
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes[2].ends, DoorEnds::kGradioWs);
  EXPECT_EQ(routes[2].method, "GET");
  EXPECT_EQ(routes[0].method, "POST");
  EXPECT_EQ(routes[0].path, "/gradio_api/queue/join");
  EXPECT_EQ(routes[0].protocol, DoorProtocol::kGradio);
  EXPECT_EQ(routes[0].ends, DoorEnds::kGradioQueue);
  EXPECT_EQ(routes[1].ends, DoorEnds::kAnswer);  // the default
  ASSERT_EQ(routes[0].params.size(), 1u);
  EXPECT_EQ(routes[0].params[0].segments, (std::vector<std::string>{"data", "1"}));
  ASSERT_EQ(routes[0].when.size(), 1u);
  EXPECT_EQ(routes[0].when[0].value, 2);
  EXPECT_EQ(routes[1].protocol, DoorProtocol::kOpenAi);
  ASSERT_EQ(routes[1].params.size(), 2u);  // by name: frames, resolution
  EXPECT_EQ(routes[1].params[0].param, "frames");
  EXPECT_EQ(routes[1].params[0].take, DoorParamSource::Take::kCount);
}

TEST(ConfigParse, ProxyRouteMistakesNameTheFix) {
  auto errors = [](const std::string& text) {
    ConfigResult parsed = ParseConfig(text, "c.toml");
    std::string all;
    if (!parsed)
      for (const ConfigDiagnostic& d : parsed.error()) all += d.message + "\n";
    return all;
  };
  const std::string head = std::string(kRouteService);
  EXPECT_NE(
      errors(head + "[[service.proxy.route]]\nmatch = \"POST /g\"\n" + std::string(kRouteParams))
          .find("gives no value for parameter 'resolution', which has no default"),
      std::string::npos);
  EXPECT_NE(errors(head +
                   "[[service.proxy.route]]\nmatch = \"POST /g\"\n"
                   "params = { resolution = \"/r\", width = \"/w\" }\n" +
                   std::string(kRouteParams))
                .find("names no [[service.param]]"),
            std::string::npos);
  EXPECT_NE(errors(head +
                   "[[service.proxy.route]]\nmatch = \"POST /g\"\n"
                   "params = { resolution = \"r\" }\n" +
                   std::string(kRouteParams))
                .find("RFC 6901"),
            std::string::npos);
  EXPECT_NE(errors(head +
                   "[[service.proxy.route]]\nmatch = \"/g\"\nprotocol = \"grpc\"\n"
                   "params = { resolution = \"/r\" }\n" +
                   std::string(kRouteParams))
                .find("use \"generic\", \"openai\" or \"gradio\""),
            std::string::npos);
  EXPECT_NE(errors(head +
                   "[[service.proxy.route]]\nmatch = \"POST /g\"\nends = \"sse\"\n"
                   "params = { resolution = \"/r\" }\n" +
                   std::string(kRouteParams))
                .find("use \"answer\" (the job ends with the request's answer), \"gradio-queue\""),
            std::string::npos);
  EXPECT_NE(errors(head +
                   "[[service.proxy.route]]\nmatch = \"POST /queue/join\"\nends = \"gradio-ws\"\n"
                   "params = { resolution = \"/data/0\" }\n" +
                   std::string(kRouteParams))
                .find("follows a WebSocket, opened with GET"),
            std::string::npos);
  EXPECT_NE(errors("[[service]]\nname = \"w\"\ncommand = [\"w\"]\nport = 17861\n"
                   "[service.proxy]\nlisten = \"127.0.0.1:7861\"\n"
                   "[[service.proxy.route]]\nmatch = \"POST /g\"\n")
                .find("it also needs its job interface"),
            std::string::npos);
}

}  // namespace
}  // namespace vg
