// The production ServicePort over today's Supervisor::Impl. Each method is a few lines on purpose:
// the supervisor's internals are being redesigned, and this file is the only job-side code that
// knows them.
#include "daemon/service_port.h"

#include "daemon/supervisor_impl.h"
#include "proc/process.h"

namespace vg {

const char* ServiceStateName(ServicePort::State s) {
  using S = ServicePort::State;
  switch (s) {
    case S::kStopped:
      return "stopped";
    case S::kStarting:
      return "starting";
    case S::kWaitingForVram:
      return "waiting-for-vram";
    case S::kRunning:
      return "running";
    case S::kStopping:
      return "stopping";
    case S::kBackoff:
      return "backoff";
    case S::kFailed:
      return "failed";
  }
  return "?";
}

namespace {

ServicePort::State PortState(SvcState s) {
  using S = ServicePort::State;
  switch (s) {
    case SvcState::kStopped:
      return S::kStopped;
    case SvcState::kStarting:
      return S::kStarting;
    case SvcState::kWaitingForVram:
      return S::kWaitingForVram;
    case SvcState::kWaitingForPort:  // a start on its way, like any other wait of a start
      return S::kStarting;
    case SvcState::kRunning:
      return S::kRunning;
    case SvcState::kStopping:
      return S::kStopping;
    case SvcState::kBackoff:
      return S::kBackoff;
    case SvcState::kFailed:
      return S::kFailed;
  }
  return S::kStopped;
}

class SupervisorPort final : public ServicePort {
 public:
  SupervisorPort(Supervisor& sup, Supervisor::Impl& im) : sup_(sup), im_(im) {}
  ~SupervisorPort() override { im_.job_status = nullptr; }

  std::vector<std::string> Services() const override {
    std::vector<std::string> out;
    for (const auto& [name, s] : im_.services)
      if (!s->removed && !s->removing) out.push_back(name);
    return out;
  }

  const ServiceConfig* ConfigOf(const std::string& name) const override {
    ServiceRt* s = im_.Find(name);
    return s ? &s->cfg : nullptr;
  }

  std::optional<View> Look(const std::string& name) const override {
    ServiceRt* s = im_.Find(name);
    if (!s) return std::nullopt;
    View v{PortState(s->state), s->detail, s->inst ? s->inst->tag : "", std::nullopt,
           s->active_jobs};
    if (s->inst && s->inst->ready_at)
      v.startup = std::chrono::duration_cast<Millis>(*s->inst->ready_at - s->inst->spawned);
    return v;
  }

  const DaemonConfig& Daemon() const override { return im_.config.daemon; }

  std::map<std::string, std::vector<pid_t>> Members(
      const std::vector<std::string>& names) override {
    const std::vector<ProcessInfo> family = im_.Family();  // one walk for every name
    std::map<std::string, std::vector<pid_t>> out;
    for (const std::string& name : names) {
      ServiceRt* s = im_.Find(name);
      out[name] = s && s->inst ? im_.Members(*s, &family) : std::vector<pid_t>{};
    }
    return out;
  }

  Result<void> Start(const std::string& name) override {
    auto mark = sup_.Start(name);
    if (!mark) return std::unexpected(mark.error());
    return {};
  }

  bool StopIfIdle(const std::string& name) override {
    ServiceRt* s = im_.Find(name);
    if (!s || !s->inst || s->active_jobs > 0 || s->state == SvcState::kStopping) return false;
    (void)sup_.Stop(name);
    // The stop coroutine runs on a later turn: from now on no job may begin on the instance.
    im_.SetState(*s, SvcState::kStopping, "stopping");
    return true;
  }

  bool BeginJob(const std::string& name) override {
    ServiceRt* s = im_.Find(name);
    if (!s || s->state != SvcState::kRunning) return false;
    ++s->active_jobs;
    return true;
  }

  void EndJob(const std::string& name) override {
    if (ServiceRt* s = im_.Find(name); s && s->active_jobs > 0) --s->active_jobs;
  }

  void RunReleaseHook(const std::string& name, std::function<void()> done) override {
    ServiceRt* s = im_.Find(name);
    if (!s) return asio::post(im_.io, std::move(done));
    im_.Spawn([](Supervisor::Impl& im, ServiceRt& r, std::function<void()> f) -> Task<> {
      co_await im.RunReleaseHook(r);
      f();
    }(im_, *s, std::move(done)));
  }

  void SetJobStatus(std::function<nlohmann::json(const std::string&)> summary) override {
    im_.job_status = std::move(summary);
  }

 private:
  Supervisor& sup_;
  Supervisor::Impl& im_;
};

}  // namespace

std::unique_ptr<ServicePort> MakeServicePort(Supervisor& supervisor) {
  return std::make_unique<SupervisorPort>(supervisor, *supervisor.impl_);
}

}  // namespace vg
