// OOM intelligence keys (docs/config.md): per service on_oom, on_sticky, on_stuck, oom_limit,
// patterns and watchdog; liveness' request and body checks; top-level [[pattern]] and [[alert]].
#include <algorithm>
#include <set>

#include "config/config_service.h"
#include "config/config_values.h"
#include "util/pattern.h"

namespace vg {

std::string_view OomPolicyName(OomPolicy p) {
  switch (p) {
    case OomPolicy::kRestart:
      return "restart";
    case OomPolicy::kWaitForVram:
      return "wait-for-vram";
    case OomPolicy::kIgnore:
      return "ignore";
  }
  return "?";
}

namespace config_internal {
namespace {

constexpr std::string_view kPatternExample =
    R"({ match = "CUDA error: out of memory", kind = "oom", what = "out of memory" })";

// Event kinds an [[alert]] may name: the incident kinds, the watchdog's, and the lifecycle's.
const std::set<std::string>& KnownEventKinds() {
  static const std::set<std::string> kinds = {
      "oom",         "oom-probable",     "sticky",         "device-lost",      "port-clash",
      "stuck",       "failed",           "crashed",        "exited",           "unhealthy",
      "ready",       "ready-timeout",    "start-failed",   "stop-incomplete",  "stopped",
      "spawned",     "port-held",        "vram-timeout",   "waiting-for-vram", "backoff",
      "job-queued",  "job-started",      "job-done",       "job-failed",       "job-cancelled",
      "job-refused", "idle-unload",      "swap-out",       "warning",          "gpu-error",
      "host-oom",    "incident-updated", "start-on-demand"};
  return kinds;
}

bool ValidRegex(const toml::node& node, std::string_view name, const std::string& text,
                Diagnostics* diags) {
  Result<Pattern> compiled = Pattern::Compile(text);
  if (compiled) return true;
  diags->Add(node.source(), "'" + std::string(name) + "' is not a valid regular expression (" +
                                compiled.error().message + "); " + compiled.error().hint);
  return false;
}

std::optional<UserPattern> ParsePattern(const toml::node& node, std::string_view name,
                                        Diagnostics* diags) {
  const auto* table = node.as_table();
  if (table == nullptr) {
    diags->Add(node.source(), "each of '" + std::string(name) + "' must be a table, like " +
                                  std::string(kPatternExample));
    return std::nullopt;
  }
  TableReader r(*table, std::string(name) + ".", "in '" + std::string(name) + "'", diags);
  UserPattern p;
  p.id = "user:" + std::to_string(node.source().begin.line);
  bool ok = true;
  const toml::node* match = r.Node("match");
  if (match == nullptr) {
    diags->Add(table->source(),
               "'" + std::string(name) + "' needs 'match', like " + std::string(kPatternExample));
    ok = false;
  } else if (std::optional<std::string> m = r.String("match")) {
    if (m->empty()) {
      diags->Add(match->source(), "'" + r.Name("match") + "' must not be empty");
      ok = false;
    }
    p.match = *m;
  } else {
    ok = false;
  }
  if (std::optional<bool> regex = r.Bool("regex")) p.regex = *regex;
  if (ok && p.regex) ok = ValidRegex(*match, r.Name("match"), p.match, diags);
  const toml::node* kind = r.Node("kind");
  if (kind == nullptr) {
    diags->Add(table->source(), "'" + std::string(name) +
                                    "' needs 'kind': oom, oom-probable, sticky, device-lost or "
                                    "port-clash");
    ok = false;
  } else if (std::optional<std::string> k = r.String("kind")) {
    static const std::set<std::string> kinds = {"oom", "oom-probable", "sticky", "device-lost",
                                                "port-clash"};
    if (!kinds.count(*k)) {
      diags->Add(kind->source(), "'" + r.Name("kind") +
                                     "' must be oom, oom-probable, sticky, "
                                     "device-lost or port-clash, not '" +
                                     *k + "'");
      ok = false;
    }
    p.kind = *k;
  } else {
    ok = false;
  }
  if (std::optional<std::string> what = r.String("what")) p.what = *what;
  r.RejectUnknownKeys();
  if (!ok) return std::nullopt;
  return p;
}

void ParsePatternArray(const toml::node& node, std::string_view name, std::vector<UserPattern>* out,
                       Diagnostics* diags) {
  const auto* array = node.as_array();
  if (array == nullptr) {
    diags->Add(node.source(), "'" + std::string(name) + "' must be an array of tables, like [" +
                                  std::string(kPatternExample) + "]");
    return;
  }
  for (const toml::node& element : *array) {
    if (auto p = ParsePattern(element, name, diags)) out->push_back(std::move(*p));
  }
}

template <class Policy>
void ParsePolicy(TableReader& r, std::string_view key,
                 const std::vector<std::pair<std::string, Policy>>& names, Policy* out) {
  std::optional<std::string> value = r.String(key);
  if (!value) return;
  std::string list;
  for (const auto& [n, p] : names) {
    list += (list.empty() ? "\"" : ", \"") + n + "\"";
    if (n == *value) {
      *out = p;
      return;
    }
  }
  r.diags().Add(r.Node(key)->source(),
                "'" + r.Name(key) + "' must be one of " + list + ", not '" + *value + "'");
}

void ParseWatchdog(const toml::node& node, const std::vector<int>& ports, WatchdogSpec* w,
                   Diagnostics* diags) {
  constexpr std::string_view kExample =
      R"({ silence = "5m", busy = { http = "/health", expect_body = "\"busy\":true" } })";
  const auto* table = node.as_table();
  if (table == nullptr) {
    diags->Add(node.source(), "'watchdog' must be a table, like " + std::string(kExample));
    return;
  }
  TableReader r(*table, "watchdog.", "in 'watchdog'", diags);
  const toml::node* silence = r.Node("silence");
  if (silence == nullptr) {
    diags->Add(table->source(), "'watchdog' needs 'silence', like " + std::string(kExample));
  } else if (std::optional<Millis> d = r.Duration("silence")) {
    if (d->count() <= 0) {
      diags->Add(silence->source(), "'watchdog.silence' must be above zero");
    } else {
      w->silence = *d;
      w->enabled = true;
    }
  }
  if (const toml::table* busy = r.Table("busy", R"({ http = "/health", expect_body = "…" })")) {
    TableReader b(*busy, "watchdog.busy.", "in 'watchdog.busy'", diags);
    const toml::node* http = b.Node("http");
    if (http == nullptr) {
      diags->Add(busy->source(), "'watchdog.busy' needs 'http', the URL that tells busy");
    } else if (std::optional<std::string> url = b.String("http")) {
      if (auto full = ResolveHttpUrl(*http, *url, "watchdog.busy.http", ports, diags))
        w->busy_url = *full;
    }
    if (std::optional<std::string> body = b.String("expect_body")) {
      if (ValidRegex(*b.Node("expect_body"), "watchdog.busy.expect_body", *body, diags))
        w->busy_expect_body = *body;
    }
    if (std::optional<std::int64_t> s = b.Integer("expect_status", 100, 599))
      w->busy_status = static_cast<int>(*s);
    if (std::optional<Millis> t = b.Duration("timeout")) {
      if (t->count() > 0) w->busy_timeout = *t;
    }
    b.RejectUnknownKeys();
  }
  r.RejectUnknownKeys();
}

std::optional<std::vector<std::string>> NameList(TableReader& r, std::string_view key,
                                                 std::string_view how) {
  const toml::node* node = r.Node(key);
  if (node == nullptr) return std::nullopt;
  return StringArray(*node, r.Name(key), how, &r.diags());
}

std::optional<AlertSpec> ParseAlert(const toml::node& node, Diagnostics* diags) {
  constexpr std::string_view kExample = R"([[alert]] webhook = "http://127.0.0.1:9000/hook")";
  const auto* table = node.as_table();
  if (table == nullptr) {
    diags->Add(node.source(),
               "each alert must be a table ([[alert]]), not " + std::string(TypeName(node)));
    return std::nullopt;
  }
  TableReader r(*table, "alert.", "in [[alert]]", diags);
  AlertSpec a;
  ConfigLocation where = diags->Where(table->source());
  a.where = where.file + ":" + std::to_string(where.line);
  bool ok = true;
  const toml::node* webhook = r.Node("webhook");
  const toml::node* command = r.Node("command");
  if (webhook != nullptr && command != nullptr) {
    diags->Add(command->source(), "an [[alert]] takes 'webhook' or 'command', not both");
    ok = false;
  } else if (webhook == nullptr && command == nullptr) {
    diags->Add(table->source(),
               "an [[alert]] needs 'webhook' (an http:// URL) or 'command' "
               "(an argv array), like " +
                   std::string(kExample));
    ok = false;
  } else if (webhook != nullptr) {
    if (std::optional<std::string> url = r.String("webhook")) {
      if (!IsHttpUrl(*url)) {
        diags->Add(webhook->source(),
                   "'alert.webhook' must be an http://host:port/path URL, not '" + *url + "'");
        ok = false;
      }
      a.webhook = *url;
    }
  } else {
    constexpr std::string_view kCmd = R"(["/usr/local/bin/notify", "--channel", "gpu"])";
    if (command->is_string()) {
      diags->Add(command->source(), "'alert.command' must be an array of strings, like " +
                                        std::string(kCmd) + ": there is no implicit shell");
      ok = false;
    } else if (auto argv = StringArray(*command, "alert.command", kCmd, diags)) {
      if (argv->empty() || argv->front().empty()) {
        diags->Add(command->source(), "'alert.command' must start with the program to run");
        ok = false;
      }
      a.command = std::move(*argv);
    } else {
      ok = false;
    }
  }
  if (auto kinds = NameList(r, "kinds", R"(["oom", "sticky", "device-lost"])")) {
    for (const std::string& k : *kinds) {
      if (k == "alert-failed") {
        diags->Add(r.Node("kinds")->source(),
                   "'alert.kinds' cannot hold alert-failed: a failed alert is never alerted "
                   "(that could loop); it is an event (`vramguard events --kind alert-failed`)");
        ok = false;
      } else if (!KnownEventKinds().count(k)) {
        diags->Add(r.Node("kinds")->source(),
                   "'alert.kinds' names an unknown event kind '" + k +
                       "' (see docs/daemon.md for the kinds, e.g. oom, sticky, crashed)");
        ok = false;
      }
    }
    a.kinds = std::move(*kinds);
  }
  if (auto services = NameList(r, "services", R"(["i2v", "comfyui"])"))
    a.services = std::move(*services);
  if (std::optional<Millis> d = r.Duration("dedup")) a.dedup = *d;
  if (std::optional<Millis> t = r.Duration("timeout")) {
    if (t->count() <= 0) {
      diags->Add(r.Node("timeout")->source(), "'alert.timeout' must be above zero");
    } else {
      a.timeout = *t;
    }
  }
  if (std::optional<std::int64_t> n = r.Integer("retries", 0, 20)) a.retries = static_cast<int>(*n);
  r.RejectUnknownKeys();
  if (!ok) return std::nullopt;
  return a;
}

}  // namespace

void ParseProbeExtras(TableReader& r, std::string* method, std::string* body,
                      std::string* expect_body) {
  if (std::optional<std::string> m = r.String("method")) {
    static const std::set<std::string> methods = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
    if (!methods.count(*m)) {
      r.diags().Add(r.Node("method")->source(), "'" + r.Name("method") +
                                                    "' must be GET, POST, PUT, PATCH, DELETE or "
                                                    "HEAD, not '" +
                                                    *m + "'");
    } else {
      *method = *m;
    }
  }
  if (std::optional<std::string> b = r.String("body")) *body = *b;
  if (std::optional<std::string> e = r.String("expect_body")) {
    if (ValidRegex(*r.Node("expect_body"), r.Name("expect_body"), *e, &r.diags()))
      *expect_body = *e;
  }
}

void ParseServiceIncidents(TableReader& r, const std::vector<int>& ports, IncidentSpec* out) {
  ParsePolicy<OomPolicy>(r, "on_oom",
                         {{"restart", OomPolicy::kRestart},
                          {"wait-for-vram", OomPolicy::kWaitForVram},
                          {"ignore", OomPolicy::kIgnore}},
                         &out->on_oom);
  const std::vector<std::pair<std::string, CausePolicy>> restart_or_ignore = {
      {"restart", CausePolicy::kRestart}, {"ignore", CausePolicy::kIgnore}};
  ParsePolicy(r, "on_sticky", restart_or_ignore, &out->on_sticky);
  ParsePolicy(r, "on_stuck", restart_or_ignore, &out->on_stuck);
  if (std::optional<std::string> limit = r.String("oom_limit")) {
    Result<StartLimit> parsed = ParseStartLimit(*limit);
    if (parsed) {
      out->oom_limit = parsed->count;
      out->oom_window = parsed->window;
    } else {
      r.diags().Add(r.Node("oom_limit")->source(), "oom_limit", parsed.error());
    }
  }
  if (const toml::node* patterns = r.Node("patterns"))
    ParsePatternArray(*patterns, "patterns", &out->patterns, &r.diags());
  if (const toml::node* watchdog = r.Node("watchdog"))
    ParseWatchdog(*watchdog, ports, &out->watchdog, &r.diags());
}

void ParseGlobalIncidents(TableReader& top, GlobalIncidentSpec* out) {
  if (const toml::node* patterns = top.Node("pattern")) {
    if (patterns->is_table()) {
      top.diags().Add(patterns->source(), "write each pattern as [[pattern]], not [pattern]");
    } else {
      ParsePatternArray(*patterns, "pattern", &out->patterns, &top.diags());
    }
  }
  if (const toml::node* alerts = top.Node("alert")) {
    const auto* array = alerts->as_array();
    if (array == nullptr) {
      top.diags().Add(alerts->source(), "write each alert as [[alert]], not [alert]");
    } else {
      for (const toml::node& element : *array) {
        if (auto a = ParseAlert(element, &top.diags())) out->alerts.push_back(std::move(*a));
      }
    }
  }
}

}  // namespace config_internal
}  // namespace vg
