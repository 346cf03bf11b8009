// DaemonMetrics: what `GET /metrics` says, in the Prometheus text format (docs/metrics.md).
//
// Counters and histograms come from the event stream (one subscription; O(1) per event): the
// incidents by kind, jobs queued/finished/refused, job wait and run times and the estimate's
// error (from the job events' `waited_s`, `run_s`, `observed_peak_bytes` / `estimate_bytes`), the
// time from a stop's exit to the verified release of its memory (`back_s`). Gauges come from
// what the daemon holds in memory at scrape time: the telemetry's latest sample (GPU memory, who
// holds it, members), the supervisor's states and restarts, the job manager's live counts. A
// scrape therefore never reads /proc, NVML or SQLite; it costs O(GPUs + services + holders).
//
// Not thread-safe: the daemon's loop only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "daemon/fleet_agent.h"
#include "daemon/job_manager.h"
#include "daemon/supervisor.h"
#include "util/prom_text.h"

namespace vg {

class EventHub;
struct EventRecord;

struct MetricsInputs {
  const VramSample* sample = nullptr;  // the telemetry's latest; nullptr: none yet
  std::int64_t sample_unix_ms = 0;
  double sample_cost_s = 0;
  std::size_t history_bytes = 0;
  std::size_t history_samples = 0;
  std::vector<ServiceBrief> services;
  std::map<std::string, JobManager::LiveCounts> jobs;
  std::int64_t alerts_delivered = 0;
  std::int64_t alerts_failed = 0;
  std::string version;
  std::int64_t started_unix_ms = 0;
  std::int64_t now_unix_ms = 0;
  std::optional<FleetAgent::Figures> fleet;  // fleet mode only (docs/fleet.md)
};

class DaemonMetrics {
 public:
  DaemonMetrics();
  // Subscribes to `events` until destroyed.
  explicit DaemonMetrics(EventHub& events);
  ~DaemonMetrics();
  DaemonMetrics(const DaemonMetrics&) = delete;
  DaemonMetrics& operator=(const DaemonMetrics&) = delete;

  void OnEvent(const EventRecord& e);
  std::string Render(const MetricsInputs& in) const;

 private:
  struct PerService {
    std::map<std::string, std::int64_t> incidents;  // kind → count
    std::map<std::string, std::int64_t> finished;   // done/failed/cancelled → count
    std::int64_t queued = 0;
    std::int64_t refused = 0;
    std::int64_t unverified_stops = 0;
    PromHistogram wait, run, estimate, release, exit;
    PerService();
  };
  PerService& For(const std::string& service);
  EventHub* events_ = nullptr;
  int subscription_ = 0;
  std::map<std::string, PerService> services_;
  std::map<std::string, std::int64_t> events_by_kind_;
};

}  // namespace vg

namespace vg {

class Router;
class Telemetry;

// GET /metrics (the Prometheus text of `metrics_text()`) on `router`.
void AddMetricsRoute(Router& router, std::function<std::string()> metrics_text);
// GET /v1/history?seconds=N (default and most 3600): the telemetry's ring (docs/api.md).
void AddHistoryRoute(Router& router, Telemetry& telemetry);

}  // namespace vg
