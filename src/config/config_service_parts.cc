// The sub-tables of a [[service]]: ready, liveness, stop (with its release hook), restart, logs.

#include "config/config_service.h"
#include "config/config_values.h"
#include "util/pattern.h"

namespace vg::config_internal {
namespace {

constexpr std::string_view kReadyExample =
    R"({ log = "Running on local URL" }, { http = "/" } or { tcp = 7860 })";

// A duration that must be above zero (a zero timeout or interval is always a mistake).
std::optional<Millis> PositiveDuration(TableReader& r, std::string_view key) {
  std::optional<Millis> d = r.Duration(key);
  if (d && d->count() <= 0) {
    r.diags().Add(r.Node(key)->source(), "'" + r.Name(key) + "' must be above zero");
    return std::nullopt;
  }
  return d;
}

const toml::table* AsTable(const toml::node& node, std::string_view name, std::string_view how,
                           Diagnostics* diags) {
  if (const auto* t = node.as_table()) return t;
  diags->Add(node.source(), "'" + std::string(name) + "' must be a table, like " +
                                std::string(how) + ", not " + std::string(TypeName(node)));
  return nullptr;
}

// The one of `keys` present in `r`'s table; diagnoses none (when required) or several.
const toml::node* OneOf(TableReader& r, std::string_view table_name,
                        std::initializer_list<std::string_view> keys, bool required,
                        std::string* which) {
  const toml::node* found = nullptr;
  std::string names;
  for (std::string_view key : keys) {
    names += (names.empty() ? "" : ", ") + std::string(key);
  }
  for (std::string_view key : keys) {
    const toml::node* node = r.Node(key);
    if (node == nullptr) continue;
    if (found != nullptr) {
      r.diags().Add(node->source(),
                    "'" + std::string(table_name) + "' takes one of " + names + ", not several");
      return nullptr;
    }
    found = node;
    *which = std::string(key);
  }
  if (found == nullptr && required) {
    r.diags().Add(r.table().source(), "'" + std::string(table_name) + "' needs one of " + names);
  }
  return found;
}

}  // namespace

std::optional<std::string> ResolveHttpUrl(const toml::node& node, std::string_view url,
                                          std::string_view name, const std::vector<int>& ports,
                                          Diagnostics* diags) {
  if (IsHttpUrl(url)) return std::string(url);
  if (url.starts_with("/") && url.find(' ') == std::string_view::npos) {
    if (!ports.empty())
      return "http://127.0.0.1:" + std::to_string(ports.front()) + std::string(url);
    diags->Add(node.source(), "'" + std::string(name) + "' is a path, '" + std::string(url) +
                                  "', but the service has no 'port' to complete it; set 'port' "
                                  "or write the whole http:// URL");
    return std::nullopt;
  }
  diags->Add(node.source(), "'" + std::string(name) +
                                "' must be an http:// URL or a \"/path\" on "
                                "the service's port, not '" +
                                std::string(url) + "'");
  return std::nullopt;
}

ReadyCheck ParseReady(const toml::node& node, const std::vector<int>& ports, Diagnostics* diags) {
  ReadyCheck ready;
  const toml::table* table = AsTable(node, "ready", kReadyExample, diags);
  if (table == nullptr) return ready;
  TableReader r(*table, "ready.", "in 'ready'", diags);
  std::string kind;
  const toml::node* check = OneOf(r, "ready", {"log", "http", "tcp"}, true, &kind);
  const toml::node* status = r.Node("status");
  if (kind == "log") {
    if (std::optional<std::string> regex = r.String("log")) {
      Result<Pattern> compiled = Pattern::Compile(*regex);
      if (!compiled) {
        diags->Add(check->source(), "'ready.log' is not a valid regular expression (" +
                                        compiled.error().message + "); " + compiled.error().hint);
      } else if (regex->empty()) {
        diags->Add(check->source(),
                   "'ready.log' must not be empty: write a pattern of the line "
                   "that means ready");
      } else {
        ready.kind = ReadyCheck::Kind::kLog;
        ready.log_regex = *regex;
      }
    }
  } else if (kind == "http") {
    if (std::optional<std::string> url = r.String("http")) {
      if (std::optional<std::string> full =
              ResolveHttpUrl(*check, *url, "ready.http", ports, diags)) {
        ready.kind = ReadyCheck::Kind::kHttp;
        ready.http_url = *full;
      }
    }
    if (std::optional<std::int64_t> s = r.Integer("status", 100, 599)) {
      ready.http_status = static_cast<int>(*s);
    }
  } else if (kind == "tcp") {
    if (std::optional<std::int64_t> port = r.Integer("tcp", 1, 65535)) {
      ready.kind = ReadyCheck::Kind::kTcp;
      ready.tcp_port = static_cast<int>(*port);
    }
  }
  if (status != nullptr && kind != "http" && !kind.empty()) {
    diags->Add(status->source(), "'ready.status' applies only to ready.http");
  }
  if (std::optional<Millis> timeout = PositiveDuration(r, "timeout")) ready.timeout = *timeout;
  r.RejectUnknownKeys();
  return ready;
}

LivenessCheck ParseLiveness(const toml::node& node, const std::vector<int>& ports,
                            Diagnostics* diags) {
  LivenessCheck live;
  const toml::table* table =
      AsTable(node, "liveness", R"({ http = "/", interval = "10s", failures = 3 })", diags);
  if (table == nullptr) return live;
  TableReader r(*table, "liveness.", "in 'liveness'", diags);
  const toml::node* http = r.Node("http");
  if (http == nullptr) {
    diags->Add(table->source(), "'liveness' needs 'http', the URL to probe (like http = \"/\")");
  } else if (std::optional<std::string> url = r.String("http")) {
    if (std::optional<std::string> full =
            ResolveHttpUrl(*http, *url, "liveness.http", ports, diags)) {
      live.enabled = true;
      live.http_url = *full;
    }
  }
  if (r.Node("status") != nullptr && r.Node("expect_status") != nullptr) {
    diags->Add(r.Node("expect_status")->source(),
               "set 'liveness.status' or 'liveness.expect_status', not both");
  } else if (std::optional<std::int64_t> s = r.Integer("status", 100, 599)) {
    live.expect_status = static_cast<int>(*s);
  } else if (std::optional<std::int64_t> e = r.Integer("expect_status", 100, 599)) {
    live.expect_status = static_cast<int>(*e);
  }
  ParseProbeExtras(r, &live.method, &live.body, &live.expect_body);
  if (std::optional<Millis> interval = PositiveDuration(r, "interval")) live.interval = *interval;
  if (std::optional<std::int64_t> f = r.Integer("failures", 1, 1000)) {
    live.failures = static_cast<int>(*f);
  }
  if (std::optional<Millis> timeout = PositiveDuration(r, "timeout")) live.timeout = *timeout;
  r.RejectUnknownKeys();
  return live;
}

namespace {

ReleaseHook ParseRelease(const toml::node& node, const std::vector<int>& ports,
                         Diagnostics* diags) {
  ReleaseHook hook;
  const toml::table* table =
      AsTable(node, "stop.release", R"({ http = "POST http://127.0.0.1:8188/free" })", diags);
  if (table == nullptr) return hook;
  TableReader r(*table, "stop.release.", "in 'stop.release'", diags);
  std::string kind;
  const toml::node* action = OneOf(r, "stop.release", {"http", "command"}, true, &kind);
  if (kind == "http") {
    if (std::optional<std::string> line = r.String("http")) {
      Result<HttpRequestLine> request = ParseHttpRequestLine(*line);
      if (!request) {
        diags->Add(action->source(), "stop.release.http", request.error());
      } else if (std::optional<std::string> url =
                     ResolveHttpUrl(*action, request->url, "stop.release.http", ports, diags)) {
        hook.kind = ReleaseHook::Kind::kHttp;
        hook.method = request->method;
        hook.url = *url;
      }
    }
  } else if (kind == "command") {
    constexpr std::string_view kExample = R"(["curl", "-X", "POST", "http://127.0.0.1:8188/free"])";
    if (action->is_string()) {
      diags->Add(action->source(), "'stop.release.command' must be an array of strings, like " +
                                       std::string(kExample) + ": there is no implicit shell");
    } else if (std::optional<std::vector<std::string>> argv =
                   StringArray(*action, "stop.release.command", kExample, diags)) {
      if (argv->empty() || argv->front().empty()) {
        diags->Add(action->source(), "'stop.release.command' must start with the program to run");
      } else {
        hook.kind = ReleaseHook::Kind::kCommand;
        hook.command = std::move(*argv);
      }
    }
  }
  if (std::optional<Millis> timeout = PositiveDuration(r, "timeout")) hook.timeout = *timeout;
  r.RejectUnknownKeys();
  return hook;
}

}  // namespace

StopSpec ParseStop(const toml::node& node, const std::vector<int>& ports, Diagnostics* diags) {
  StopSpec stop;
  const toml::table* table =
      AsTable(node, "stop", R"({ signal = "SIGTERM", grace = "10s" })", diags);
  if (table == nullptr) return stop;
  TableReader r(*table, "stop.", "in 'stop'", diags);
  if (const toml::node* signal = r.Node("signal")) {
    const auto* name = signal->as_string();
    const auto* number = signal->as_integer();
    if (name == nullptr && number == nullptr) {
      diags->Add(signal->source(),
                 "'stop.signal' must be a signal name like \"SIGTERM\" or a "
                 "number, not " +
                     std::string(TypeName(*signal)));
    } else {
      Result<int> parsed =
          ParseSignal(name != nullptr ? name->get() : std::to_string(number->get()));
      if (parsed) {
        stop.signal = *parsed;
      } else {
        diags->Add(signal->source(), "stop.signal", parsed.error());
      }
    }
  }
  if (std::optional<Millis> grace = r.Duration("grace")) stop.grace = *grace;
  if (const toml::node* release = r.Node("release"))
    stop.release = ParseRelease(*release, ports, diags);
  if (std::optional<Millis> t = PositiveDuration(r, "release_timeout")) stop.release_timeout = *t;
  r.RejectUnknownKeys();
  return stop;
}

RestartSpec ParseRestart(const toml::node& node, Diagnostics* diags) {
  RestartSpec restart;
  if (const auto* when = node.as_string()) {  // restart = "always"
    Result<RestartWhen> parsed = ParseRestartWhen(when->get());
    if (parsed) {
      restart.when = *parsed;
    } else {
      diags->Add(node.source(), "restart", parsed.error());
    }
    return restart;
  }
  const toml::table* table =
      AsTable(node, "restart",
              R"({ when = "on-failure", backoff = "1s..60s", limit = "5 in 10m" })", diags);
  if (table == nullptr) return restart;
  TableReader r(*table, "restart.", "in 'restart'", diags);
  if (std::optional<std::string> when = r.String("when")) {
    Result<RestartWhen> parsed = ParseRestartWhen(*when);
    if (parsed) {
      restart.when = *parsed;
    } else {
      diags->Add(r.Node("when")->source(), "restart.when", parsed.error());
    }
  }
  if (std::optional<std::string> backoff = r.String("backoff")) {
    Result<Backoff> parsed = ParseBackoff(*backoff);
    if (parsed) {
      restart.backoff_min = parsed->min;
      restart.backoff_max = parsed->max;
    } else {
      diags->Add(r.Node("backoff")->source(), "restart.backoff", parsed.error());
    }
  }
  if (std::optional<Millis> reset = PositiveDuration(r, "reset_after"))
    restart.reset_after = *reset;
  if (std::optional<std::string> limit = r.String("limit")) {
    Result<StartLimit> parsed = ParseStartLimit(*limit);
    if (parsed) {
      restart.limit_count = parsed->count;
      restart.limit_window = parsed->window;
    } else {
      diags->Add(r.Node("limit")->source(), "restart.limit", parsed.error());
    }
  }
  r.RejectUnknownKeys();
  return restart;
}

LogSpec ParseLogs(const toml::node& node, Diagnostics* diags) {
  LogSpec logs;
  const toml::table* table = AsTable(node, "logs", R"({ max_size = "10MiB", keep = 5 })", diags);
  if (table == nullptr) return logs;
  TableReader r(*table, "logs.", "in 'logs'", diags);
  if (std::optional<Bytes> size = r.Size("max_size")) {
    if (size->count() < 4096) {
      diags->Add(r.Node("max_size")->source(), "'logs.max_size' must be at least 4KiB");
    } else {
      logs.max_size = *size;
    }
  }
  if (std::optional<std::int64_t> keep = r.Integer("keep", 0, 1000)) {
    logs.keep = static_cast<int>(*keep);
  }
  r.RejectUnknownKeys();
  return logs;
}

}  // namespace vg::config_internal
