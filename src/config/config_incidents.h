// The configuration of OOM intelligence as plain values (docs/config.md): per service, what to
// do for each cause (on_oom, on_sticky, on_stuck), the OOM restart budget, the log-silence
// watchdog and user patterns; at the top level, [[pattern]] and [[alert]] tables.
//
// Plain data like config_types.h (which includes this header); parsed in config_incidents.cc.
#pragma once

#include <string>
#include <vector>

#include "util/units.h"

namespace vg {

enum class OomPolicy { kRestart, kWaitForVram, kIgnore };
enum class CausePolicy { kRestart, kIgnore };  // on_sticky, on_stuck

// A user's signature: `match` (a literal, or an RE2 pattern that compiles) of `kind` (oom,
// oom-probable, sticky, device-lost, port-clash). `id` names it in events: "user:<file line>".
struct UserPattern {
  std::string id;
  std::string match;
  std::string kind;
  bool regex = false;
  std::string what;
};

// No output for `silence` while busy → `stuck`. Busy: the busy probe answers `busy_status` with a
// body matching `busy_expect_body` (when set), or vramguard jobs of the service are running.
struct WatchdogSpec {
  bool enabled = false;
  Millis silence{300000};
  std::string busy_url;          // empty: busy only while vramguard jobs run
  std::string busy_expect_body;  // RE2 pattern; empty: any body
  int busy_status = 200;
  Millis busy_timeout{2000};
};

struct IncidentSpec {
  OomPolicy on_oom = OomPolicy::kRestart;
  CausePolicy on_sticky = CausePolicy::kRestart;
  CausePolicy on_stuck = CausePolicy::kRestart;
  int oom_limit = 5;                  // OOM restarts of a ready instance ...
  Millis oom_window{3600000};         // ... within this window (docs/daemon.md, "The OOM budget")
  std::vector<UserPattern> patterns;  // the service's own, then the top-level ones
  WatchdogSpec watchdog;
};

// One [[alert]]: a webhook (HTTP POST of the event JSON) or a command (event JSON on stdin).
struct AlertSpec {
  std::string webhook;                // http://host:port/path, or empty
  std::vector<std::string> command;   // argv, no shell, or empty
  std::vector<std::string> kinds;     // empty: the default kinds (core/alert_policy.h)
  std::vector<std::string> services;  // empty: all
  Millis dedup{600000};
  Millis timeout{5000};
  int retries = 3;
  std::string where;  // "file:line" of the [[alert]] header, for messages
};

struct GlobalIncidentSpec {
  std::vector<UserPattern> patterns;  // [[pattern]]: for every service
  std::vector<AlertSpec> alerts;      // [[alert]]
};

std::string_view OomPolicyName(OomPolicy p);

}  // namespace vg
