#include "daemon/api_routes.h"

#include <charconv>
#include <chrono>
#include <memory>

#include "clock/clock.h"
#include "config/config_values.h"
#include "daemon/event_hub.h"
#include "daemon/supervisor.h"
#include "util/json_limits.h"

namespace vg {
namespace {

using nlohmann::json;

std::int64_t QueryInt(const HttpRequest& r, const std::string& key, std::int64_t fallback) {
  auto it = r.query.find(key);
  if (it == r.query.end()) return fallback;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  return end && *end == '\0' ? v : fallback;
}

bool QueryFlag(const HttpRequest& r, const std::string& key) {
  auto it = r.query.find(key);
  return it != r.query.end() && (it->second == "1" || it->second == "true" || it->second.empty());
}

std::string QueryString(const HttpRequest& r, const std::string& key) {
  auto it = r.query.find(key);
  return it == r.query.end() ? "" : it->second;
}

HttpResponse Accepted(const Result<std::int64_t>& mark) {
  if (!mark) return ErrorResponse(mark.error());
  return HttpResponse::Json(202, {{"accepted", true}, {"after_id", *mark}});
}

// One event as a line of the follow stream; service output in events may hold invalid UTF-8.
std::string EventLine(const EventRecord& e) {
  return EventJson(e).dump(-1, ' ', false, json::error_handler_t::replace);
}

// The kinds of event the daemon records (docs/daemon.md); a filter naming another kind is a
// typo unless the store holds such events (a user pattern's own kind, an older daemon's).
const std::vector<std::string>& KnownEventKinds() {
  static const std::vector<std::string> kinds = {
      "adopted",        "alert-failed", "backoff",        "config-error",     "crashed",
      "daemon-started", "device-lost",  "exited",         "failed",           "gpu-error",
      "host-oom",       "idle-unload",  "incident",       "incident-updated", "job-cancelled",
      "job-done",       "job-failed",   "job-queued",     "job-refused",      "job-started",
      "noop",           "oom",          "oom-probable",   "port-clash",       "port-free",
      "port-held",      "port-timeout", "ready",          "ready-timeout",    "reaped",
      "release-hook",   "shutdown",     "spawned",        "start-failed",     "start-on-demand",
      "starting",       "sticky",       "stop-escalated", "stop-incomplete",  "stopped",
      "stopping",       "stuck",        "swap-out",       "sweeping",         "swept",
      "unhealthy",      "vram-free",    "vram-timeout",   "waiting-for-vram", "warning"};
  return kinds;
}

// A filter that can match nothing because of a typo is an error that names what exists.
std::optional<HttpResponse> CheckEventFilter(EventHub& events, const EventFilter& f,
                                             const std::function<bool(const std::string&)>& known) {
  auto stored = [&](const std::string& service, const std::string& kind) {
    EventFilter probe;
    probe.service = service;
    probe.kind = kind;
    probe.limit = 1;
    auto found = events.store().ListEvents(probe);
    return found && !found->empty();
  };
  if (!f.kind.empty()) {
    const auto& kinds = KnownEventKinds();
    if (std::find(kinds.begin(), kinds.end(), f.kind) == kinds.end() && !stored("", f.kind)) {
      std::string list;
      for (const std::string& k : kinds) list += (list.empty() ? "" : ", ") + k;
      auto near = NearestKey(f.kind, kinds);
      return HttpResponse::Error(
          400, "no event kind '" + f.kind + "'" + (near ? " (did you mean '" + *near + "'?)" : ""),
          "kinds: " + list);
    }
  }
  if (!f.service.empty() && known && !known(f.service) && !stored(f.service, "")) {
    return HttpResponse::Error(404, "no service named '" + f.service + "'",
                               "see `vramguard status` for the services");
  }
  return std::nullopt;
}

// The `Last-Event-ID` header (SSE resumption): 0 when absent; an id is digits only.
HttpResult<std::int64_t> LastEventId(const HttpRequest& r) {
  std::string_view text = r.Header("last-event-id");
  if (text.empty()) return 0;
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id < 0) {
    return std::unexpected(HttpResponse::Error(
        400, "Last-Event-ID must be an event id (digits), not \"" + AbbreviateText(text) + "\"",
        "send the `id:` of the last event received, or leave it out"));
  }
  return id;
}

bool Matches(const EventRecord& e, const std::string& service, const std::string& kind) {
  return (service.empty() || e.service == service) && (kind.empty() || e.kind == kind);
}

}  // namespace

void AddApiRoutes(Router& router, Supervisor& sup, EventHub& events, const DaemonInfo& info,
                  const std::function<std::string()>& reload) {
  router.Add("GET", "/v1/status",
             [&sup, info](const HttpRequest&, const PathParams&) -> HandlerResult {
               const std::int64_t now = UnixNowMs();
               json daemon = {{"pid", info.pid},
                              {"version", info.version},
                              {"config_file", info.config_file},
                              {"socket", info.socket},
                              {"state_dir", info.state_dir},
                              {"uptime_s", (now - info.started_unix_ms) / 1000.0},
                              {"gpu_available", info.gpu_available},
                              {"summary", sup.Summary()}};
               if (!info.gpu_problem.empty()) daemon["gpu_problem"] = info.gpu_problem;
               return HttpResponse::Json(200, {{"daemon", daemon}, {"services", sup.StatusAll()}});
             });

  router.Add("GET", "/v1/services/{name}",
             [&sup](const HttpRequest&, const PathParams& p) -> HandlerResult {
               auto s = sup.Status(p.at("name"));
               if (!s) return ErrorResponse(s.error());
               return HttpResponse::Json(200, *s);
             });
  router.Add("POST", "/v1/services/{name}/start",
             [&sup](const HttpRequest&, const PathParams& p) -> HandlerResult {
               return Accepted(sup.Start(p.at("name")));
             });
  router.Add("POST", "/v1/services/{name}/stop",
             [&sup](const HttpRequest&, const PathParams& p) -> HandlerResult {
               return Accepted(sup.Stop(p.at("name")));
             });
  router.Add("POST", "/v1/services/{name}/restart",
             [&sup](const HttpRequest&, const PathParams& p) -> HandlerResult {
               return Accepted(sup.Restart(p.at("name")));
             });

  router.Add(
      "GET", "/v1/services/{name}/logs",
      [&sup](const HttpRequest& r, const PathParams& p) -> HandlerResult {
        const std::string name = p.at("name");
        auto lines = sup.LogLines(
            name, static_cast<std::size_t>(std::max<std::int64_t>(0, QueryInt(r, "lines", 100))));
        if (!lines) return ErrorResponse(lines.error());
        if (!QueryFlag(r, "follow"))
          return HttpResponse::Json(200, {{"service", name}, {"lines", *lines}});
        std::vector<std::string> first = *lines;
        return StreamStarter([&sup, name, first](const std::shared_ptr<ResponseStream>& out) {
          for (const std::string& l : first) out->Write(l);
          auto id = std::make_shared<int>(0);
          auto sub = sup.SubscribeLogs(name, [&sup, name, out, id](const std::string& line) {
            if (!out->Write(line)) sup.UnsubscribeLogs(name, *id);
          });
          if (sub) *id = *sub;
        });
      });

  // A service is known when configured (no I/O: the supervisor's brief) or in the events.
  AddEventRoutes(router, events, [&sup](const std::string& name) {
    for (const ServiceBrief& b : sup.Brief())
      if (b.name == name) return true;
    return false;
  });

  router.Add(
      "POST", "/v1/reload", [reload](const HttpRequest& r, const PathParams&) -> HandlerResult {
        if (!r.body.empty()) {  // no parameters yet, but a body must still be well-formed JSON
          auto body = ParseJsonBody(r);
          if (!body) return body.error();
        }
        std::string problem = reload();
        if (!problem.empty()) {
          return HttpResponse::Error(
              422, "the configuration has errors; the old one keeps running: " + problem,
              "fix the file and reload again; `vramguard check-config` shows every error");
        }
        return HttpResponse::Json(200, {{"reloaded", true}});
      });
}

void AddEventRoutes(Router& router, EventHub& events,
                    std::function<bool(const std::string&)> service_known) {
  router.Add(
      "GET", "/v1/events",
      [&events, service_known = std::move(service_known)](const HttpRequest& r,
                                                          const PathParams&) -> HandlerResult {
        EventFilter f;
        auto resumed = LastEventId(r);
        if (!resumed) return std::move(resumed.error());
        // A browser's EventSource reconnects to the same URL, sending the last id it saw: the
        // later of the two is where to go on.
        f.after_id = std::max(QueryInt(r, "after_id", 0), *resumed);
        f.service = QueryString(r, "service");
        f.kind = QueryString(r, "kind");
        f.limit = static_cast<int>(std::clamp<std::int64_t>(QueryInt(r, "limit", 100), 1, 10000));
        if (auto bad = CheckEventFilter(events, f, service_known)) return std::move(*bad);
        auto past = events.store().ListEvents(f);
        if (!past) return ErrorResponse(past.error());
        if (!QueryFlag(r, "follow")) {
          json list = json::array();
          for (const EventRecord& e : *past) list.push_back(EventJson(e));
          return HttpResponse::Json(200, {{"events", list}, {"last_id", events.last_id()}});
        }
        std::vector<EventRecord> replay = std::move(*past);
        std::string service = f.service, kind = f.kind;
        std::int64_t after = f.after_id;
        return StreamStarter(
            [&events, replay, service, kind, after](const std::shared_ptr<ResponseStream>& out) {
              std::int64_t last = after;
              for (const EventRecord& e : replay) {
                out->WriteEvent(std::to_string(e.id), EventLine(e));
                last = std::max(last, e.id);
              }
              auto id = std::make_shared<int>(0);
              *id = events.Subscribe([&events, out, id, service, kind, last](const EventRecord& e) {
                if (e.id <= last || !Matches(e, service, kind)) return;
                if (!out->WriteEvent(std::to_string(e.id), EventLine(e))) events.Unsubscribe(*id);
              });
            });
      });
}

}  // namespace vg
