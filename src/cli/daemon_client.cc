#include "cli/daemon_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/client.h"
#include "api/http.h"
#include "cli/progress.h"
#include "cli/render.h"
#include "cli/socket_discovery.h"
#include "config/config.h"
#include "util/unique_fd.h"
#include "util/units.h"

namespace vg {
namespace {

using nlohmann::json;

std::string Uptime(const json& v) {
  if (!v.is_number()) return "-";
  long s = static_cast<long>(v.get<double>());
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

std::string Vram(const json& by_gpu) {
  if (!by_gpu.is_object() || by_gpu.empty()) return "-";
  std::uint64_t total = 0;
  for (auto& [gpu, b] : by_gpu.items()) total += b.get<std::uint64_t>();
  return FormatBytes(Bytes(total));
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// Terminal event kinds per operation: true = success.
bool Terminal(const std::string& op, const std::string& kind, bool* ok) {
  static const std::set<std::string> start_fail = {"failed",       "port-held",     "vram-timeout",
                                                   "start-failed", "ready-timeout", "crashed"};
  if (op == "stop") {
    if (kind == "stopped") return *ok = true;
    if (kind == "stop-incomplete") return !(*ok = false);
    return false;
  }
  if (kind == "ready" || kind == "noop") return *ok = true;
  if (start_fail.count(kind)) return !(*ok = false);
  return false;
}

}  // namespace

namespace {

DaemonAddress g_address;  // set once by main (SetDaemonAddress)
// The socket found by the first ResolveSocket that found one: a command that calls the daemon
// many times (a start's progress, 4 times a second) neither re-reads the config nor probes again.
std::optional<std::string> g_resolved;

SocketProbe ProbeSocket(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return SocketProbe::kAbsent;
  std::copy(path.begin(), path.end(), addr.sun_path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.ok()) return SocketProbe::kAbsent;
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    return SocketProbe::kAnswers;
  }
  if (errno == EACCES || errno == EPERM) return SocketProbe::kDenied;
  if (errno == EAGAIN) return SocketProbe::kAnswers;  // listening, its backlog full
  return SocketProbe::kAbsent;
}

Result<std::string> ConfigSocket(const std::string& path) {
  if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    return std::unexpected(
        Error{ErrorCode::kNotFound, "no such file", "name the config the daemon was started with"});
  }
  auto cfg = LoadConfig(path);
  if (!cfg) {
    return std::unexpected(Error{ErrorCode::kInvalidArgument, cfg.error().front().ToString(),
                                 "`vramguard check-config " + path + "` lists every error"});
  }
  ApplyDefaults(&*cfg, DefaultPathsForCurrentUser());
  return cfg->daemon.socket;
}

}  // namespace

void SetDaemonAddress(DaemonAddress address) {
  g_address = std::move(address);
  g_resolved.reset();
}

Result<std::string> ResolveSocket() {
  if (g_resolved) return *g_resolved;
  const EnvLookup env = ProcessEnv();
  const bool root = geteuid() == 0;
  SocketInputs in{
      .flag_socket = g_address.socket,
      .env_socket = env("VRAMGUARD_SOCKET").value_or(""),
      .flag_config = g_address.config,
      .env_config = env("VRAMGUARD_CONFIG").value_or(""),
      .default_config = DefaultConfigPathFor(root, env),
      .config_socket = ConfigSocket,
      .user_socket = root ? "" : DefaultPathsFor(false, env).socket,  // root: the system one
      .system_socket = DefaultPathsFor(true, env).socket,
  };
  auto candidates = SocketCandidates(in);
  if (!candidates) return std::unexpected(candidates.error());
  auto chosen = ChooseSocket(*candidates, ProbeSocket);
  if (chosen) g_resolved = *chosen;
  return chosen;
}

Result<ApiClient> DaemonApi() {
  auto socket = ResolveSocket();
  if (!socket) return std::unexpected(socket.error());
  return ApiClient::ForUnixSocket(*socket);
}

Result<json> CallDaemon(std::string_view method, const std::string& target,
                        const std::optional<json>& body) {
  auto api = DaemonApi();
  if (!api) return std::unexpected(api.error());
  auto r = api->Request(method, target, body);
  if (!r) return std::unexpected(r.error());
  if (r->status < 200 || r->status >= 300)
    return std::unexpected(ErrorFromResponse(r->status, r->json));
  return r->json;
}

// "oom 03:10:22" (kind and local time of the service's last incident), or "-".
static std::string IncidentCell(const json& service) {
  if (!service.contains("last_incident") || !service["last_incident"].is_object()) return "-";
  const json& li = service["last_incident"];
  const json& ms = li.contains("time_unix_ms") ? li["time_unix_ms"] : json();
  return li.value("kind", "") + " " +
         (ms.is_number_integer() ? LocalTime(ms.get<std::int64_t>(), true) : std::string("?"));
}

namespace {

// "queued/running/done/failed" for a service that takes jobs ("-" for one that does not):
// running counts starting ones too; done and failed count since the daemon started.
std::string JobsCell(const json& service) {
  if (!service.contains("jobs") || !service["jobs"].is_object()) return "-";
  const json& c = service["jobs"];
  auto n = [&](const char* key) -> long long {
    return c.contains(key) && c[key].is_number_integer() ? c[key].get<long long>() : 0;
  };
  return fmt::format("{}/{}/{}/{}", n("queued"), n("starting") + n("running"),
                     n("done_since_start"), n("failed_since_start"));
}

}  // namespace

Result<int> RunStatus(const std::string& service, const ClientOptions& o) {
  if (!service.empty()) {
    auto s = CallDaemon("GET", "/v1/services/" + UrlEncode(service));
    if (!s) return std::unexpected(s.error());
    if (o.json) {
      std::cout << s->dump(2) << "\n";
      return 0;
    }
    const json& j = *s;
    std::cout << fmt::format("{}: {}", j.value("name", ""), j.value("state", "")) << "\n";
    if (!j.value("detail", "").empty()) std::cout << "  " << j.value("detail", "") << "\n";
    if (j["pid"].is_number()) {
      std::cout << fmt::format("  pid {}  instance {}  up {}  VRAM {}\n", j["pid"].get<int>(),
                               j.value("instance", ""), Uptime(j["uptime_s"]),
                               Vram(j["vram_bytes"]));
    }
    if (j.contains("waiting") && j["waiting"].is_object())
      std::cout << "  " << ServiceWaitText(j, j["waiting"].value("waited_s", 0.0)) << "\n";
    if (!j.value("url", "").empty()) std::cout << "  url " << j.value("url", "") << "\n";
    if (JobsCell(j) != "-") {
      const json& c = j["jobs"];
      std::cout << fmt::format(
          "  jobs: {} queued, {} running; since start {} done, {} failed\n", c.value("queued", 0LL),
          c.value("starting", 0LL) + c.value("running", 0LL), c.value("done_since_start", 0LL),
          c.value("failed_since_start", 0LL));
    }
    if (j.contains("log_file")) std::cout << "  log " << j["log_file"].get<std::string>() << "\n";
    if (j.contains("last_incident") && j["last_incident"].is_object()) {
      const json& li = j["last_incident"];
      std::cout << "  last incident: " << li.value("time", "") << " " << li.value("kind", "")
                << ": " << li.value("sentence", "") << "\n";
      if (!li.value("action", "").empty())
        std::cout << "    action: " << li.value("action", "") << "\n";
    }
    if (j.contains("last_event")) {
      std::cout << "  last event: " << j["last_event"].value("time", "") << " "
                << j["last_event"].value("kind", "") << ": " << j["last_event"].value("message", "")
                << "\n";
    }
    return 0;
  }
  auto s = CallDaemon("GET", "/v1/status");
  if (!s) return std::unexpected(s.error());
  if (o.json) {
    std::cout << s->dump(2) << "\n";
    return 0;
  }
  std::cout << "daemon pid " << (*s)["daemon"].value("pid", 0) << ", up "
            << Uptime((*s)["daemon"]["uptime_s"]) << ", " << (*s)["daemon"].value("summary", "")
            << "\n";
  std::vector<std::vector<std::string>> rows = {{"SERVICE", "STATE", "PID", "VRAM", "UPTIME",
                                                 "RESTARTS", "JOBS Q/RUN/DONE/FAIL", "INCIDENT",
                                                 "DETAIL"}};
  for (const json& j : (*s)["services"]) {
    rows.push_back({j.value("name", ""), j.value("state", ""),
                    j["pid"].is_number() ? std::to_string(j["pid"].get<int>()) : "-",
                    Vram(j["vram_bytes"]), Uptime(j["uptime_s"]),
                    std::to_string(j.value("restarts", 0)), JobsCell(j), IncidentCell(j),
                    j.value("detail", "")});
  }
  std::vector<std::size_t> w(rows[0].size(), 0);
  for (auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  for (auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i] + (i + 1 < r.size() ? std::string(w[i] - r[i].size() + 2, ' ') : "");
    }
    std::cout << line << "\n";
  }
  return 0;
}

std::string ServiceWaitKey(const json& service) {
  const json& w = service.contains("waiting") ? service["waiting"] : json();
  if (w.is_object()) return "waiting-" + w.value("for", "") + "-" + w.value("signal", "");
  return service.value("state", "") + ": " + service.value("detail", "");
}

std::string ServiceWaitText(const json& service, double waited_s) {
  const json& w = service.contains("waiting") ? service["waiting"] : json();
  auto num = [](const json& j, const char* key) {
    return j.contains(key) && j[key].is_number() ? std::optional<double>(j[key].get<double>())
                                                 : std::nullopt;
  };
  if (!w.is_object()) {
    std::string line = service.value("state", "");
    if (!service.value("detail", "").empty()) line += ": " + service.value("detail", "");
    return line + " (" + WaitedText(waited_s) + ")";
  }
  const std::string what = w.value("for", "");
  const double waited = num(w, "waited_s").value_or(0);
  const std::optional<double> left = num(w, "left_s");
  if (what == "vram") {
    std::string line =
        "waiting for VRAM: " + FormatBytes(Bytes(w.value("missing_bytes", std::uint64_t{0}))) +
        " missing";
    std::string held;
    int named = 0;
    for (const json& g : w.value("gpus", json::array())) {
      if (g.value("missing_bytes", std::uint64_t{0}) == 0) continue;
      line += (named++ ? ", GPU " : " on GPU ") + std::to_string(g.value("index", 0));
      for (const json& h : g.value("holders", json::array())) {
        held += (held.empty() ? "" : ", ") + h.value("label", "") + " " +
                FormatBytes(Bytes(h.value("bytes", std::uint64_t{0})));
      }
    }
    if (!held.empty()) line += "; held by " + held;
    line += " (waited " + WaitedText(waited);
    if (left) line += ", gives up in " + WaitedText(*left);
    return line + ")";
  }
  if (what == "ready") {
    std::string line =
        "waiting for readiness: " + w.value("check", "") + " (waited " + WaitedText(waited);
    if (left) line += ", gives up in " + WaitedText(*left);
    return line + ")";
  }
  if (what == "exit") {
    const long n = static_cast<long>(num(w, "processes").value_or(0));
    const std::string procs = fmt::format("{} process{}", n, n == 1 ? "" : "es");
    if (w.value("signal", "") == "SIGKILL")
      return "SIGKILL sent; waiting for " + procs + " to exit (" + WaitedText(waited) + ")";
    return w.value("signal", "SIGTERM") + " sent, " +
           (left ? WaitedText(std::ceil(*left)) : std::string("?")) + " left before SIGKILL (" +
           procs + " still running)";
  }
  if (what == "memory-back") {
    return "all exited; waiting for the driver to give the memory back (" + WaitedText(waited) +
           ")";
  }
  return what + " (" + WaitedText(waited) + ")";
}

Result<int> RunServiceOp(const std::string& op, const std::string& service, bool wait,
                         const std::string& timeout, const ClientOptions& o) {
  auto limit = ParseDuration(timeout);
  if (!limit) return std::unexpected(limit.error());
  auto accepted = CallDaemon("POST", "/v1/services/" + UrlEncode(service) + "/" + op);
  if (!accepted) return std::unexpected(accepted.error());
  std::int64_t after = accepted->value("after_id", 0);
  if (!wait) {
    if (o.json) std::cout << accepted->dump(2) << "\n";
    return 0;
  }
  // Follows the service's events (each step printed) and, while a step takes more than a
  // second, what it waits for (GET /v1/services/NAME "waiting") on a progress line.
  json seen = json::array();
  bool ok = false, done = false;
  std::string last_message;
  const auto begin = std::chrono::steady_clock::now();
  const auto deadline = begin + *limit;
  ProgressLine progress = ProgressLine::ForStderr(o.json);
  const std::string events_target =
      "/v1/events?limit=1000&service=" + UrlEncode(service) + "&after_id=";
  auto last_status = begin - std::chrono::seconds(1);
  while (!done) {
    auto r = CallDaemon("GET", events_target + std::to_string(after));
    if (!r) return std::unexpected(r.error());
    std::vector<json> batch((*r)["events"].begin(), (*r)["events"].end());
    std::sort(batch.begin(), batch.end(), [](const json& a, const json& b) {
      return a.value("id", std::int64_t{0}) < b.value("id", std::int64_t{0});
    });
    for (const json& e : batch) {
      after = std::max(after, e.value("id", std::int64_t{0}));
      seen.push_back(e);
      last_message = e.value("message", "");
      if (!o.json) progress.Above([&] { std::cout << last_message << "\n" << std::flush; });
      // "stopped" is only a step of a restart.
      std::string kind = e.value("kind", "");
      if (Terminal(op, kind, &ok) && !(op == "restart" && kind == "stopped")) {
        done = true;
        break;
      }
    }
    if (done) break;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    if (progress.mode() != ProgressLine::Mode::kSilent && now - begin >= std::chrono::seconds(1) &&
        now - last_status >= std::chrono::milliseconds(250)) {
      last_status = now;
      if (auto st = CallDaemon("GET", "/v1/services/" + UrlEncode(service))) {
        progress.Update(ServiceWaitKey(*st),
                        service + ": " + ServiceWaitText(*st, ToSeconds(now - begin)));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  progress.Keep();
  if (o.json)
    std::cout << json{{"service", service}, {"operation", op}, {"ok", ok}, {"events", seen}}.dump(2)
              << "\n";
  if (!done) {
    return Fail(ErrorCode::kTimeout, op + " " + service + " did not finish within " + timeout,
                "it goes on in the daemon; follow it with `vramguard events --follow --service " +
                    service + "`");
  }
  if (!ok)
    return Fail(ErrorCode::kRefused, op + " " + service + " failed: " + last_message,
                "see `vramguard status " + service + "` and `vramguard logs " + service + "`");
  return 0;
}

Result<int> RunLogs(const std::string& service, bool follow, int lines, const ClientOptions& o) {
  std::string target =
      "/v1/services/" + UrlEncode(service) + "/logs?lines=" + std::to_string(lines);
  if (!follow) {
    auto r = CallDaemon("GET", target);
    if (!r) return std::unexpected(r.error());
    if (o.json) {
      std::cout << r->dump(2) << "\n";
    } else {
      for (const json& l : (*r)["lines"]) std::cout << l.get<std::string>() << "\n";
    }
    return 0;
  }
  auto api = DaemonApi();
  if (!api) return std::unexpected(api.error());
  auto r = api->Stream(target + "&follow=1", [&](std::string_view line) {
    if (o.json) {
      std::cout << json{{"service", service}, {"line", std::string(line)}}.dump() << "\n"
                << std::flush;
    } else {
      std::cout << line << "\n" << std::flush;
    }
    return true;
  });
  if (!r) return std::unexpected(r.error());
  return 0;
}

std::string EventLine(const json& e) {
  const json& ms = e.contains("time_unix_ms") ? e["time_unix_ms"] : json();
  std::string out =
      (ms.is_number_integer() ? LocalTime(ms.get<std::int64_t>()) : e.value("time", "")) + "  " +
      (e.value("service", "").empty() ? "daemon" : e.value("service", "")) + "  " +
      e.value("kind", "") + "  " + e.value("message", "") + "\n";
  // What the policy did (or will do) about an incident: the line a user reads events for.
  if (e.contains("data") && e["data"].is_object() && e["data"].contains("action") &&
      e["data"]["action"].is_string() && !e["data"]["action"].get<std::string>().empty()) {
    out += "    action: " + e["data"]["action"].get<std::string>() + "\n";
  }
  return out;
}

Result<int> RunEvents(bool follow, const std::string& service, const std::string& kind, int limit,
                      const ClientOptions& o) {
  std::string target = "/v1/events?limit=" + std::to_string(limit);
  if (!service.empty()) target += "&service=" + UrlEncode(service);
  if (!kind.empty()) target += "&kind=" + UrlEncode(kind);
  auto print = [&](const json& e) {
    if (o.json && follow) {
      std::cout << e.dump() << "\n" << std::flush;
    } else if (!o.json) {
      std::cout << EventLine(e) << std::flush;
    }
  };
  if (!follow) {
    auto r = CallDaemon("GET", target);
    if (!r) return std::unexpected(r.error());
    if (o.json) {
      std::cout << r->dump(2) << "\n";
    } else {
      for (const json& e : (*r)["events"]) print(e);
    }
    return 0;
  }
  auto api = DaemonApi();
  if (!api) return std::unexpected(api.error());
  auto r = api->Stream(target + "&follow=1", [&](std::string_view line) {
    json e = json::parse(line, nullptr, false);
    if (!e.is_discarded()) print(e);
    return true;
  });
  if (!r) return std::unexpected(r.error());
  return 0;
}

Result<int> RunReload(const ClientOptions& o) {
  auto r = CallDaemon("POST", "/v1/reload");
  if (!r) return std::unexpected(r.error());
  if (o.json) {
    std::cout << r->dump(2) << "\n";
  } else {
    std::cout << "configuration reloaded\n";
  }
  return 0;
}

}  // namespace vg
