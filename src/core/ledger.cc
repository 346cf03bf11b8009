#include "core/ledger.h"

#include <algorithm>

namespace vg {
namespace {

Bytes Get(const std::map<unsigned, Bytes>& m, unsigned key) {
  auto it = m.find(key);
  return it == m.end() ? Bytes(0) : it->second;
}

}  // namespace

Bytes ServiceSnapshot::HeldOn(unsigned gpu) const { return Get(held, gpu); }

const LedgerGpu* ClusterSnapshot::Gpu(unsigned index) const {
  for (const LedgerGpu& g : gpus) {
    if (g.index == index) return &g;
  }
  return nullptr;
}

const ServiceSnapshot* ClusterSnapshot::Service(const std::string& name) const {
  for (const ServiceSnapshot& s : services) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

Ledger::Ledger(const ClusterSnapshot& snapshot) : snap_(&snapshot) {
  for (const LedgerGpu& g : snapshot.gpus) gpus_[g.index] = GpuState{&g, g.driver_free};
  for (const ServiceSnapshot& s : snapshot.services) {
    SvcState st;
    st.snap = &s;
    st.state = s.state;
    st.held = s.held;
    for (const RunningJobSnapshot& j : s.running) {
      st.sum_all[j.gpu] += j.estimate;
      if (!j.at_peak) st.sum_not_peak[j.gpu] += j.estimate;
    }
    st.running = static_cast<unsigned>(s.running.size());
    services_.emplace(s.name, std::move(st));
  }
}

Ledger::SvcState* Ledger::Find(const std::string& service) {
  auto it = services_.find(service);
  return it == services_.end() ? nullptr : &it->second;
}

const Ledger::SvcState* Ledger::Find(const std::string& service) const {
  auto it = services_.find(service);
  return it == services_.end() ? nullptr : &it->second;
}

Bytes Ledger::Claim(const SvcState& s, unsigned gpu, Bytes extra_not_peak) const {
  if (s.state == ServiceRun::kStopped) return Bytes(0);
  Bytes held = s.HeldOn(gpu);
  bool on_gpu = std::find(s.snap->gpus.begin(), s.snap->gpus.end(), gpu) != s.snap->gpus.end();
  // A running or starting service holds at least its resident need on each of its GPUs.
  Bytes resident = on_gpu ? s.snap->ResidentNeed() : Bytes(0);
  if (s.state == ServiceRun::kStarting)
    held = std::max(held, std::max(resident, s.snap->start_vram));
  Bytes all = Get(s.sum_all, gpu) + extra_not_peak;
  Bytes not_peak = Get(s.sum_not_peak, gpu) + extra_not_peak;
  return std::max(held, std::min(resident + all, held + not_peak));
}

Bytes Ledger::Plannable(unsigned gpu) const {
  if (auto c = plannable_cache_.find(gpu); c != plannable_cache_.end()) return c->second;
  auto git = gpus_.find(gpu);
  if (git == gpus_.end()) return Bytes(0);
  const LedgerGpu& g = *git->second.snap;
  Bytes outstanding, claims;
  for (const auto& [name, s] : services_) {
    Bytes claim = Claim(s, gpu, Bytes(0));
    Bytes held = s.state == ServiceRun::kStopped ? Bytes(0) : s.HeldOn(gpu);
    outstanding += claim - held;
    claims += claim;
  }
  Bytes by_driver = git->second.driver_free - outstanding;
  Bytes by_total = g.total - claims;
  Bytes plannable = std::min(by_driver, by_total) - g.reserve;
  plannable_cache_[gpu] = plannable;
  return plannable;
}

Bytes Ledger::ExtraFor(const std::string& service, unsigned gpu, Bytes need) const {
  const SvcState* s = Find(service);
  if (!s) return need;
  if (s->state == ServiceRun::kStopped) return s->snap->start_vram + need;
  return Claim(*s, gpu, need) - Claim(*s, gpu, Bytes(0));
}

Bytes Ledger::EmptyCapacity(const std::string& service) const {
  const SvcState* s = Find(service);
  if (!s) return Bytes(0);
  Bytes best;
  for (unsigned gi : s->snap->gpus) {
    auto git = gpus_.find(gi);
    if (git == gpus_.end()) continue;
    const LedgerGpu& g = *git->second.snap;
    Bytes resident = std::max(s->snap->ResidentNeed(), s->snap->start_vram);
    best = std::max(best, g.total - g.reserve - resident);
  }
  return best;
}

void Ledger::Admit(const std::string& service, unsigned gpu, Bytes need) {
  plannable_cache_.clear();
  SvcState* s = Find(service);
  if (!s) return;
  s->sum_all[gpu] += need;
  s->sum_not_peak[gpu] += need;
  ++s->running;
}

void Ledger::Start(const std::string& service) {
  plannable_cache_.clear();
  SvcState* s = Find(service);
  if (!s || s->state != ServiceRun::kStopped) return;
  s->state = ServiceRun::kStarting;
  s->held.clear();
}

void Ledger::Release(const std::string& service) {
  plannable_cache_.clear();
  SvcState* s = Find(service);
  if (!s || s->state != ServiceRun::kRunning || s->running != 0) return;
  for (auto& [gpu, held] : s->held) {
    Bytes keep = std::min(held, s->snap->ResidentNeed());
    if (auto g = gpus_.find(gpu); g != gpus_.end()) g->second.driver_free += held - keep;
    held = keep;
  }
}

void Ledger::Stop(const std::string& service) {
  plannable_cache_.clear();
  SvcState* s = Find(service);
  if (!s || s->running != 0) return;
  for (auto& [gpu, held] : s->held) {
    if (auto g = gpus_.find(gpu); g != gpus_.end()) g->second.driver_free += held;
  }
  s->held.clear();
  s->state = ServiceRun::kStopped;
}

Bytes Ledger::SvcState::HeldOn(unsigned gpu) const { return Get(held, gpu); }

std::vector<Ledger::IdleHolder> Ledger::IdleHolders(unsigned gpu, const std::string& except) const {
  std::vector<IdleHolder> out;
  for (const auto& [name, s] : services_) {
    if (name == except || s.state != ServiceRun::kRunning || s.running != 0) continue;
    Bytes held = s.HeldOn(gpu);
    if (held.count() == 0) continue;
    IdleHolder h;
    h.name = name;
    h.held = held;
    h.cache = s.snap->has_release_hook ? held - s.snap->ResidentNeed() : Bytes(0);
    h.startup = s.snap->startup_time;
    out.push_back(std::move(h));
  }
  return out;
}

unsigned Ledger::RunningCount(const std::string& service) const {
  const SvcState* s = Find(service);
  return s ? s->running : 0;
}

}  // namespace vg
