// The configuration as plain values: what `vramguard up` supervises and how (docs/config.md).
//
// These structs are what ParseConfig (config/config.h) produces from a TOML file: every field is
// validated and in its unit type (Bytes, Millis), defaults are already in place, and a field's
// default here is the documented default. They are plain data: copyable, no hidden state,
// thread-compatible. `where` fields point back into the file for messages that name a line.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_incidents.h"
#include "config/config_jobs.h"
#include "core/door_route.h"
#include "util/units.h"

namespace vg {

// A position in a config file; line and column count from 1. Line 0: the file as a whole (it
// could not be read at all).
struct ConfigLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

// One problem found in a config file.
struct ConfigDiagnostic {
  ConfigLocation where;
  std::string message;  // one line, says what is wrong and usually how to write it instead

  // "file:line:col: message" ("file: message" for line 0, "file:line: message" for column 0).
  std::string ToString() const;
};

// When a started service counts as ready. kNone: as soon as it is spawned.
struct ReadyCheck {
  enum class Kind { kNone, kLog, kHttp, kTcp } kind = Kind::kNone;
  std::string log_regex;   // kLog: RE2 pattern searched in each output line (compiles)
  std::string http_url;    // kHttp: absolute http:// URL, probed with GET
  int http_status = 200;   // kHttp: the status that means ready
  int tcp_port = 0;        // kTcp: 127.0.0.1:<port> accepts a connection
  Millis timeout{180000};  // not ready after this long: the start failed
};

// Periodic HTTP probe of a ready service; `failures` misses in a row count as a crash.
struct LivenessCheck {
  bool enabled = false;
  std::string http_url;  // absolute http:// URL
  std::string method = "GET";
  std::string body;         // request body (sent with Content-Type: application/json)
  std::string expect_body;  // RE2 pattern the answer's body must match; empty: any
  int expect_status = 200;
  Millis interval{10000};
  int failures = 3;
  Millis timeout{5000};  // per probe
};

// Asks the service to give its memory back before it is signalled (ComfyUI's POST /free).
struct ReleaseHook {
  enum class Kind { kNone, kHttp, kCommand } kind = Kind::kNone;
  std::string method = "POST";       // kHttp: GET, POST, PUT, PATCH or DELETE
  std::string url;                   // kHttp: absolute http:// URL
  std::vector<std::string> command;  // kCommand: argv, run without a shell
  Millis timeout{5000};              // the hook's own deadline; on expiry the stop goes on
};

struct StopSpec {
  int signal = 15;                // sent to every process of the service first (SIGTERM)
  Millis grace{10000};            // then SIGKILL what is still alive
  ReleaseHook release;            // run before the signal
  Millis release_timeout{10000};  // how long to wait for the driver to give memory back
};

enum class RestartWhen { kNo, kOnFailure, kAlways };

struct RestartSpec {
  RestartWhen when = RestartWhen::kOnFailure;
  Millis backoff_min{1000};    // delay before the first restart, doubled per restart ...
  Millis backoff_max{60000};   // ... up to this
  Millis reset_after{300000};  // a run this long resets the delay to backoff_min
  int limit_count = 5;         // more than limit_count starts within limit_window: state `failed`
  Millis limit_window{600000};
};

struct LogSpec {
  Bytes max_size = Bytes::MiB(10);  // rotate the captured output at this size
  int keep = 5;                     // rotated files kept besides the live one
};

// [service.proxy]: the daemon's reverse proxy in front of the service (docs/proxy.md). The service
// itself listens on upstream_port (127.0.0.1); clients reach it through `listen`.
struct ProxySpec {
  bool enabled = false;
  std::string listen;     // "HOST:PORT" as written ("0.0.0.0:7860", "[::1]:7860")
  int upstream_port = 0;  // default: the service's first port
  // A request while the service is stopped (by a user, idle_unload, a swap) or starting starts
  // it and waits until it is ready, at most hold_timeout; false: answered 503 at once.
  bool start_on_demand = true;
  Millis hold_timeout = std::chrono::minutes(5);
  // [[service.proxy.route]]: requests that are jobs of the service (docs/proxy.md, "Routes that
  // are jobs"), admitted by VRAM like submitted ones; in order, the first match wins.
  std::vector<DoorRoute> routes;
  // A Gradio queue job (ends = "gradio-queue") whose session has no event stream open through
  // the proxy for this long is no longer followed (not a config key: tests shorten it).
  Millis gradio_stream_grace = std::chrono::seconds(60);
  // How often a ComfyUI prompt's job (ends = "comfyui-history") asks the service's /history
  // (not a config key: tests shorten it).
  Millis comfy_poll = std::chrono::milliseconds(250);
  // How long a Gradio 3 WebSocket event (ends = "gradio-ws") waits for VRAM before the door
  // refuses it: Gradio 3 itself gives up on an event whose data does not come within 60 s of
  // asking (not a config key: tests shorten it).
  Millis gradio_ws_hold = std::chrono::seconds(50);
  ConfigLocation where;  // the [service.proxy] table
};

// One GPU, by NVML index or by UUID ("GPU-…"): exactly one of the two is set.
struct GpuSelector {
  std::optional<unsigned> index;
  std::string uuid;
};

struct ServiceConfig {
  std::string name;                        // unique; [a-z0-9][a-z0-9_.-]{0,62}
  std::vector<std::string> command;        // argv; command[0] is looked up in PATH; no shell
  std::string cwd;                         // absolute; default: the config file's directory
  std::map<std::string, std::string> env;  // added to the daemon's environment
  std::optional<std::string> user;         // run as this user (daemon running as root only)
  std::vector<GpuSelector> gpus;           // empty: CUDA_VISIBLE_DEVICES left alone, no VRAM check
  Bytes vram;              // must be free (beyond the reserve) on each of `gpus` before a start
  std::vector<int> ports;  // must be free before a start; 1..65535, no duplicates
  std::string url;  // printed when ready; default http://127.0.0.1:<first port>/ when a port is set
  ReadyCheck ready;
  LivenessCheck liveness;
  StopSpec stop;
  RestartSpec restart;
  bool autostart = true;
  LogSpec logs;
  Millis vram_wait{600000};           // give up waiting for VRAM after this
  IncidentSpec incidents;             // on_oom, on_sticky, on_stuck, oom_limit, patterns, watchdog
  JobsConfig jobs;                    // the job interface (docs/jobs.md); jobs.enabled false: none
  std::optional<Millis> idle_unload;  // stop after this long without jobs; nullopt: never
  ProxySpec proxy;                    // [service.proxy]; proxy.enabled false: none
  ConfigLocation where;               // the [[service]] header

  // A stable hash (16 hex digits, the same across runs and builds) of every field whose change
  // needs a restart to take effect: command, cwd, env, user, gpus, vram, ports, ready. The other
  // fields (url, liveness, stop, restart, autostart, logs, vram_wait, where) apply to a running
  // instance without a restart. Used by SIGHUP reload and stored with an instance's state.
  std::string Fingerprint() const;
};

struct DaemonConfig {
  std::string state_dir;   // absolute once ApplyDefaults ran
  std::string socket;      // Unix socket of the control API; absolute once ApplyDefaults ran
  std::string http;        // optional TCP listener, "127.0.0.1:7861" or "[::1]:7861"; empty: none
  std::string token;       // bearer token for the TCP listener
  std::string token_file;  // absolute; the token is the file's content, trimmed
  // GET/HEAD on the TCP listener without the token (read-only viewers); changes still need it.
  bool http_public_read = false;
  Bytes reserve = Bytes::GiB(2);  // never plan into the last `reserve` of a GPU
  Millis poll{100};               // NVML poll interval
  bool keep_services = false;     // leave services running when the daemon exits
  // Requests per second one API connection may send (sustained; bursts of twice as many); beyond
  // it: 429. 0: no limit.
  int request_rate = 200;
  // Followed for the NVIDIA driver's Xid messages (device-lost, gpu-error); empty: off.
  std::string kernel_log = "/dev/kmsg";
  // A read-only TCP listener for Prometheus (`GET /metrics` only, no token); empty: none.
  std::string metrics;
  // How often the dashboard's history (and the metrics' GPU figures) are sampled.
  Millis history_interval{2000};
};

// [fleet] (docs/fleet.md): this daemon is one host of a fleet sharing job queues on Redis
// Streams. Absent table: `enabled` false and the daemon is an island, as before.
struct FleetConfig {
  bool enabled = false;
  std::string redis;  // the URL as written ("redis://127.0.0.1:6379/0"), for messages
  std::string redis_host = "127.0.0.1";
  int redis_port = 6379;
  int redis_db = 0;
  std::string host;        // this host's stable name: the consumer name and vg:host:<host>
  std::string user;        // ACL user (AUTH user password); empty: the default user
  std::string password;    // empty: no AUTH
  Millis lease{30000};     // a taken entry not renewed for this long may be taken over
  int max_deliveries = 3;  // delivered more often than this: moved to vg:dead
  Millis connect_timeout{2000};
};

struct Config {
  DaemonConfig daemon;
  FleetConfig fleet;
  std::vector<ServiceConfig> services;  // in file order
  GlobalIncidentSpec incidents;         // [[pattern]] and [[alert]]
  std::string file;                     // the path it was read from, as given

  // The service with this name, or nullptr. The pointer lives as long as this Config unchanged.
  const ServiceConfig* Find(std::string_view name) const;
};

}  // namespace vg
