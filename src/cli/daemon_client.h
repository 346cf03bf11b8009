// The CLI commands that talk to the daemon (`vramguard up`) over its control socket: thin
// clients of the HTTP API (docs/api.md). Operations follow the daemon's events until the outcome
// is known, printing each step, so `vramguard stop i2v` ends with what happened and how long it
// took.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/client.h"
#include "util/error.h"

namespace vg {

struct ClientOptions {
  bool json = false;
};

// What the command line named: --socket and --config (empty: not given).
struct DaemonAddress {
  std::string socket;
  std::string config;
};
// main, once, before it runs a command.
void SetDaemonAddress(DaemonAddress address);

// The daemon's socket, found as cli/socket_discovery.h says (flags, environment, config files,
// the user's and the system's defaults); none answering is an error naming each socket tried.
// Once found, the same socket for the rest of the process.
Result<std::string> ResolveSocket();

// A client of the daemon at ResolveSocket().
Result<ApiClient> DaemonApi();

// One request to the daemon; a non-2xx answer becomes the daemon's {"error","hint"} as an Error.
Result<nlohmann::json> CallDaemon(std::string_view method, const std::string& target,
                                  const std::optional<nlohmann::json>& body = std::nullopt);

// The progress line of a service operation from GET /v1/services/NAME: what it waits for
// ("waiting": VRAM, readiness, a stop's grace, the driver) or else its state; `waited_s` since
// the command began. The key changes only when the kind of wait does.
std::string ServiceWaitText(const nlohmann::json& service, double waited_s);
std::string ServiceWaitKey(const nlohmann::json& service);

Result<int> RunStatus(const std::string& service, const ClientOptions& o);
// op: "start", "stop" or "restart". wait: follow events until the outcome (else return at once).
Result<int> RunServiceOp(const std::string& op, const std::string& service, bool wait,
                         const std::string& timeout, const ClientOptions& o);
Result<int> RunLogs(const std::string& service, bool follow, int lines, const ClientOptions& o);
// One event as `vramguard events` prints it: local time, service, kind, message, and on a second
// line what the policy did about it (`data.action`), when it says.
std::string EventLine(const nlohmann::json& e);
Result<int> RunEvents(bool follow, const std::string& service, const std::string& kind, int limit,
                      const ClientOptions& o);
Result<int> RunReload(const ClientOptions& o);

}  // namespace vg
