#include "ops/reaper.h"

#include <algorithm>
#include <csignal>
#include <map>
#include <set>

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

  const SteadyTime start = clock_.Now();
  std::vector<pid_t> signalled;
  for (pid_t pid : attached) {
    if (auto r = signaller_.Signal(pid, SIGTERM); r) {
      signalled.push_back(pid);
    } else {
      out.problems.push_back(r.error().message);
    }
  }
  if (!signalled.empty()) say(ReapPhase::kTerm, "SIGTERM → " + Join(signalled));

  std::vector<pid_t> alive = signaller_.WaitForExit(signalled, options.grace);
  std::set<pid_t> after_term(alive.begin(), alive.end());
  for (pid_t pid : signalled) {
    if (!after_term.count(pid)) out.terminated.push_back(pid);
  }
  if (!alive.empty()) {
    say(ReapPhase::kKill,
        "still alive after " + FormatSeconds(options.grace) + " grace; SIGKILL → " + Join(alive));
    for (pid_t pid : alive) {
      if (auto r = signaller_.Signal(pid, SIGKILL); !r) out.problems.push_back(r.error().message);
    }
    std::vector<pid_t> survivors = signaller_.WaitForExit(alive, options.exit_timeout);
    std::set<pid_t> still(survivors.begin(), survivors.end());
    for (pid_t pid : alive) {
      if (!still.count(pid)) out.killed.push_back(pid);
    }
    out.survivors = survivors;
  }
  out.exit_time = clock_.Now() - start;
  signaller_.DetachAll();

  if (!plan.releases.empty()) say(ReapPhase::kVerify, "waiting for the driver to release memory");
  VerifyReleases(plan, before, options, &out);
  out.verified =
      out.survivors.empty() && out.problems.empty() &&
      std::all_of(out.gpus.begin(), out.gpus.end(), [](const GpuRelease& g) { return g.verified; });
  return out;
}

void Reaper::VerifyReleases(const ReapPlan& plan, const GpuSnapshot& before,
                            const ReapOptions& options, ReapOutcome* out) {
  std::map<unsigned, GpuRelease> per_gpu;
  std::map<unsigned, std::vector<const ExpectedRelease*>> pending;
  for (const ExpectedRelease& r : plan.releases) {
    GpuRelease& g = per_gpu[r.gpu];
    g.gpu = r.gpu;
    g.expected += r.bytes.value_or(Bytes());
    pending[r.gpu].push_back(&r);
  }
  for (auto& [index, g] : per_gpu) {
    if (const GpuInfo* info = FindGpu(before, index)) g.free_before = info->free;
  }

  const SteadyTime exited = clock_.Now();
  const SteadyTime deadline = exited + options.release_timeout;
  GpuSnapshot last;
  while (!pending.empty()) {
    auto snap = gpu_.Snapshot();
    const SteadyTime now = clock_.Now();
    if (snap) {
      last = *snap;
      for (auto it = pending.begin(); it != pending.end();) {
        const GpuInfo* info = FindGpu(*snap, it->first);
        GpuRelease& g = per_gpu[it->first];
        auto& list = it->second;
        list.erase(std::remove_if(list.begin(), list.end(),
                                  [&](const ExpectedRelease* r) {
                                    if (info && Listed(*info, r->listed_pid)) return false;
                                    g.freed += r->bytes.value_or(Bytes());
                                    return true;
                                  }),
                   list.end());
        if (list.empty()) {
          g.verified = true;
          g.back_after = now - exited;
          if (info) g.free_after = info->free;
          it = pending.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (pending.empty() || now >= deadline) break;
    clock_.SleepFor(options.poll);
  }
  for (auto& [index, list] : pending) {
    GpuRelease& g = per_gpu[index];
    g.back_after = clock_.Now() - exited;
    for (const ExpectedRelease* r : list) g.still_listed.push_back(r->listed_pid);
    if (const GpuInfo* info = FindGpu(last, index)) g.free_after = info->free;
  }
  for (auto& [index, g] : per_gpu) out->gpus.push_back(std::move(g));
}

}  // namespace vg
