#include "daemon/incidents.h"

#include <algorithm>
#include <ctime>

#include "clock/clock.h"
#include "config/config_values.h"
#include "config/user_signatures.h"
#include "core/classifier.h"
#include "core/explain_sentence.h"
#include "daemon/alerts.h"
#include "daemon/http_probe.h"
#include "proc/ports.h"
#include "util/pattern.h"
#include "util/strings.h"

namespace vg {
namespace {

using namespace std::chrono_literals;
using Impl = Supervisor::Impl;

// The service a tag names (core/instance_tag.h), whichever daemon started it.
std::optional<std::string> ServiceOfTag(const std::string& tag) {
  auto t = ParseInstanceTag(tag);
  if (!t) return std::nullopt;
  return t->service;
}

std::string HolderName(const VramView& view, pid_t pid) {
  if (const ProcessInfo* p = view.Find(pid)) {
    if (p->instance_tag) {
      if (auto svc = ServiceOfTag(*p->instance_tag)) return *svc;
    }
    return p->comm.empty() ? "pid " + std::to_string(pid) : p->comm;
  }
  return "";
}

// Per GPU: total, free and the three largest holders, named by service where they are ours.
std::vector<GpuMemoryLine> MemoryLines(const VramView& view) {
  std::vector<GpuMemoryLine> out;
  for (const GpuView& g : view.gpus) {
    GpuMemoryLine line;
    line.index = static_cast<int>(g.gpu.index);
    line.total = g.gpu.total;
    line.free = g.gpu.free;
    for (const VramEntry& e : g.entries) {
      if (e.role != Role::kRunning && e.role != Role::kOrphan && e.role != Role::kGhost) continue;
      if (!e.used) continue;
      Holder h;
      h.pid = e.pid;
      h.used = *e.used;
      h.name = HolderName(view, e.pid);
      if (e.role == Role::kGhost) {
        std::string held_by;
        for (pid_t holder : e.holders) {
          std::string n = HolderName(view, holder);
          if (!n.empty()) held_by = n;
        }
        h.name = held_by.empty() ? "ghost of pid " + std::to_string(e.pid)
                                 : held_by + " (ghost of pid " + std::to_string(e.pid) + ")";
      }
      line.top.push_back(std::move(h));
    }
    std::sort(line.top.begin(), line.top.end(),
              [](const Holder& a, const Holder& b) { return a.used.count() > b.used.count(); });
    if (line.top.size() > 3) line.top.resize(3);
    out.push_back(std::move(line));
  }
  return out;
}

nlohmann::json MemoryJson(const std::vector<GpuMemoryLine>& lines) {
  nlohmann::json out = nlohmann::json::array();
  for (const GpuMemoryLine& l : lines) {
    nlohmann::json top = nlohmann::json::array();
    for (const Holder& h : l.top)
      top.push_back({{"pid", h.pid}, {"name", h.name}, {"used_bytes", h.used.count()}});
    out.push_back({{"gpu", l.index},
                   {"total_bytes", l.total.count()},
                   {"free_bytes", l.free.count()},
                   {"top", top}});
  }
  return out;
}

// What the policy will do about an incident, decided when it is seen.
struct Plan {
  enum class Act { kNone, kRestart, kWaitForVram, kDeviceLost, kPortClash } act = Act::kNone;
  std::string action;  // one line for the event
};

Plan PlanFor(const ServiceRt& s, const Incident& inc) {
  Plan p;
  const IncidentSpec& spec = s.cfg.incidents;
  const bool live = s.inst && (s.state == SvcState::kRunning || s.state == SvcState::kStarting);
  if (!live) {
    p.action = std::string("none: ") + s.cfg.name + " is " + SvcStateName(s.state);
    return p;
  }
  switch (inc.kind) {
    case IncidentKind::kOom:
    case IncidentKind::kOomProbable:
      if (spec.on_oom == OomPolicy::kIgnore) {
        p.action = "left running (on_oom = \"ignore\")";
      } else if (spec.on_oom == OomPolicy::kWaitForVram) {
        p.act = Plan::Act::kWaitForVram;
        Bytes need = s.cfg.vram + inc.fields.requested.value_or(Bytes());
        p.action = "stop, then start again once " + FormatBytes(need) +
                   " is free beyond the reserve (on_oom = \"wait-for-vram\")";
      } else {
        p.act = Plan::Act::kRestart;
        p.action = "restart: stop, verify the memory is back, start again (on_oom = \"restart\")";
      }
      break;
    case IncidentKind::kSticky:
      if (spec.on_sticky == CausePolicy::kIgnore) {
        p.action = "left running (on_sticky = \"ignore\")";
      } else {
        p.act = Plan::Act::kRestart;
        p.action = "restart: the CUDA context is unusable (on_sticky = \"restart\")";
      }
      break;
    case IncidentKind::kDeviceLost:
      p.act = Plan::Act::kDeviceLost;
      p.action = "stop and mark failed: restarting will not help while the GPU is lost";
      break;
    case IncidentKind::kPortClash:
      p.act = Plan::Act::kPortClash;
      p.action = "name the port's holder; reap it only if it is a vramguard leftover";
      break;
    case IncidentKind::kGpuError:
      p.action = "left running: the GPU reported an error but is still there";
      break;
    case IncidentKind::kHostOom:
      p.action = "left running: out of host memory (RAM), not GPU memory; no VRAM action";
      break;
    case IncidentKind::kReady:
      break;
  }
  return p;
}

void Remember(ServiceRt& s, const std::string& kind, const std::string& sentence,
              const std::string& action, std::int64_t id, std::int64_t unix_ms) {
  s.incident.last = nlohmann::json{{"kind", kind},
                                   {"time_unix_ms", unix_ms},
                                   {"sentence", sentence},
                                   {"action", action},
                                   {"event_id", id}};
}

// A restart decision after an incident of this kind, taken once the instance is stopped.
Impl::Decide RestartAfter(Impl& im, bool oom, Bytes extra) {
  return [&im, oom, extra](ServiceRt& s, bool was_ready,
                           Millis ran) -> std::optional<RestartDecision> {
    const RestartPolicy policy = RestartPolicyFor(s.cfg);
    if (!oom) return DecideRestart(&s.restart, policy, {false, false, ran}, im.clock.Now());
    RestartDecision d = DecideOomRestart(&s.restart, policy, was_ready, ran, im.clock.Now());
    if (d.action == RestartDecision::Action::kRestart) s.incident.extra_vram = extra;
    return d;
  };
}

// A listener on `port` that is a leftover of a vramguard service: it carries an instance tag
// that is no current instance's.
bool IsOurLeftover(Impl& im, const std::optional<ProcessInfo>& p) {
  if (!p || !p->instance_tag) return false;
  for (auto& [name, svc] : im.services) {
    if (svc->inst && svc->inst->tag == *p->instance_tag) return false;
  }
  auto t = ParseInstanceTag(*p->instance_tag);
  return t && t->daemon == im.daemon_id;
}

// After the port clash stopped the instance (lock held): reap a holder that is our leftover, or
// fail naming a foreign one; then the restart policy.
Task<> AfterPortClash(Impl& im, ServiceRt& s, std::uint64_t gen, Incident inc) {
  std::vector<int> ports;
  if (inc.fields.port) ports.push_back(*inc.fields.port);
  for (int p : s.cfg.ports) {
    if (std::find(ports.begin(), ports.end(), p) == ports.end()) ports.push_back(p);
  }
  for (int port : ports) {
    auto listeners = FindPortListeners(port);
    if (!listeners) continue;
    for (const PortListener& l : *listeners) {
      std::optional<ProcessInfo> p;
      if (l.pid > 0) {
        if (auto got = im.deps.procs->Get(l.pid)) p = std::move(*got);
      }
      if (IsOurLeftover(im, p)) {
        StopReport r =
            co_await im.StopProcesses(s, std::vector<pid_t>(1, l.pid), SIGTERM, s.cfg.stop.grace);
        im.Emit(s, "swept",
                "port " + std::to_string(port) + " was held by vramguard leftover " +
                    std::to_string(l.pid) + " (" + *p->instance_tag + "): " + r.Summary("TERM"),
                {{"port", port}, {"pid", l.pid}});
        continue;
      }
      std::string holder =
          l.pid > 0 ? "pid " + std::to_string(l.pid) : "a process vramguard cannot see";
      if (p) holder += " (" + OneLine(p->CommandLine(), 120) + ", user " + p->user + ")";
      const std::string msg =
          s.cfg.name + " failed: port " + std::to_string(port) + " is held by " + holder +
          ", not by vramguard; stop it, then `vramguard start " + s.cfg.name + "`";
      im.SetState(s, SvcState::kFailed, msg);
      im.Emit(s, "failed", msg, {{"port", port}, {"pid", l.pid}});
      co_return;
    }
  }
  if (s.generation != gen) co_return;
  RestartDecision d =
      DecideRestart(&s.restart, RestartPolicyFor(s.cfg), {false, false, Millis(0)}, im.clock.Now());
  co_await im.ApplyRestart(s, gen, d);
}

// The policy's action on the instance `tag` the incident came from, as one operation.
void HandleIncident(Impl& im, ServiceRt& s, const std::string& tag, const Incident& inc,
                    const Plan& plan) {
  const std::string kind = IncidentKindName(inc.kind);
  switch (plan.act) {
    case Plan::Act::kNone:
      return;
    case Plan::Act::kRestart:
    case Plan::Act::kWaitForVram: {
      const bool oom = inc.kind == IncidentKind::kOom || inc.kind == IncidentKind::kOomProbable;
      const Bytes extra =
          plan.act == Plan::Act::kWaitForVram ? inc.fields.requested.value_or(Bytes()) : Bytes();
      im.Spawn(
          im.OpInstanceFailed(s, tag, "stopped after the " + kind, RestartAfter(im, oom, extra)));
      return;
    }
    case Plan::Act::kDeviceLost: {
      const std::string msg = s.cfg.name + " stopped: its GPU is lost (" + inc.what +
                              "); not restarting, since that will not help until the GPU is back "
                              "(reset or reboot); then `vramguard start " +
                              s.cfg.name + "`";
      im.Spawn(im.OpInstanceFailed(
          s, tag, "stopped after the GPU was lost",
          [&im, msg](ServiceRt& sv, bool, Millis) -> std::optional<RestartDecision> {
            im.SetState(sv, SvcState::kFailed, msg);
            im.Emit(sv, "stopped", msg);
            return std::nullopt;
          }));
      return;
    }
    case Plan::Act::kPortClash:
      im.Spawn([](Impl& im2, ServiceRt& sv, std::string t, Incident i) -> Task<> {
        {
          // Stop the clashing instance first (its own operation), then look at the port.
          co_await im2.OpInstanceFailed(sv, t, "stopped after the port clash", nullptr);
        }
        Impl::OpLock lock = co_await im2.Acquire(sv);
        if (sv.inst || sv.removed || sv.removing || im2.shutting_down) co_return;
        if (sv.state != SvcState::kStopped) co_return;  // an operator's request decided meanwhile
        co_await AfterPortClash(im2, sv, sv.generation, std::move(i));
      }(im, s, tag, inc));
      return;
  }
}

// The VRAM snapshot an incident event carries (empty when the GPUs cannot be read): NVML and the
// daemon's own processes, never a scan of the machine, so a line becomes its event at once. A
// ghost is shown as such; `vramguard ps` names its holders.
std::vector<GpuMemoryLine> SnapshotLines(Impl& im) {
  if (auto view = im.LookListed({}, std::nullopt)) return MemoryLines(*view);
  return {};
}

// `lines` is the VRAM snapshot taken for this incident; `note` (kernel log incidents) is added
// to the action.
void OnIncident(Impl& im, ServiceRt& s, const Incident& inc,
                const std::vector<GpuMemoryLine>& lines, const std::string& note = "",
                const std::string& action = "") {
  if (inc.kind == IncidentKind::kReady) return;
  const std::string sentence = ExplainIncident(inc, s.cfg.name, lines);
  Plan plan = PlanFor(s, inc);  // while an incident is handled the state is stopping: none
  if (!action.empty()) plan = Plan{.act = Plan::Act::kNone, .action = action};
  plan.action += note;
  nlohmann::json data = {{"incident", IncidentJson(inc)},
                         {"vram", MemoryJson(lines)},
                         {"explanation", sentence},
                         {"action", plan.action}};
  const std::string kind = IncidentKindName(inc.kind);
  const std::int64_t id = im.Emit(s, kind, sentence, std::move(data));
  Remember(s, kind, sentence, plan.action, id, UnixNowMs());
  s.incident.last_seq = inc.seq;
  s.incident.last_event_id = id;
  if (plan.act == Plan::Act::kNone || !s.inst) return;
  // Taken over now, synchronously: the operation holding the lock (a start waiting for
  // readiness, an exit being handled) sees the generation move and yields to this one.
  im.Supersede(s, false);
  im.SetState(s, SvcState::kStopping, kind + ": " + plan.action);
  HandleIncident(im, s, s.inst->tag, inc, plan);
}

// Lines after an incident's decisive line stated more of its numbers: an `incident-updated` event
// names the incident's event and carries the completed fields and sentence. The action taken
// stands (it was decided on the decisive line, at once).
void OnIncidentUpdate(Impl& im, ServiceRt& s, const Incident& inc) {
  if (inc.kind == IncidentKind::kReady || inc.seq != s.incident.last_seq) return;
  const std::string sentence = ExplainIncident(inc, s.cfg.name, {});
  nlohmann::json data = {{"incident", IncidentJson(inc)},
                         {"explanation", sentence},
                         {"updates_event_id", s.incident.last_event_id}};
  im.Emit(s, "incident-updated", sentence, std::move(data));
  if (s.incident.last) (*s.incident.last)["sentence"] = sentence;
}

Task<> Watchdog(Impl& im, ServiceRt& s) {
  if (!s.inst) co_return;
  const std::string tag = s.inst->tag;              // this instance's watchdog only
  const WatchdogSpec w = s.cfg.incidents.watchdog;  // a copy: a reload may replace cfg
  std::optional<Pattern> busy_body;                 // validated when the config was read
  if (!w.busy_expect_body.empty()) {
    if (Result<Pattern> p = Pattern::Compile(w.busy_expect_body)) busy_body.emplace(std::move(*p));
  }
  const auto step = std::clamp<std::chrono::nanoseconds>(w.silence / 5, 20ms, 5s);
  s.incident.last_output = im.clock.Now();
  auto stale = [&] { return !s.inst || s.inst->tag != tag || s.removed; };
  while (!stale() && s.state == SvcState::kRunning) {
    co_await im.Sleep(step);
    if (stale() || s.state != SvcState::kRunning) co_return;
    const auto silent = im.clock.Now() - s.incident.last_output;
    if (silent < w.silence) continue;
    std::string busy;
    if (s.active_jobs > 0) {
      busy = std::to_string(s.active_jobs) + " vramguard job(s) running";
    } else if (!w.busy_url.empty()) {
      HttpProbeResult r = co_await HttpRequestOnce(im.io, "GET", w.busy_url, w.busy_timeout);
      if (stale()) co_return;
      if (r.status == w.busy_status && (!busy_body || busy_body->Search(r.body)))
        busy = "busy probe " + w.busy_url + " says busy";
    }
    if (busy.empty()) continue;
    const bool act = s.cfg.incidents.on_stuck == CausePolicy::kRestart;
    const std::string action =
        act ? "restart (on_stuck = \"restart\")" : "left running (on_stuck = \"ignore\")";
    const std::string msg = s.cfg.name + " wrote nothing for " +
                            FormatSeconds(std::chrono::duration_cast<Millis>(silent)) +
                            " while busy (" + busy + ")";
    nlohmann::json data = {
        {"silence_s", ToSeconds(silent)}, {"busy", busy}, {"explanation", msg}, {"action", action}};
    const std::int64_t id = im.Emit(s, "stuck", msg, std::move(data));
    Remember(s, "stuck", msg, action, id, UnixNowMs());
    if (!act) {
      s.incident.last_output = im.clock.Now();  // again only after another silence
      continue;
    }
    im.Supersede(s, false);
    im.SetState(s, SvcState::kStopping, "stuck: restarting");
    im.Spawn(im.OpInstanceFailed(s, tag, "stopped the stuck instance",
                                 RestartAfter(im, false, Bytes())));
    co_return;
  }
}

void LoadHistory(Impl& im, ServiceRt& s) {
  if (s.incident.history_loaded) return;
  s.incident.history_loaded = true;
  std::optional<EventRecord> best;
  for (const char* kind : {"oom", "oom-probable", "sticky", "device-lost", "port-clash", "stuck",
                           "gpu-error", "host-oom"}) {
    EventFilter f;
    f.service = s.cfg.name;
    f.kind = kind;
    f.limit = 1;
    auto got = im.deps.store->ListEvents(f);
    if (got && !got->empty() && (!best || got->back().id > best->id)) best = got->back();
  }
  if (!best || s.incident.last) return;
  std::string action;
  if (best->data.is_object()) action = best->data.value("action", "");
  Remember(s, best->kind, best->message, action, best->id, best->time_unix_ms);
}

}  // namespace

void WatchIncidents(Impl& im, ServiceRt& s) {
  if (!s.log) return;
  if (s.incident.tail == s.log.get() && s.incident.listener != 0)
    s.log->RemoveListener(s.incident.listener);
  s.incident.classifier = std::make_unique<Classifier>(UserSignatures(im.config, &s.cfg));
  s.incident.tail = s.log.get();
  s.incident.last_output = im.clock.Now();
  ServiceRt* sp = &s;
  Impl* imp = &im;
  s.incident.listener = s.log->AddListener([imp, sp](const std::string& line) {
    sp->incident.last_output = imp->clock.Now();
    if (!sp->incident.classifier) return;
    for (const Incident& inc : sp->incident.classifier->Feed(line)) {
      if (inc.update) {
        OnIncidentUpdate(*imp, *sp, inc);
      } else {
        OnIncident(*imp, *sp, inc, SnapshotLines(*imp));
      }
    }
  });
}

void OnKernelIncident(Impl& im, Incident inc, const KernelGpu& gpu) {
  if (inc.kind == IncidentKind::kReady) return;
  if (gpu.index) inc.fields.gpu = static_cast<int>(*gpu.index);
  const std::string note =
      gpu.index ? std::string()
                : " (the kernel named PCI " + (gpu.bus.empty() ? std::string("?") : gpu.bus) +
                      ", which matches no GPU vramguard knows: applied to every GPU)";
  auto pinned = [&](const ServiceRt& s) {
    if (s.cfg.gpus.empty()) return false;  // not pinned: it may use any GPU, or none
    if (!gpu.index) return true;
    for (const GpuSelector& sel : s.cfg.gpus) {
      if (sel.index && *sel.index == *gpu.index) return true;
      if (!sel.uuid.empty() && sel.uuid == gpu.uuid) return true;
    }
    return false;
  };
  // One snapshot for every service the message concerns, and for the daemon-wide event.
  const std::vector<GpuMemoryLine> lines = SnapshotLines(im);
  int affected = 0;
  for (auto& [name, sp] : im.services) {
    ServiceRt& s = *sp;
    if (s.removed || !pinned(s)) continue;
    ++affected;
    OnIncident(im, s, inc, lines, note);
    // Waiting to start (backoff, VRAM) on a lost GPU: never start again on its own.
    if (inc.kind == IncidentKind::kDeviceLost && !s.inst &&
        (s.state == SvcState::kBackoff || s.state == SvcState::kWaitingForVram ||
         s.state == SvcState::kWaitingForPort)) {
      im.Supersede(s, false);
      im.SetState(s, SvcState::kFailed,
                  s.cfg.name + " will not start: its GPU is lost (" + inc.what +
                      "); once it is back (reset or reboot), `vramguard start " + s.cfg.name + "`");
    }
  }
  if (affected > 0) return;
  const std::string sentence = ExplainIncident(inc, "", lines);
  const std::string action =
      (gpu.index ? "none: no service is pinned to GPU " + std::to_string(*gpu.index)
                 : std::string("none: no service is pinned to a GPU")) +
      note;
  nlohmann::json data = {{"incident", IncidentJson(inc)},
                         {"vram", MemoryJson(lines)},
                         {"explanation", sentence},
                         {"action", action}};
  im.deps.events->Emit("", "", IncidentKindName(inc.kind), sentence, std::move(data));
}

void OnKernelOomKill(Impl& im, const KernelOomKill& kill, const std::string& line) {
  const auto pid = static_cast<pid_t>(kill.pid);
  const SteadyTime now = im.clock.Now();
  for (auto& [name, sp] : im.services) {
    ServiceRt& s = *sp;
    if (s.removed) continue;
    bool ours = s.inst && s.inst->pid == pid;
    for (const auto& [gone, when] : s.forgotten_pids) {
      if (gone == pid && now - when <= std::chrono::minutes(1)) ours = true;
    }
    if (!ours && s.inst) {
      const std::vector<pid_t> members = im.Members(s);
      ours = std::find(members.begin(), members.end(), pid) != members.end();
    }
    if (!ours) continue;
    Incident inc;
    inc.kind = IncidentKind::kHostOom;
    inc.signature = "kernel-oom-killed-process";
    inc.engine = "linux";
    inc.line = line.substr(0, Classifier::kLineBytes);
    inc.what = "the kernel's OOM killer killed " + (kill.name.empty() ? "a process" : kill.name) +
               " (pid " + std::to_string(kill.pid) + ") for host memory (RAM)";
    OnIncident(im, s, inc, SnapshotLines(im), "",
               "none: the kernel killed it for host memory (RAM), so no VRAM action; its exit is "
               "handled as any exit");
    return;
  }
}

void ApplyIncidentConfig(Impl& im) {
  if (im.alerts) im.alerts->Configure(im.config.incidents.alerts);
  for (auto& [name, s] : im.services) {
    if (!s->removed && s->log) WatchIncidents(im, *s);
  }
}

void StartWatchdog(Impl& im, ServiceRt& s, std::uint64_t gen) {
  (void)gen;
  if (s.cfg.incidents.watchdog.enabled) im.Spawn(Watchdog(im, s));
}

void NewInstanceForIncidents(Impl& im, ServiceRt& s) {
  // A fresh classifier: what the last instance printed (a traceback in progress, the merge window
  // of its last OOM) must not swallow the first incident of this one.
  s.incident.classifier = std::make_unique<Classifier>(UserSignatures(im.config, &s.cfg));
}

nlohmann::json LastIncidentJson(Impl& im, ServiceRt& s) {
  LoadHistory(im, s);
  if (!s.incident.last) return nullptr;
  nlohmann::json j = *s.incident.last;
  j["time"] = FormatUnixMs(j.value("time_unix_ms", std::int64_t{0}));
  return j;
}

}  // namespace vg
