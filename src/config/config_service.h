// Internal to src/config: one [[service]] table → ServiceConfig, and its sub-tables (ready,
// liveness, stop, restart, logs). Problems go to `diags`; the returned value is only meaningful
// when none were added. Not thread-safe (shares the Diagnostics of one ParseConfig call).
#pragma once

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "config/config_reader.h"
#include "config/config_types.h"

namespace vg::config_internal {

// `base_dir`: the config file's directory, absolute, against which relative paths resolve.
ServiceConfig ParseService(const toml::table& table, const std::string& base_dir,
                           Diagnostics* diags);

// Sub-tables. `ports` are the service's, already parsed: "/path" URLs resolve against the first.
ReadyCheck ParseReady(const toml::node& node, const std::vector<int>& ports, Diagnostics* diags);
LivenessCheck ParseLiveness(const toml::node& node, const std::vector<int>& ports,
                            Diagnostics* diags);
StopSpec ParseStop(const toml::node& node, const std::vector<int>& ports, Diagnostics* diags);
RestartSpec ParseRestart(const toml::node& node, Diagnostics* diags);
LogSpec ParseLogs(const toml::node& node, Diagnostics* diags);

// OOM intelligence (config_incidents.cc): a service's on_oom, on_sticky, on_stuck, oom_limit,
// patterns and watchdog keys; the top level's [[pattern]] and [[alert]] tables.
void ParseServiceIncidents(TableReader& r, const std::vector<int>& ports, IncidentSpec* out);
void ParseGlobalIncidents(TableReader& top, GlobalIncidentSpec* out);
// liveness' method, body and expect_body (a regex that must compile).
void ParseProbeExtras(TableReader& r, std::string* method, std::string* body,
                      std::string* expect_body);

// An http:// URL, or a "/path" made into http://127.0.0.1:<first port>/path; nullopt, with a
// diagnostic at `node`, otherwise.
std::optional<std::string> ResolveHttpUrl(const toml::node& node, std::string_view url,
                                          std::string_view name, const std::vector<int>& ports,
                                          Diagnostics* diags);

}  // namespace vg::config_internal
