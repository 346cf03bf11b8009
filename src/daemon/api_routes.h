// The control API's endpoints (docs/api.md), wired to the supervisor and the event hub. Handlers
// answer at once; operations (start/stop/restart) return 202 with the event id to follow from.
#pragma once

#include <functional>
#include <string>

#include <string>

#include <nlohmann/json.hpp>

#include "api/http.h"

namespace vg {

class Supervisor;
class EventHub;

struct DaemonInfo {
  int pid = 0;
  std::string version;
  std::string config_file;
  std::string socket;
  std::string state_dir;
  std::int64_t started_unix_ms = 0;
  bool gpu_available = false;
  std::string gpu_problem;
};

// `reload` runs the SIGHUP path (re-read the config file); it returns the problem, or "" on
// success.
void AddApiRoutes(Router& router, Supervisor& supervisor, EventHub& events, const DaemonInfo& info,
                  const std::function<std::string()>& reload);

// GET /v1/events (part of AddApiRoutes): the list, and with follow=1 the stream, each event
// written with its id (SSE `id:` lines); `Last-Event-ID` resumes after that id. A `kind` the
// daemon never records and the store does not hold is a 400 with a did-you-mean; a `service`
// that `service_known` does not know (unset: any) and the store does not hold is a 404.
void AddEventRoutes(Router& router, EventHub& events,
                    std::function<bool(const std::string&)> service_known = {});

}  // namespace vg
