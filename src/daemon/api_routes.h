// The control API's endpoints (docs/api.md), wired to the supervisor and the event hub. Handlers
// answer at once; operations (start/stop/restart) return 202 with the event id to follow from.
#pragma once

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
// written with its id (SSE `id:` lines); `Last-Event-ID` resumes after that id.
void AddEventRoutes(Router& router, EventHub& events);

}  // namespace vg
