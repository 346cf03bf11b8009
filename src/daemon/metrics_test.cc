#include "daemon/metrics.h"

#include <gtest/gtest.h>

#include <set>

#include "daemon/event_hub.h"
#include "store/memory_store.h"

namespace vg {
namespace {

EventRecord MetricsEvent(std::string service, std::string kind, nlohmann::json data = {}) {
  EventRecord e;
  e.service = std::move(service);
  e.kind = std::move(kind);
  e.data = data.is_null() ? nlohmann::json::object() : std::move(data);
  return e;
}

bool HasLine(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

MetricsInputs MetricsInputsWithOneGpu(VramSample* s) {
  GpuHoldings g;
  g.gpu.index = 0;
  g.gpu.uuid = "GPU-abc";
  g.gpu.name = "NVIDIA H100 80GB HBM3";
  g.gpu.total = Bytes(85899345920);
  g.gpu.used = Bytes(12884901888);
  g.gpu.free = Bytes(73014444032);
  g.gpu.utilization_percent = 37;
  g.holders.push_back({VramHolding::Kind::kService, "sd", 0, Bytes(8589934592)});
  g.holders.push_back({VramHolding::Kind::kGhost, "", 4321, Bytes(2147483648)});
  g.holders.push_back({VramHolding::Kind::kForeign, "python", 77, Bytes(2147483648)});
  s->gpus.push_back(g);
  s->members["sd"] = 4;
  s->members["llm"] = 0;
  MetricsInputs in;
  in.sample = s;
  in.sample_unix_ms = 10'000;
  in.now_unix_ms = 12'500;
  in.started_unix_ms = 1'000;
  in.version = "0.1.0";
  in.services = {{"sd", "running", 2, 2'500}, {"llm", "waiting-for-vram", 0, std::nullopt}};
  in.jobs["sd"] = {.queued = 3, .starting = 0, .running = 1};
  in.alerts_delivered = 5;
  in.alerts_failed = 1;
  return in;
}

TEST(DaemonMetrics, GaugesComeFromTheSampleAndTheSupervisor) {
  DaemonMetrics m;
  VramSample s;
  const std::string text = m.Render(MetricsInputsWithOneGpu(&s));
  const std::string gpu = "index=\"0\",uuid=\"GPU-abc\",name=\"NVIDIA H100 80GB HBM3\"";
  EXPECT_TRUE(HasLine(text, "vramguard_build_info{version=\"0.1.0\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "vramguard_gpu_memory_total_bytes{" + gpu + "} 85899345920"));
  EXPECT_TRUE(HasLine(text, "vramguard_gpu_memory_used_bytes{" + gpu + "} 12884901888"));
  EXPECT_TRUE(HasLine(text, "vramguard_gpu_utilization_ratio{" + gpu + "} 0.37"));
  EXPECT_EQ(text.find("vramguard_gpu_memory_reserved_bytes{"), std::string::npos)
      << "unknown to the driver: no sample, not a zero";
  EXPECT_TRUE(
      HasLine(text, "vramguard_gpu_memory_holder_bytes{" + gpu + ",kind=\"ghost\"} 2147483648"));
  EXPECT_TRUE(HasLine(text, "vramguard_gpu_ghosts{" + gpu + "} 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_service_state{service=\"sd\",state=\"running\"} 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_service_state{service=\"sd\",state=\"stopped\"} 0"));
  EXPECT_TRUE(
      HasLine(text, "vramguard_service_state{service=\"llm\",state=\"waiting-for-vram\"} 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_service_restarts_total{service=\"sd\"} 2"));
  EXPECT_TRUE(HasLine(text, "vramguard_service_uptime_seconds{service=\"sd\"} 10"));
  EXPECT_EQ(text.find("vramguard_service_uptime_seconds{service=\"llm\"}"), std::string::npos);
  EXPECT_TRUE(HasLine(text, "vramguard_service_members{service=\"sd\"} 4"));
  EXPECT_TRUE(HasLine(
      text,
      "vramguard_service_vram_bytes{service=\"sd\",index=\"0\",uuid=\"GPU-abc\"} 8589934592"));
  EXPECT_TRUE(HasLine(text, "vramguard_jobs{service=\"sd\",state=\"queued\"} 3"));
  EXPECT_TRUE(HasLine(text, "vramguard_job_queue_depth 3"));
  EXPECT_TRUE(HasLine(text, "vramguard_alerts_failed_total 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_telemetry_sample_age_seconds 2.5"));
}

TEST(DaemonMetrics, CountersAndHistogramsComeFromEvents) {
  DaemonMetrics m;
  m.OnEvent(MetricsEvent("sd", "oom"));
  m.OnEvent(MetricsEvent("sd", "oom"));
  m.OnEvent(MetricsEvent("sd", "ready"));  // an incident kind, but not an incident
  m.OnEvent(MetricsEvent("sd", "job-queued"));
  m.OnEvent(MetricsEvent("sd", "job-refused"));
  m.OnEvent(MetricsEvent("sd", "job-started", {{"waited_s", 0.7}}));
  m.OnEvent(MetricsEvent("sd", "job-done",
                         {{"run_s", 3.0},
                          {"estimate_bytes", 1000},
                          {"observed_peak_bytes", 1200},
                          {"observation", "exact"}}));
  m.OnEvent(MetricsEvent("sd", "job-failed",
                         {{"run_s", 1.0},
                          {"estimate_bytes", 1000},
                          {"observed_peak_bytes", 500},
                          {"observation", "at-most"}}));  // a bound, not an error figure
  m.OnEvent(MetricsEvent("sd", "stopped",
                         {{"signalled", 2},
                          {"exit_s", 0.2},
                          {"expected_bytes", 1 << 30},
                          {"verified", true},
                          {"back_s", 0.03}}));
  m.OnEvent(MetricsEvent("sd", "stopped"));  // "was not running": nothing to time
  m.OnEvent(MetricsEvent("sd", "stop-incomplete", {{"signalled", 1}, {"exit_s", 5.0}}));
  VramSample s;
  const std::string text = m.Render(MetricsInputsWithOneGpu(&s));
  EXPECT_TRUE(HasLine(text, "vramguard_service_incidents_total{service=\"sd\",kind=\"oom\"} 2"))
      << text;
  EXPECT_EQ(text.find("vramguard_service_incidents_total{service=\"sd\",kind=\"ready\"}"),
            std::string::npos);
  EXPECT_TRUE(HasLine(text, "vramguard_jobs_queued_total{service=\"sd\"} 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_jobs_refused_total{service=\"sd\"} 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_jobs_finished_total{service=\"sd\",state=\"done\"} 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_jobs_finished_total{service=\"sd\",state=\"failed\"} 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_job_wait_seconds_bucket{service=\"sd\",le=\"0.5\"} 0"));
  EXPECT_TRUE(HasLine(text, "vramguard_job_wait_seconds_bucket{service=\"sd\",le=\"1\"} 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_job_run_seconds_count{service=\"sd\"} 2"));
  EXPECT_TRUE(HasLine(text, "vramguard_job_estimate_ratio_count{service=\"sd\"} 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_job_estimate_ratio_sum{service=\"sd\"} 1.2"));
  EXPECT_TRUE(HasLine(text, "vramguard_stop_release_seconds_count{service=\"sd\"} 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_stop_exit_seconds_count{service=\"sd\"} 2"));
  EXPECT_TRUE(HasLine(text, "vramguard_stops_unverified_total{service=\"sd\"} 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_events_total{kind=\"oom\"} 2"));
}

TEST(DaemonMetrics, EveryFamilyHasHelpAndTypeOnceEvenWithoutSamples) {
  DaemonMetrics m;
  MetricsInputs in;  // no sample yet, no services
  const std::string text = m.Render(in);
  std::set<std::string> types;
  std::size_t pos = 0;
  while ((pos = text.find("# TYPE ", pos)) != std::string::npos) {
    pos += 7;
    const std::string name = text.substr(pos, text.find(' ', pos) - pos);
    EXPECT_TRUE(types.insert(name).second) << name << " declared twice";
    EXPECT_NE(text.find("# HELP " + name + " "), std::string::npos) << name;
  }
  EXPECT_GE(types.size(), 30u);
}

TEST(DaemonMetrics, FleetFiguresOnlyInFleetMode) {
  DaemonMetrics m;
  MetricsInputs in;
  EXPECT_EQ(m.Render(in).find("vramguard_fleet_"), std::string::npos);
  FleetAgent::Figures f;
  f.connected = true;
  f.hosts = 3;
  f.held = 1;
  f.pulled = 40;
  f.rerouted = 2;
  f.submitted = 30;
  in.fleet = f;
  const std::string text = m.Render(in);
  EXPECT_TRUE(HasLine(text, "vramguard_fleet_connected 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_fleet_hosts 3"));
  EXPECT_TRUE(HasLine(text, "vramguard_fleet_entries_held 1"));
  EXPECT_TRUE(HasLine(text, "vramguard_fleet_entries_total{how=\"pulled\"} 40"));
  EXPECT_TRUE(HasLine(text, "vramguard_fleet_entries_total{how=\"rerouted\"} 2"));
  EXPECT_TRUE(HasLine(text, "vramguard_fleet_entries_total{how=\"host_lost\"} 0"));
  EXPECT_TRUE(HasLine(text, "vramguard_fleet_submitted_total 30"));
}

TEST(DaemonMetrics, SubscribesToTheEventHubAndLeavesIt) {
  MemoryStore store;
  EventHub hub(store, false);
  {
    DaemonMetrics m(hub);
    hub.Emit("sd", "", "oom", "CUDA out of memory");
    MetricsInputs in;
    EXPECT_NE(m.Render(in).find("vramguard_service_incidents_total{service=\"sd\",kind=\"oom\"} 1"),
              std::string::npos);
  }
  hub.Emit("sd", "", "oom", "again, with nobody listening");  // must not touch a dead subscriber
}

}  // namespace
}  // namespace vg
