// The daemon's start-up, as a list of steps, each with its reason.
#include "daemon/daemon_main.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <utility>

#include <boost/asio.hpp>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

#include "api/server.h"
#include "clock/clock.h"
#include "config/config.h"
#include "daemon/api_routes.h"
#include "daemon/door.h"
#include "daemon/event_hub.h"
#include "daemon/fleet_agent.h"
#include "daemon/job_manager.h"
#include "daemon/kernel_log_watch.h"
#include "daemon/metrics.h"
#include "daemon/sd_notify.h"
#include "daemon/service_port.h"
#include "daemon/supervisor.h"
#include "daemon/telemetry.h"
#include "daemon/web_routes.h"
#include "fleet/redis_fleet_store.h"
#include "gpu/nvml_probe.h"
#include "ops/observe.h"
#include "proc/cgroup.h"
#include "proc/proc_events.h"
#include "proc/procfs.h"
#include "proc/spawner.h"
#include "proxy/proxy.h"
#include "store/sqlite_job_store.h"
#include "store/sqlite_store.h"
#include "store/state_path.h"

namespace vg {
namespace {

namespace asio = boost::asio;

std::string Diagnostics(const std::vector<ConfigDiagnostic>& diags) {
  std::string out;
  for (const ConfigDiagnostic& d : diags) out += (out.empty() ? "" : "; ") + d.ToString();
  return out;
}

Result<Config> Load(const std::string& path) {
  auto cfg = LoadConfig(path);
  if (!cfg) {
    for (const ConfigDiagnostic& d : cfg.error())
      std::fprintf(stderr, "%s\n", d.ToString().c_str());
    return Fail(ErrorCode::kInvalidArgument, "the configuration " + path + " has errors (above)",
                "fix them; `vramguard check-config " + path + "` checks without starting");
  }
  ApplyDefaults(&*cfg, DefaultPathsForCurrentUser());
  return std::move(*cfg);
}

}  // namespace

Result<int> RunUp(const UpOptions& options) {
  // 1. The configuration: a broken file refuses to start, naming every error with line:col.
  const std::string path = options.config.empty() ? DefaultConfigPath() : options.config;
  auto config = Load(path);
  if (!config) return std::unexpected(config.error());
  const bool keep_services = options.keep_services || config->daemon.keep_services;

  // 2. Log lines without timestamps under systemd (the journal stamps them).
  const bool under_systemd = std::getenv("JOURNAL_STREAM") || std::getenv("INVOCATION_ID");
  std::error_code ec;
  std::filesystem::create_directories(config->daemon.state_dir, ec);
  if (ec) {
    return Fail(
        ErrorCode::kIo,
        "cannot create the state directory " + config->daemon.state_dir + ": " + ec.message(),
        "set [daemon] state_dir to a writable directory");
  }

  // 3. One daemon per state directory: a second one would start every service twice.
  const std::string lock_path = config->daemon.state_dir + "/daemon.lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    Error e = ErrnoError("cannot open the lock file " + lock_path, errno);
    e.hint = "make [daemon] state_dir writable for this user";
    return std::unexpected(e);
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      return Fail(ErrorCode::kIo, "cannot lock " + lock_path + ": " + std::strerror(errno),
                  "put [daemon] state_dir on a local file system that supports flock");
    }
    return Fail(
        ErrorCode::kRefused,
        "another vramguard daemon is running with state directory " + config->daemon.state_dir,
        "stop it first, or give this one its own [daemon] state_dir");
  }

  // Durable state, so a restarted daemon re-adopts its services instead of duplicating them.
  // Checkpoints (docs/state.md): SQLite runs one inside the commit that takes the write-ahead log
  // past 1,000 pages, and that write waits for its fsyncs; the daemon runs it once submissions
  // pause instead, and inside a commit only past kWalInlinePages (40 MiB), so a long burst still
  // keeps the log bounded. The log file keeps its size for reuse: appending past its end costs
  // the kernel more per page than overwriting (measured: cutting it back to 4 MiB after each
  // checkpoint took the gain away).
  constexpr int kWalInlinePages = 10000;
  auto store = SqliteStore::Open(StateDbPath(config->daemon.state_dir),
                                 SqliteStore::Options{.wal_autocheckpoint_pages = kWalInlinePages});
  if (!store) return std::unexpected(store.error());
  // The loop is made before everything that keeps handlers or connections on it, so that it is
  // destroyed after them: the event hub's last subscriber (a follow connection) closes its timer
  // while the loop still exists.
  asio::io_context io;
  EventHub events(**store, !under_systemd);
  // The job queue lives in the same database (docs/jobs.md, "Durability").
  auto job_store =
      SqliteJobStore::Open(StateDbPath(config->daemon.state_dir),
                           SqliteJobStore::Options{.wal_autocheckpoint_pages = kWalInlinePages,
                                                   .idle_checkpoint_pages = 1000});
  if (!job_store) return std::unexpected(job_store.error());

  // 4. Orphans of services are reparented to us, not to init: we reap and account for them.
  const auto subreaper = BecomeChildSubreaper();
  if (!subreaper) events.Log("warning: " + subreaper.error().message);

  // 5. Adapters. No driver is a warning: services still run, VRAM checks are skipped.
  std::unique_ptr<NvmlProbe> nvml;
  std::string gpu_problem;
  if (auto probe = NvmlProbe::Open(NvmlOptions{.library = {}, .shutdown_on_close = true})) {
    nvml = std::move(*probe);
  } else {
    gpu_problem = probe.error().message;
    events.Log("warning: " + gpu_problem + "; VRAM checks are off");
  }
  ProcfsSource procs("/proc", DeviceDir());
  PosixSpawner spawner;
  std::optional<CgroupManager> cgroups;
  if (auto cg = CgroupManager::Detect()) {
    cgroups = std::move(*cg);
  } else {
    events.Log("note: no per-service cgroups (" + cg.error().message +
               "); tracking by tree and tag");
  }

  SupervisorDeps deps{nvml.get(), &procs,      &spawner, cgroups ? &*cgroups : nullptr,
                      &events,    store->get()};
  deps.subreaper = subreaper.has_value();
  deps.open_proc_events = []() -> Result<std::unique_ptr<ProcEventSource>> {
    auto events = NetlinkProcEvents::Open();
    if (!events) return std::unexpected(events.error());
    return std::unique_ptr<ProcEventSource>(std::move(*events));
  };
  Supervisor supervisor(io, deps, *config);
  JobManager jobs(io, supervisor, events, nvml.get(), **job_store);

  // 6. The control API on a Unix socket (0600); TCP only when configured.
  Router router;
  DaemonInfo info{static_cast<int>(getpid()),
                  VRAMGUARD_VERSION,
                  path,
                  config->daemon.socket,
                  config->daemon.state_dir,
                  UnixNowMs(),
                  nvml != nullptr,
                  gpu_problem};
  std::unique_ptr<FleetAgent> fleet;  // [fleet]: made below, once the job routes exist
  auto reload = [&]() -> std::string {
    if (supervisor.shutting_down()) return "the daemon is shutting down";
    auto next = LoadConfig(path);
    if (!next) {
      std::string why = Diagnostics(next.error());
      events.Emit("", "", "config-error",
                  "reload refused, the old configuration keeps running: " + why);
      return why;
    }
    ApplyDefaults(&*next, DefaultPathsForCurrentUser());
    if (fleet)
      (void)fleet->Reconfigure(next->fleet);  // logs what waits for a restart
    else if (next->fleet.enabled)
      events.Log("fleet: [fleet] added: takes effect when the daemon restarts");
    supervisor.Reload(std::move(*next));
    jobs.Reconfigure();
    return "";
  };
  AddApiRoutes(router, supervisor, events, info, reload);
  AddJobRoutes(router, jobs);
  // Fleet mode (docs/fleet.md): one host of a fleet sharing job queues on Redis Streams.
  if (config->fleet.enabled) {
    const FleetConfig& f = config->fleet;
    fleet::RedisEndpoint ep{f.redis_host, f.redis_port,      f.redis_db,  f.user,
                            f.password,   f.connect_timeout, Millis(2000)};
    fleet = std::make_unique<FleetAgent>(io, f, jobs, events,
                                         std::make_unique<fleet::RedisFleetStore>(ep));
  }
  router.Add("GET", "/v1/fleet", [&fleet](const HttpRequest&, const PathParams&) -> HandlerResult {
    if (!fleet)
      return HttpResponse::Error(404, "this daemon is not in a fleet",
                                 "add a [fleet] table to the config (docs/fleet.md)");
    return HttpResponse::Json(200, fleet->Status());
  });
  auto no_fleet = [] {
    return HttpResponse::Error(404, "this daemon is not in a fleet",
                               "add a [fleet] table to the config (docs/fleet.md)");
  };
  router.Add("GET", "/v1/fleet/jobs",
             [&fleet, no_fleet](const HttpRequest& r, const PathParams&) -> HandlerResult {
               if (!fleet) return no_fleet();
               std::size_t limit = 50;
               if (auto it = r.query.find("limit"); it != r.query.end()) {
                 std::size_t v = 0;
                 const std::string& t = it->second;
                 auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
                 if (ec != std::errc() || end != t.data() + t.size() || v < 1 || v > 1000)
                   return HttpResponse::Error(400, "'limit' must be a number from 1 to 1000");
                 limit = v;
               }
               return fleet->RecentJobs(limit);
             });
  router.Add("GET", "/v1/fleet/jobs/{id}",
             [&fleet, no_fleet](const HttpRequest&, const PathParams& p) -> HandlerResult {
               if (!fleet) return no_fleet();
               return fleet->Job(p.at("id"));
             });
  // The last hour of who held VRAM (the dashboard) and the Prometheus metrics: sampled on the
  // loop, so that neither a page load nor a scrape reads the machine (docs/metrics.md).
  Telemetry telemetry(
      io, [&supervisor] { return supervisor.SampleVram(); },
      Telemetry::Options{.interval = config->daemon.history_interval});
  DaemonMetrics metrics(events);
  auto metrics_text = [&]() -> std::string {
    telemetry.Watch();  // a scraper keeps the samples at history_interval
    MetricsInputs in;
    in.sample = telemetry.latest();
    in.sample_unix_ms = telemetry.latest_unix_ms();
    in.sample_cost_s = ToSeconds(telemetry.last_cost());
    in.history_bytes = telemetry.MemoryBytes();
    in.history_samples = telemetry.size();
    in.services = supervisor.Brief();
    in.jobs = jobs.Live();
    std::tie(in.alerts_delivered, in.alerts_failed) = supervisor.AlertTotals();
    in.version = VRAMGUARD_VERSION;
    in.started_unix_ms = info.started_unix_ms;
    in.now_unix_ms = UnixNowMs();
    if (fleet) in.fleet = fleet->Counts();
    return metrics.Render(in);
  };
  AddHistoryRoute(router, telemetry);
  AddMetricsRoute(router, metrics_text);
  AddWebRoutes(router);  // the dashboard (docs/dashboard.md)
  ApiServerOptions api_options;
  api_options.body_limit = std::max(api_options.body_limit, jobs.MaxRequestBody());
  api_options.token = config->daemon.token;
  api_options.public_read = config->daemon.http_public_read;
  api_options.max_requests_per_second = config->daemon.request_rate;
  api_options.request_burst = 2.0 * config->daemon.request_rate;
  if (!config->daemon.token_file.empty()) {
    if (FILE* f = std::fopen(config->daemon.token_file.c_str(), "r")) {
      char buf[512] = {};
      std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
      std::fclose(f);
      std::string t(buf, n);
      while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
      api_options.token = t;
    } else {
      return Fail(ErrorCode::kIo, "cannot read token_file " + config->daemon.token_file);
    }
  }
  ApiServer server(io, router, api_options);
  if (auto r = server.ListenUnix(config->daemon.socket); !r) return std::unexpected(r.error());
  if (!config->daemon.http.empty()) {
    if (auto r = server.ListenTcp(config->daemon.http); !r) return std::unexpected(r.error());
  }
  // Prometheus' own listener: GET /metrics only, no token (it changes nothing).
  Router metrics_router;
  AddMetricsRoute(metrics_router, metrics_text);
  ApiServerOptions metrics_options;
  metrics_options.open_read_only = true;
  metrics_options.max_connections = 64;
  ApiServer metrics_server(io, metrics_router, metrics_options);
  if (!config->daemon.metrics.empty()) {
    if (auto r = metrics_server.ListenTcp(config->daemon.metrics); !r)
      return std::unexpected(r.error());
  }

  // The reverse proxies ([service.proxy], docs/proxy.md): listening from the start, also while
  // their service is stopped. Each is its service's front door (daemon/door.h): a request starts
  // a stopped service and waits until it is ready; requests count as work for idle_unload. One
  // that cannot listen is a warning: the service itself still runs. Changed by a restart of the
  // daemon, not by reload.
  std::unique_ptr<ServicePort> door_port = MakeServicePort(supervisor);
  // Routes that are jobs ([[service.proxy.route]]) go through the job queue.
  JobManagerDoorJobs door_jobs(jobs);
  // The doors let go of door_port and the event hub when this scope ends: a proxy's state can
  // outlive both in the io_context's pending handlers, destroyed with it last.
  std::vector<std::shared_ptr<DoorPolicy>> doors;
  struct CloseDoors {
    std::vector<std::shared_ptr<DoorPolicy>>& doors;
    ~CloseDoors() {
      for (const auto& d : doors) d->Close();
    }
  } close_doors{doors};
  std::vector<std::unique_ptr<ReverseProxy>> proxies;
  std::string proxy_list;  // "webui on 0.0.0.0:7860, …" for the start-up event
  for (const ServiceConfig& service : config->services) {
    if (!service.proxy.enabled) continue;
    doors.push_back(std::make_shared<DoorPolicy>(io, *door_port, events, service.name,
                                                 service.proxy, &door_jobs,
                                                 service.jobs.max_payload.count()));
    auto proxy = std::make_unique<ReverseProxy>(
        io, ProxyOptions{.service = service.name, .upstream_port = service.proxy.upstream_port},
        doors.back());
    if (auto r = proxy->Listen(service.proxy.listen); !r) {
      events.Emit(service.name, "", "warning",
                  r.error().message + (r.error().hint.empty() ? "" : " (" + r.error().hint + ")"));
      continue;
    }
    proxies.push_back(std::move(proxy));
    proxy_list += (proxy_list.empty() ? "" : ", ") + service.name + " on " + service.proxy.listen;
  }

  // 7. Signals: TERM/INT stop everything cleanly (or leave it, with --keep-services); HUP reloads.
  ::signal(SIGPIPE, SIG_IGN);
  SdNotifier notifier;
  asio::signal_set stop_signals(io, SIGTERM, SIGINT);
  asio::signal_set hup(io, SIGHUP);
  bool stopping = false;
  int exit_status = 0;
  // First TERM/INT: shutdown is a state (every new start, restart and job is refused) and each
  // service is stopped and verified. A second one skips what is left of the grace periods
  // (SIGKILL now, still verifying); the exit status says whether anything was left.
  std::function<void()> arm_stop = [&] {
    stop_signals.async_wait([&](const boost::system::error_code& e, int sig) {
      if (e) return;
      if (stopping) {
        supervisor.Hurry();
        arm_stop();
        return;
      }
      stopping = true;
      notifier.Notify("STOPPING=1");
      events.Log(std::string("received SIG") + sigabbrev_np(sig) +
                 (keep_services ? ": exiting, services keep running"
                                : ": stopping every service (again to skip the grace periods)"));
      if (fleet) fleet->Stop();
      jobs.Shutdown();
      supervisor.Shutdown(keep_services, [&](const ShutdownReport& report) {
        for (const std::string& line : report.incomplete)
          events.Log("not verified at exit: " + line);
        if (!report.incomplete.empty()) exit_status = ExitStatusFor(ErrorCode::kTimeout);
        telemetry.Stop();
        for (const auto& proxy : proxies) proxy->Stop();
        metrics_server.Stop();
        server.Stop();
        io.stop();
      });
      arm_stop();
    });
  };
  arm_stop();
  std::function<void()> arm_hup = [&] {
    hup.async_wait([&](const boost::system::error_code& e, int) {
      if (e) return;
      events.Log("received SIGHUP: reloading " + path);
      reload();
      arm_hup();
    });
  };
  arm_hup();
  asio::steady_timer watchdog(io);
  std::function<void()> pet = [&] {
    if (!notifier.watchdog_interval() || stopping) return;
    notifier.Notify("WATCHDOG=1\nSTATUS=" + supervisor.Summary());
    watchdog.expires_after(*notifier.watchdog_interval());
    watchdog.async_wait([&](const boost::system::error_code& e) {
      if (!e) pet();
    });
  };

  // 8. Re-adopt what an earlier daemon left running, start the rest, and say we are ready.
  supervisor.Boot();
  jobs.Boot();
  if (fleet) fleet->Start();
  // The kernel log, for device-lost (Xid 79) and other driver errors; a notice when unreadable.
  KernelLogWatch kernel_log(io, supervisor, nvml.get(), events, config->daemon.kernel_log);
  telemetry.Start();
  events.Emit("", "", "daemon-started",
              "vramguard up: " + std::to_string(config->services.size()) +
                  " services; control socket " + config->daemon.socket +
                  (config->daemon.http.empty() ? "" : "; http " + config->daemon.http) +
                  (config->daemon.metrics.empty() ? "" : "; metrics " + config->daemon.metrics) +
                  (proxy_list.empty() ? "" : "; proxy: " + proxy_list));
  notifier.Notify("READY=1\nSTATUS=" + supervisor.Summary());
  pet();
  io.run();
  return exit_status;
}

}  // namespace vg
