// FakeServicePort: the ServicePort (daemon/service_port.h) for unit tests of the job manager.
// Services are plain records a test sets up and changes; requests are recorded and follow the
// port's rules (StopIfIdle refuses while jobs are counted; BeginJob only on a running service).
// What a start or stop leads to is the test's to script: `on_start` / `on_stop` run inside the
// request (e.g. to set the state and emit the events the supervisor would). Never touches the OS.
// Not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "daemon/service_port.h"

namespace vg::testing {

class FakeServicePort final : public ServicePort {
 public:
  struct Service {
    ServiceConfig cfg;
    View view;
    std::vector<pid_t> members;
  };

  std::map<std::string, Service> services;
  DaemonConfig daemon;
  std::function<void(const std::string&)> on_start;  // after a start was recorded
  std::function<void(const std::string&)> on_stop;   // after a stop was granted
  std::function<nlohmann::json(const std::string&)> job_status;

  // What was asked.
  std::vector<std::string> starts, stops, releases;
  int stops_refused = 0;
  int begins_refused = 0;

  Service& Add(ServiceConfig cfg) {
    std::string name = cfg.name;
    Service& s = services[name];
    s.cfg = std::move(cfg);
    return s;
  }
  // The state and detail of `name` (the instance is "NAME-1" while running/stopping).
  void Set(const std::string& name, State state, std::string detail = {}) {
    View& v = services.at(name).view;
    v.state = state;
    v.detail = std::move(detail);
    if (state == State::kRunning && v.instance.empty()) v.instance = name + "-1";
    if (state == State::kStopped || state == State::kFailed) v.instance.clear();
  }

  mutable int services_calls = 0;  // each job-manager tick asks once (CheckIdle)
  std::vector<std::string> Services() const override {
    ++services_calls;
    std::vector<std::string> out;
    for (const auto& [name, s] : services) out.push_back(name);
    return out;
  }
  const ServiceConfig* ConfigOf(const std::string& name) const override {
    auto it = services.find(name);
    return it == services.end() ? nullptr : &it->second.cfg;
  }
  std::optional<View> Look(const std::string& name) const override {
    auto it = services.find(name);
    if (it == services.end()) return std::nullopt;
    return it->second.view;
  }
  const DaemonConfig& Daemon() const override { return daemon; }
  std::map<std::string, std::vector<pid_t>> Members(
      const std::vector<std::string>& names) override {
    std::map<std::string, std::vector<pid_t>> out;
    for (const std::string& n : names) {
      auto it = services.find(n);
      out[n] = it == services.end() || it->second.view.instance.empty() ? std::vector<pid_t>{}
                                                                        : it->second.members;
    }
    return out;
  }

  Result<void> Start(const std::string& name) override {
    if (!services.count(name)) return Fail(ErrorCode::kNotFound, "no service named " + name);
    starts.push_back(name);
    if (on_start) on_start(name);
    return {};
  }
  bool StopIfIdle(const std::string& name) override {
    auto it = services.find(name);
    if (it == services.end() || it->second.view.instance.empty() ||
        it->second.view.active_jobs > 0 || it->second.view.state == State::kStopping) {
      ++stops_refused;
      return false;
    }
    it->second.view.state = State::kStopping;
    stops.push_back(name);
    if (on_stop) on_stop(name);
    return true;
  }
  bool BeginJob(const std::string& name) override {
    auto it = services.find(name);
    if (it == services.end() || it->second.view.state != State::kRunning) {
      ++begins_refused;
      return false;
    }
    ++it->second.view.active_jobs;
    return true;
  }
  void EndJob(const std::string& name) override {
    auto it = services.find(name);
    if (it != services.end() && it->second.view.active_jobs > 0) --it->second.view.active_jobs;
  }
  void RunReleaseHook(const std::string& name, std::function<void()> done) override {
    releases.push_back(name);
    done();
  }
  void SetJobStatus(std::function<nlohmann::json(const std::string&)> summary) override {
    job_status = std::move(summary);
  }
};

}  // namespace vg::testing
