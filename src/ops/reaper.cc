#include "ops/reaper.h"

#include <algorithm>
#include <csignal>
#include <map>
#include <set>

#include "core/stop_machine.h"

namespace vg {
namespace {

const GpuInfo* FindGpu(const GpuSnapshot& s, unsigned index) {
  for (const GpuInfo& g : s.gpus) {
    if (g.index == index) return &g;
  }
  return nullptr;
}

bool Listed(const GpuInfo& g, pid_t pid) {
  return std::any_of(g.processes.begin(), g.processes.end(),
                     [&](const GpuProcess& p) { return static_cast<pid_t>(p.pid) == pid; });
}

std::string Join(const std::vector<pid_t>& pids) {
  std::string out;
  for (pid_t p : pids) out += (out.empty() ? "" : " ") + std::to_string(p);
  return out;
}

}  // namespace

Bytes ReapOutcome::Freed() const {
  Bytes total;
  for (const GpuRelease& g : gpus) total += g.freed;
  return total;
}

// The releases a reap waits for, GPU by GPU: which driver entries must vanish and what they held.
class Reaper::Releases {
 public:
  Releases(const ReapPlan& plan, const GpuSnapshot& before) {
    for (const ExpectedRelease& r : plan.releases) {
      GpuRelease& g = per_gpu_[r.gpu];
      g.gpu = r.gpu;
      g.expected += r.bytes.value_or(Bytes());
      pending_[r.gpu].push_back(&r);
    }
    for (auto& [index, g] : per_gpu_) {
      if (const GpuInfo* info = FindGpu(before, index)) g.free_before = info->free;
    }
  }

  std::size_t Pending() const {
    std::size_t n = 0;
    for (const auto& [index, list] : pending_) n += list.size();
    return n;
  }

  // One look at the driver: entries no longer listed count as freed.
  void Update(const GpuSnapshot& snap, std::chrono::nanoseconds since_exit) {
    last_ = snap;
    for (auto it = pending_.begin(); it != pending_.end();) {
      const GpuInfo* info = FindGpu(snap, it->first);
      GpuRelease& g = per_gpu_[it->first];
      std::erase_if(it->second, [&](const ExpectedRelease* r) {
        if (info && Listed(*info, r->listed_pid)) return false;
        g.freed += r->bytes.value_or(Bytes());
        return true;
      });
      if (!it->second.empty()) {
        ++it;
        continue;
      }
      g.verified = true;
      g.back_after = since_exit;
      if (info) g.free_after = info->free;
      it = pending_.erase(it);
    }
  }

  std::vector<GpuRelease> Finish(std::chrono::nanoseconds since_exit) {
    for (auto& [index, list] : pending_) {
      GpuRelease& g = per_gpu_[index];
      g.back_after = since_exit;
      for (const ExpectedRelease* r : list) g.still_listed.push_back(r->listed_pid);
      if (const GpuInfo* info = FindGpu(last_, index)) g.free_after = info->free;
    }
    std::vector<GpuRelease> out;
    for (auto& [index, g] : per_gpu_) out.push_back(std::move(g));
    return out;
  }

 private:
  std::map<unsigned, GpuRelease> per_gpu_;
  std::map<unsigned, std::vector<const ExpectedRelease*>> pending_;
  GpuSnapshot last_;
};

// Drives the one stop procedure (core/stop_machine.h), blocking: exits are waited on pidfds for
// the whole remaining grace, the driver is polled every `poll` once they are gone.
ReapOutcome Reaper::Execute(const ReapPlan& plan, const GpuSnapshot& before,
                            const ReapOptions& options, const ReapProgress& progress) {
  ReapOutcome out;
  auto say = [&](ReapPhase phase, const std::string& text) {
    if (progress) progress(phase, text);
  };

  std::vector<pid_t> attached;
  for (const ReapTarget& t : plan.targets) {
    auto r = signaller_.Attach(t.pid, t.start_time);
    if (r) {
      attached.push_back(t.pid);
    } else if (r.error().code == ErrorCode::kNotFound) {
      out.gone.push_back(t.pid);
    } else {
      out.problems.push_back(r.error().message);
    }
  }

  StopLimits limits;
  limits.signal = SIGTERM;
  limits.grace = options.grace;
  limits.exit_timeout = options.exit_timeout;
  limits.release_timeout = options.release_timeout;
  limits.gpu_poll = options.poll;
  StopMachine machine(limits, clock_.Now());
  Releases releases(plan, before);
  std::vector<pid_t> signalled, alive, after_term;
  bool killed = false;
  const SteadyTime first_signal = clock_.Now();
  SteadyTime exited{};
  StopObservation obs{clock_.Now(), attached.size(), releases.Pending(), false};
  for (StopStep step = machine.Next(obs); step.action != StopAction::kDone;
       step = machine.Next(obs)) {
    switch (step.action) {
      case StopAction::kSignal:
        for (pid_t pid : attached) {
          if (auto r = signaller_.Signal(pid, SIGTERM); r) {
            signalled.push_back(pid);
          } else {
            out.problems.push_back(r.error().message);
          }
        }
        alive = signalled;
        if (!signalled.empty()) say(ReapPhase::kTerm, "SIGTERM → " + Join(signalled));
        break;
      case StopAction::kWaitExit: {
        std::chrono::nanoseconds left =
            std::max<std::chrono::nanoseconds>(step.until - clock_.Now(), {});
        if (options.on_wait && !alive.empty()) {
          options.on_wait(ReapWait{killed, alive.size(),
                                   killed ? std::chrono::nanoseconds(0) : left,
                                   clock_.Now() - first_signal});
          left = std::min<std::chrono::nanoseconds>(left, options.tick);
        }
        alive = signaller_.WaitForExit(alive, left);
        break;
      }
      case StopAction::kKill:
        killed = true;
        after_term = alive;
        say(ReapPhase::kKill, "still alive after " + FormatSeconds(options.grace) +
                                  " grace; SIGKILL → " + Join(alive));
        for (pid_t pid : alive) {
          if (auto r = signaller_.Signal(pid, SIGKILL); !r)
            out.problems.push_back(r.error().message);
        }
        break;
      case StopAction::kPollGpu:
        if (exited == SteadyTime{}) {  // the first look: every target is gone (or given up on)
          exited = clock_.Now();
          signaller_.DetachAll();
          if (!plan.releases.empty())
            say(ReapPhase::kVerify, "waiting for the driver to release memory");
        }
        if (step.poll.count() > 0) clock_.SleepFor(step.poll);
        if (releases.Pending() > 0) {
          if (auto snap = gpu_.Snapshot()) releases.Update(*snap, clock_.Now() - exited);
        }
        break;
      case StopAction::kDone:
        break;
    }
    obs = StopObservation{clock_.Now(), alive.size(), releases.Pending(), false};
  }

  std::set<pid_t> still(alive.begin(), alive.end());
  std::set<pid_t> needed_kill(after_term.begin(), after_term.end());
  for (pid_t pid : signalled) {
    if (still.count(pid)) continue;
    (needed_kill.count(pid) ? out.killed : out.terminated).push_back(pid);
  }
  if (killed) out.survivors = alive;
  out.exit_time = machine.outcome().exit_time;
  out.gpus = releases.Finish(clock_.Now() - exited);
  out.verified =
      out.survivors.empty() && out.problems.empty() &&
      std::all_of(out.gpus.begin(), out.gpus.end(), [](const GpuRelease& g) { return g.verified; });
  return out;
}

}  // namespace vg
