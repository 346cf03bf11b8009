#include "daemon/metrics.h"

#include <cstdio>

#include "api/http.h"
#include "core/incident.h"
#include "daemon/event_hub.h"
#include "daemon/telemetry.h"

namespace vg {
namespace {

// Bucket bounds, in base units (seconds, ratio).
const std::vector<double> kWaitBuckets{0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};
const std::vector<double> kRunBuckets{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800};
const std::vector<double> kRatioBuckets{0.25, 0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 2, 4};
const std::vector<double> kReleaseBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5,   1,    2.5,   5,    10,  30};
const std::vector<double> kExitBuckets{0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60};

// Every state a service can be in (SvcStateName), for the one-hot state gauge.
const char* const kServiceStates[] = {"stopped", "starting", "waiting-for-vram", "waiting-for-port",
                                      "running", "stopping", "backoff",          "failed"};

double Number(const nlohmann::json& data, const char* key, double fallback = -1) {
  auto it = data.find(key);
  return it != data.end() && it->is_number() ? it->get<double>() : fallback;
}

std::string Int(std::int64_t v) { return std::to_string(v); }

}  // namespace

DaemonMetrics::PerService::PerService()
    : wait(kWaitBuckets),
      run(kRunBuckets),
      estimate(kRatioBuckets),
      release(kReleaseBuckets),
      exit(kExitBuckets) {}

DaemonMetrics::DaemonMetrics() = default;

DaemonMetrics::DaemonMetrics(EventHub& events) : events_(&events) {
  subscription_ = events.Subscribe([this](const EventRecord& e) { OnEvent(e); });
}

DaemonMetrics::~DaemonMetrics() {
  if (events_) events_->Unsubscribe(subscription_);
}

DaemonMetrics::PerService& DaemonMetrics::For(const std::string& service) {
  return services_.try_emplace(service).first->second;
}

void DaemonMetrics::OnEvent(const EventRecord& e) {
  // Kinds are the daemon's own words, a fixed set: bounded cardinality.
  ++events_by_kind_[e.kind];
  if (auto kind = ParseIncidentKind(e.kind); kind && *kind != IncidentKind::kReady) {
    ++For(e.service).incidents[e.kind];
    return;
  }
  const nlohmann::json& d = e.data;
  if (e.kind == "job-queued") {
    ++For(e.service).queued;
  } else if (e.kind == "job-refused") {
    ++For(e.service).refused;
  } else if (e.kind == "job-started") {
    if (double w = Number(d, "waited_s"); w >= 0) For(e.service).wait.Observe(w);
  } else if (e.kind == "job-done" || e.kind == "job-failed" || e.kind == "job-cancelled") {
    PerService& s = For(e.service);
    ++s.finished[e.kind.substr(4) == "done" ? "done" : e.kind.substr(4)];
    if (double r = Number(d, "run_s"); r >= 0) s.run.Observe(r);
    const double est = Number(d, "estimate_bytes");
    const double obs = Number(d, "observed_peak_bytes");
    if (est > 0 && obs >= 0 && d.value("observation", "") == "exact") s.estimate.Observe(obs / est);
  } else if (e.kind == "stopped" || e.kind == "reaped" || e.kind == "stop-incomplete") {
    PerService& s = For(e.service);
    if (e.kind == "stop-incomplete") ++s.unverified_stops;
    if (double x = Number(d, "exit_s"); x >= 0 && Number(d, "signalled", 0) > 0) s.exit.Observe(x);
    if (double b = Number(d, "back_s");
        b >= 0 && d.value("verified", false) && Number(d, "expected_bytes", 0) > 0)
      s.release.Observe(b);
  }
}

std::string DaemonMetrics::Render(const MetricsInputs& in) const {
  PromWriter w;
  w.Begin("vramguard_build_info", "gauge", "The running vramguard daemon: 1, labelled by version.");
  w.Sample("vramguard_build_info", {{"version", in.version}}, 1);
  w.Begin("vramguard_daemon_start_time_seconds", "gauge",
          "When the daemon started, in seconds since the Unix epoch.");
  w.Sample("vramguard_daemon_start_time_seconds", {},
           static_cast<double>(in.started_unix_ms) / 1000.0);

  // GPUs, from the latest sample.
  const VramSample* s = in.sample;
  struct GpuLabels {
    std::string index, uuid, name;
  };
  std::vector<GpuLabels> gl;
  if (s) {
    for (const GpuHoldings& g : s->gpus) gl.push_back({Int(g.gpu.index), g.gpu.uuid, g.gpu.name});
  }
  auto labels = [&](std::size_t i) -> PromLabels {
    return {{"index", gl[i].index}, {"uuid", gl[i].uuid}, {"name", gl[i].name}};
  };
  w.Begin("vramguard_gpu_up", "gauge",
          "1 when the driver answered for this GPU at the last sample, 0 when it reported a "
          "problem.");
  for (std::size_t i = 0; s && i < s->gpus.size(); ++i)
    w.Sample("vramguard_gpu_up", labels(i), s->gpus[i].gpu.problem ? 0 : 1);
  struct Field {
    const char* name;
    const char* help;
    std::optional<double> (*get)(const GpuInfo&);
  };
  const Field fields[] = {
      {"vramguard_gpu_memory_total_bytes", "Memory of the GPU, in bytes.",
       [](const GpuInfo& g) -> std::optional<double> { return double(g.total.count()); }},
      {"vramguard_gpu_memory_used_bytes", "Memory in use on the GPU (NVML), in bytes.",
       [](const GpuInfo& g) -> std::optional<double> { return double(g.used.count()); }},
      {"vramguard_gpu_memory_free_bytes", "Memory free on the GPU (NVML), in bytes.",
       [](const GpuInfo& g) -> std::optional<double> { return double(g.free.count()); }},
      {"vramguard_gpu_memory_reserved_bytes",
       "Memory the driver reserves on the GPU, in bytes (where the driver reports it).",
       [](const GpuInfo& g) -> std::optional<double> {
         if (!g.reserved) return std::nullopt;
         return double(g.reserved->count());
       }},
      {"vramguard_gpu_utilization_ratio",
       "Fraction of the last sample period the GPU was busy (0-1), where the driver reports it.",
       [](const GpuInfo& g) -> std::optional<double> {
         if (!g.utilization_percent) return std::nullopt;
         return *g.utilization_percent / 100.0;
       }},
  };
  for (const Field& f : fields) {
    w.Begin(f.name, "gauge", f.help);
    for (std::size_t i = 0; s && i < s->gpus.size(); ++i) {
      if (auto v = f.get(s->gpus[i].gpu)) w.Sample(f.name, labels(i), *v);
    }
  }
  w.Begin("vramguard_gpu_memory_holder_bytes", "gauge",
          "Memory on the GPU by kind of holder: the daemon's services, foreign processes, and "
          "ghosts (pids the driver lists that have exited), in bytes.");
  std::vector<int> ghosts(s ? s->gpus.size() : 0, 0);
  for (std::size_t i = 0; s && i < s->gpus.size(); ++i) {
    double by_kind[3] = {0, 0, 0};
    for (const VramHolding& h : s->gpus[i].holders) {
      by_kind[static_cast<int>(h.kind)] += double(h.bytes.count());
      ghosts[i] += h.kind == VramHolding::Kind::kGhost;
    }
    for (VramHolding::Kind k :
         {VramHolding::Kind::kService, VramHolding::Kind::kForeign, VramHolding::Kind::kGhost}) {
      PromLabels l = labels(i);
      l.emplace_back("kind", HolderKindName(k));
      w.Sample("vramguard_gpu_memory_holder_bytes", l, by_kind[static_cast<int>(k)]);
    }
  }
  w.Begin("vramguard_gpu_ghosts", "gauge",
          "Pids the driver lists on the GPU that have exited (their memory is held by others).");
  for (std::size_t i = 0; i < ghosts.size(); ++i)
    w.Sample("vramguard_gpu_ghosts", labels(i), ghosts[i]);

  w.Begin("vramguard_telemetry_sample_age_seconds", "gauge",
          "Seconds since the sample these GPU and service figures come from.");
  if (s)
    w.Sample("vramguard_telemetry_sample_age_seconds", {},
             std::max<double>(0, double(in.now_unix_ms - in.sample_unix_ms) / 1000.0));
  w.Begin("vramguard_telemetry_sample_duration_seconds", "gauge",
          "How long the last sample took (NVML and the daemon's own processes).");
  if (s) w.Sample("vramguard_telemetry_sample_duration_seconds", {}, in.sample_cost_s);
  w.Begin("vramguard_telemetry_history_bytes", "gauge",
          "Memory the dashboard's history ring holds, in bytes.");
  w.Sample("vramguard_telemetry_history_bytes", {}, double(in.history_bytes));
  w.Begin("vramguard_telemetry_history_samples", "gauge", "Samples in the history ring.");
  w.Sample("vramguard_telemetry_history_samples", {}, double(in.history_samples));

  // Services.
  w.Begin("vramguard_service_state", "gauge",
          "1 for the state the service is in, 0 for every other state.");
  for (const ServiceBrief& b : in.services) {
    for (const char* st : kServiceStates)
      w.Sample("vramguard_service_state", {{"service", b.name}, {"state", st}}, b.state == st);
  }
  w.Begin("vramguard_service_restarts_total", "counter",
          "Restarts of the service by its restart policy since the daemon started.");
  for (const ServiceBrief& b : in.services)
    w.Sample("vramguard_service_restarts_total", {{"service", b.name}}, b.restarts);
  w.Begin("vramguard_service_uptime_seconds", "gauge",
          "Seconds since the service's running instance started.");
  for (const ServiceBrief& b : in.services) {
    if (b.started_unix_ms)
      w.Sample("vramguard_service_uptime_seconds", {{"service", b.name}},
               std::max<double>(0, double(in.now_unix_ms - *b.started_unix_ms) / 1000.0));
  }
  w.Begin("vramguard_service_members", "gauge",
          "Processes of the service (main process, descendants, tagged, cgroup) at the last "
          "sample.");
  if (s) {
    for (const auto& [name, n] : s->members)
      w.Sample("vramguard_service_members", {{"service", name}}, double(n));
  }
  w.Begin("vramguard_service_vram_bytes", "gauge",
          "Memory the service's processes hold on the GPU at the last sample, in bytes.");
  for (std::size_t i = 0; s && i < s->gpus.size(); ++i) {
    for (const VramHolding& h : s->gpus[i].holders) {
      if (h.kind != VramHolding::Kind::kService) continue;
      w.Sample("vramguard_service_vram_bytes",
               {{"service", h.name}, {"index", gl[i].index}, {"uuid", gl[i].uuid}},
               double(h.bytes.count()));
    }
  }
  w.Begin("vramguard_service_incidents_total", "counter",
          "Incidents recognised in the service's output (or the kernel log), by kind.");
  for (const auto& [name, ps] : services_) {
    for (const auto& [kind, n] : ps.incidents)
      w.Sample("vramguard_service_incidents_total", {{"service", name}, {"kind", kind}}, double(n));
  }
  w.Begin("vramguard_stops_unverified_total", "counter",
          "Stops after which a process survived or the driver still listed the memory.");
  for (const auto& [name, ps] : services_) {
    if (ps.unverified_stops || ps.release.count() || ps.exit.count())
      w.Sample("vramguard_stops_unverified_total", {{"service", name}},
               double(ps.unverified_stops));
  }
  w.Begin("vramguard_stop_exit_seconds", "histogram",
          "Time from the stop signal until every process of the service exited.");
  for (const auto& [name, ps] : services_)
    if (ps.exit.count()) w.Histogram("vramguard_stop_exit_seconds", {{"service", name}}, ps.exit);
  w.Begin("vramguard_stop_release_seconds", "histogram",
          "Time from the last exit until the driver no longer listed the memory (verified "
          "release), for stops and reaps.");
  for (const auto& [name, ps] : services_)
    if (ps.release.count())
      w.Histogram("vramguard_stop_release_seconds", {{"service", name}}, ps.release);

  // Jobs.
  w.Begin("vramguard_jobs", "gauge", "Jobs now, by service and state (queued, starting, running).");
  std::int64_t depth = 0;
  for (const auto& [name, c] : in.jobs) {
    w.Sample("vramguard_jobs", {{"service", name}, {"state", "queued"}}, double(c.queued));
    w.Sample("vramguard_jobs", {{"service", name}, {"state", "starting"}}, double(c.starting));
    w.Sample("vramguard_jobs", {{"service", name}, {"state", "running"}}, double(c.running));
    depth += c.queued;
  }
  w.Begin("vramguard_job_queue_depth", "gauge", "Jobs waiting in the queue, every service.");
  w.Sample("vramguard_job_queue_depth", {}, double(depth));
  w.Begin("vramguard_jobs_queued_total", "counter", "Jobs accepted into the queue.");
  for (const auto& [name, ps] : services_)
    if (ps.queued) w.Sample("vramguard_jobs_queued_total", {{"service", name}}, double(ps.queued));
  w.Begin("vramguard_jobs_refused_total", "counter",
          "Jobs refused at once: their estimate cannot fit any GPU they may use.");
  for (const auto& [name, ps] : services_)
    if (ps.refused)
      w.Sample("vramguard_jobs_refused_total", {{"service", name}}, double(ps.refused));
  w.Begin("vramguard_jobs_finished_total", "counter",
          "Jobs that reached a terminal state, by state (done, failed, cancelled).");
  for (const auto& [name, ps] : services_) {
    for (const auto& [state, n] : ps.finished)
      w.Sample("vramguard_jobs_finished_total", {{"service", name}, {"state", state}}, double(n));
  }
  w.Begin("vramguard_job_wait_seconds", "histogram",
          "Time from submission until the job was dispatched to its service.");
  for (const auto& [name, ps] : services_)
    if (ps.wait.count()) w.Histogram("vramguard_job_wait_seconds", {{"service", name}}, ps.wait);
  w.Begin("vramguard_job_run_seconds", "histogram",
          "Time from dispatch until the job's answer (or its end).");
  for (const auto& [name, ps] : services_)
    if (ps.run.count()) w.Histogram("vramguard_job_run_seconds", {{"service", name}}, ps.run);
  w.Begin("vramguard_job_estimate_ratio", "histogram",
          "Observed peak VRAM of a job divided by its estimate (exact observations only): above "
          "1, the estimate was low.");
  for (const auto& [name, ps] : services_)
    if (ps.estimate.count())
      w.Histogram("vramguard_job_estimate_ratio", {{"service", name}}, ps.estimate);

  // The fleet (docs/fleet.md).
  if (in.fleet) {
    const FleetAgent::Figures& f = *in.fleet;
    w.Begin("vramguard_fleet_connected", "gauge", "1 while the fleet's Redis answers.");
    w.Sample("vramguard_fleet_connected", {}, f.connected ? 1 : 0);
    w.Begin("vramguard_fleet_hosts", "gauge", "Hosts in the fleet's registry as last read.");
    w.Sample("vramguard_fleet_hosts", {}, double(f.hosts));
    w.Begin("vramguard_fleet_entries_held", "gauge",
            "Fleet entries this host holds for its local jobs (renewed every lease/3).");
    w.Sample("vramguard_fleet_entries_held", {}, double(f.held));
    w.Begin("vramguard_fleet_ends_unwritten", "gauge",
            "Ends of fleet jobs not yet written to Redis (it did not answer).");
    w.Sample("vramguard_fleet_ends_unwritten", {}, double(f.unacked));
    w.Begin("vramguard_fleet_entries_total", "counter",
            "Fleet entries this host handled, by how: pulled (new), taken_over (a lapsed lease), "
            "host_lost (not idempotent: failed), dead (to vg:dead), rerouted (moved up a class).");
    for (const auto& [how, n] : {std::pair<const char*, std::int64_t>{"pulled", f.pulled},
                                 {"taken_over", f.taken_over},
                                 {"host_lost", f.host_lost},
                                 {"dead", f.dead},
                                 {"rerouted", f.rerouted}})
      w.Sample("vramguard_fleet_entries_total", {{"how", how}}, double(n));
    w.Begin("vramguard_fleet_submitted_total", "counter",
            "Jobs submitted on this host into the fleet's queue.");
    w.Sample("vramguard_fleet_submitted_total", {}, double(f.submitted));
  }

  // Alerts and events.
  w.Begin("vramguard_alerts_delivered_total", "counter",
          "Alerts the receivers took (webhook 2xx, command exit 0).");
  w.Sample("vramguard_alerts_delivered_total", {}, double(in.alerts_delivered));
  w.Begin("vramguard_alerts_failed_total", "counter",
          "Alerts given up on after every retry (each also an alert-failed event).");
  w.Sample("vramguard_alerts_failed_total", {}, double(in.alerts_failed));
  w.Begin("vramguard_events_total", "counter", "Events the daemon recorded, by kind.");
  for (const auto& [kind, n] : events_by_kind_)
    w.Sample("vramguard_events_total", {{"kind", kind}}, double(n));
  return w.Take();
}

}  // namespace vg

namespace vg {

void AddMetricsRoute(Router& router, std::function<std::string()> metrics_text) {
  router.Add("GET", "/metrics",
             [metrics_text = std::move(metrics_text)](const HttpRequest&,
                                                      const PathParams&) -> HandlerResult {
               HttpResponse r;
               r.content_type = "text/plain; version=0.0.4; charset=utf-8";
               r.body = metrics_text();
               r.headers["Cache-Control"] = "no-store";
               return r;
             });
}

void AddHistoryRoute(Router& router, Telemetry& telemetry) {
  router.Add("GET", "/v1/history",
             [&telemetry](const HttpRequest& r, const PathParams&) -> HandlerResult {
               std::int64_t seconds = 3600;
               if (auto it = r.query.find("seconds"); it != r.query.end()) {
                 char* end = nullptr;
                 const long long v = std::strtoll(it->second.c_str(), &end, 10);
                 if (it->second.empty() || !end || *end != '\0' || v < 1) {
                   return HttpResponse::Error(400, "'seconds' must be a whole number of seconds",
                                              "ask for ?seconds=60 … 3600 (the last hour is kept)");
                 }
                 seconds = std::min<long long>(v, 3600);
               }
               telemetry.Watch();
               return HttpResponse::Json(200, telemetry.History(Millis(seconds * 1000)));
             });
}

}  // namespace vg
