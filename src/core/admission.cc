#include "core/admission.h"

#include <algorithm>
#include <queue>

namespace vg {

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kAdmit:
      return "admit";
    case Verdict::kStartService:
      return "start-service";
    case Verdict::kFreeMemory:
      return "free-memory";
    case Verdict::kWait:
      return "wait";
    case Verdict::kRefuse:
      return "refuse";
  }
  return "wait";
}

std::optional<Millis> RecentDurations::Median() const {
  if (last.empty()) return std::nullopt;
  std::vector<Millis> sorted = last;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

void RecordDuration(DurationBook* book, const std::string& service, Millis took) {
  std::vector<Millis>& last = (*book)[service].last;
  last.push_back(took);
  if (last.size() > kRecentDurations) last.erase(last.begin());
}

Eta EstimateStart(const EtaInput& in) {
  Eta out;
  if (!in.median || in.memory_unknown) return out;
  const Millis m = *in.median;
  const std::size_t slots = std::max(1u, in.concurrency);
  // When each slot can take the next job, earliest first.
  std::priority_queue<Millis, std::vector<Millis>, std::greater<>> free_at;
  for (std::size_t i = 0; i < slots; ++i) {
    if (i < in.running_elapsed.size()) {
      const Millis left = m - in.running_elapsed[i];
      if (left <= Millis(0)) out.overdue = true;
      free_at.push(std::max(Millis(0), left));
    } else {
      free_at.push(in.memory_free_in.value_or(Millis(0)));
    }
  }
  for (std::size_t i = 0; i < in.ahead; ++i) {
    const Millis t = free_at.top();
    free_at.pop();
    free_at.push(t + m);
  }
  out.start_in = free_at.top();
  return out;
}

// ---- JobQueue ----

bool JobQueue::Add(QueuedJob job) {
  if (by_id_.contains(job.id)) return false;
  Key key{-job.priority, job.seq};
  std::string id = job.id;
  std::string service = job.service;
  ServiceQueue& sq = services_[service];
  auto [it, inserted] = sq.jobs.emplace(key, std::move(job));
  if (!inserted) return false;  // duplicate seq: a caller bug, refuse rather than overwrite
  sq.estimates.insert(it->second.estimate);
  sq.by_priority[it->second.priority][it->second.seq] = &it->second;
  by_id_.emplace(std::move(id), std::make_pair(std::move(service), key));
  return true;
}

bool JobQueue::Remove(const std::string& id) {
  auto idit = by_id_.find(id);
  if (idit == by_id_.end()) return false;
  auto sit = services_.find(idit->second.first);
  ServiceQueue& sq = sit->second;
  auto jit = sq.jobs.find(idit->second.second);
  const QueuedJob& job = jit->second;
  sq.estimates.erase(sq.estimates.find(job.estimate));
  auto pit = sq.by_priority.find(job.priority);
  pit->second.erase(job.seq);
  if (pit->second.empty()) sq.by_priority.erase(pit);
  sq.jobs.erase(jit);
  if (sq.jobs.empty()) services_.erase(sit);
  by_id_.erase(idit);
  return true;
}

const QueuedJob* JobQueue::Find(const std::string& id) const {
  auto idit = by_id_.find(id);
  if (idit == by_id_.end()) return nullptr;
  const ServiceQueue& sq = services_.at(idit->second.first);
  return &sq.jobs.at(idit->second.second);
}

std::size_t JobQueue::Position(const std::string& id) const {
  auto idit = by_id_.find(id);
  if (idit == by_id_.end()) return 0;
  const ServiceQueue& sq = services_.at(idit->second.first);
  std::size_t pos = 1;
  for (auto it = sq.jobs.begin(); it != sq.jobs.end() && it->first < idit->second.second; ++it)
    ++pos;
  return pos;
}

std::size_t JobQueue::CountAhead(const std::string& service, int priority) const {
  auto sit = services_.find(service);
  if (sit == services_.end()) return 0;
  std::size_t n = 0;
  for (auto it = sit->second.by_priority.lower_bound(priority); it != sit->second.by_priority.end();
       ++it) {
    n += it->second.size();
  }
  return n;
}

// ---- Decisions ----

namespace {

enum class WaitCause { kNone, kConcurrency, kMemory };

struct Context {
  const std::set<unsigned>* reserved;          // GPUs held for an aged waiting job
  const std::set<std::string>* not_stoppable;  // services with a job waiting ahead
};

struct FreePlan {
  unsigned gpu = 0;
  std::vector<std::string> release, stop;
  double cost = 0;  // seconds of start-up lost (0 for releases only)
  Bytes bytes;      // freed
};

double StartupSeconds(const std::optional<Millis>& m) {
  // Unknown start-up: assume a minute, so a measured quick starter is preferred.
  return m ? std::chrono::duration<double>(*m).count() : 60.0;
}

// The cheapest way to free `shortfall` on `gpu` from idle services, if any.
std::optional<FreePlan> PlanFree(const Ledger& ledger, unsigned gpu, const std::string& service,
                                 Bytes shortfall, const Context& ctx) {
  std::vector<Ledger::IdleHolder> holders = ledger.IdleHolders(gpu, service);
  std::erase_if(holders,
                [&](const Ledger::IdleHolder& h) { return ctx.not_stoppable->contains(h.name); });
  if (holders.empty()) return std::nullopt;
  // 1. Releases only (no restart cost): biggest caches first.
  std::vector<const Ledger::IdleHolder*> by_cache;
  for (const auto& h : holders) {
    if (h.cache.count()) by_cache.push_back(&h);
  }
  std::sort(by_cache.begin(), by_cache.end(), [](auto* a, auto* b) {
    return a->cache != b->cache ? a->cache > b->cache : a->name < b->name;
  });
  FreePlan plan;
  plan.gpu = gpu;
  for (auto* h : by_cache) {
    if (plan.bytes >= shortfall) break;
    plan.release.push_back(h->name);
    plan.bytes += h->cache;
  }
  if (plan.bytes >= shortfall) return plan;
  // 2. Stops. One service that frees enough alone: the quickest to start again, then the one
  // freeing most. Otherwise several, best bytes per second of start-up first.
  plan = FreePlan();
  plan.gpu = gpu;
  const Ledger::IdleHolder* single = nullptr;
  for (const auto& h : holders) {
    if (h.held < shortfall) continue;
    if (!single) {
      single = &h;
      continue;
    }
    double a = StartupSeconds(h.startup), b = StartupSeconds(single->startup);
    if (a < b ||
        (a == b && (h.held > single->held || (h.held == single->held && h.name < single->name)))) {
      single = &h;
    }
  }
  if (single) {
    plan.stop.push_back(single->name);
    plan.bytes = single->held;
    plan.cost = StartupSeconds(single->startup);
    return plan;
  }
  std::vector<const Ledger::IdleHolder*> by_value;
  for (const auto& h : holders) by_value.push_back(&h);
  std::sort(by_value.begin(), by_value.end(), [](auto* a, auto* b) {
    double va = static_cast<double>(a->held.count()) / std::max(StartupSeconds(a->startup), 0.001);
    double vb = static_cast<double>(b->held.count()) / std::max(StartupSeconds(b->startup), 0.001);
    return va != vb ? va > vb : a->name < b->name;
  });
  for (auto* h : by_value) {
    if (plan.bytes >= shortfall) break;
    plan.stop.push_back(h->name);
    plan.bytes += h->held;
    plan.cost += StartupSeconds(h->startup);
  }
  if (plan.bytes >= shortfall) return plan;
  return std::nullopt;
}

// Decides one job against the ledger; with `apply`, records what it takes in the ledger.
Decision Evaluate(Ledger& ledger, const ServiceSnapshot* svc, const QueuedJob& job,
                  const Context& ctx, bool apply, WaitCause* cause) {
  Decision d;
  d.job_id = job.id;
  d.need = job.estimate;
  *cause = WaitCause::kNone;
  if (!svc) {
    d.verdict = Verdict::kRefuse;
    d.reason = "unknown service " + job.service;
    return d;
  }
  d.capacity = ledger.EmptyCapacity(svc->name);
  if (job.estimate > d.capacity) {
    d.verdict = Verdict::kRefuse;
    d.reason = "needs ~" + FormatBytes(job.estimate) + ", at most " + FormatBytes(d.capacity) +
               " plannable even on an empty GPU of " + svc->name;
    return d;
  }
  const bool stopped = svc->state == ServiceRun::kStopped;
  if (ledger.RunningCount(svc->name) >= std::max(1u, svc->concurrency)) {
    d.verdict = Verdict::kWait;
    *cause = WaitCause::kConcurrency;
    if (!apply)  // Plan drops waiting decisions: no text for them
      d.reason = svc->name + " runs " + std::to_string(ledger.RunningCount(svc->name)) +
                 " job(s), its concurrency limit";
    return d;
  }
  // Fits now? Best fit: the GPU it leaves least room on.
  std::optional<unsigned> best;
  Bytes best_left, best_plannable, best_extra;
  std::optional<Bytes> least_extra;  // the least new memory the job takes on any of its GPUs
  bool any_unreserved = false;
  for (unsigned g : svc->gpus) {
    if (ctx.reserved->contains(g)) continue;
    any_unreserved = true;
    Bytes extra = ledger.ExtraFor(svc->name, g, job.estimate);
    if (!least_extra || extra < *least_extra) least_extra = extra;
    Bytes plan = ledger.Plannable(g);
    d.plannable = std::max(d.plannable, plan);
    if (extra <= plan && (!best || plan - extra < best_left)) {
      best = g;
      best_left = plan - extra;
      best_extra = extra;
      best_plannable = plan;
    }
  }
  if (best) {
    d.verdict = stopped ? Verdict::kStartService : Verdict::kAdmit;
    d.gpu = best;
    d.start_service = stopped;
    d.new_bytes = best_extra;
    d.reason = "needs ~" + FormatBytes(job.estimate) + " (" + FormatBytes(best_extra) +
               " new) on GPU " + std::to_string(*best) + ", " + FormatBytes(best_plannable) +
               " plannable";
    if (apply) {
      if (stopped) ledger.Start(svc->name);
      ledger.Admit(svc->name, *best, job.estimate);
    }
    return d;
  }
  // Fits once idle services give memory back?
  std::optional<FreePlan> chosen;
  Bytes chosen_extra;
  for (unsigned g : svc->gpus) {
    if (ctx.reserved->contains(g)) continue;
    Bytes extra = ledger.ExtraFor(svc->name, g, job.estimate);
    Bytes shortfall = extra - ledger.Plannable(g);
    // Cheap bound first: all idle memory there is not enough.
    if (ledger.IdleHeld(g, svc->name, *ctx.not_stoppable) < shortfall) continue;
    // Memory a release or stop frees raises both driver free and total − claims by the same
    // amount (an idle service's claim is what it holds), so plannable grows by p->bytes.
    std::optional<FreePlan> p = PlanFree(ledger, g, svc->name, shortfall, ctx);
    if (!p) continue;
    bool better =
        !chosen || (p->cost != chosen->cost ? p->cost < chosen->cost : p->bytes < chosen->bytes);
    if (better) {
      chosen = std::move(p);
      chosen_extra = extra;
    }
  }
  if (chosen) {
    d.verdict = Verdict::kFreeMemory;
    d.gpu = chosen->gpu;
    d.release = chosen->release;
    d.stop = chosen->stop;
    d.start_service = stopped;
    d.new_bytes = chosen_extra;
    std::string who;
    for (const auto& r : chosen->release) who += (who.empty() ? "release " : ", release ") + r;
    for (const auto& s : chosen->stop) who += (who.empty() ? "stop " : ", stop ") + s;
    d.reason = "needs ~" + FormatBytes(job.estimate) + " on GPU " + std::to_string(chosen->gpu) +
               ", " + FormatBytes(ledger.Plannable(chosen->gpu)) + " plannable; " + who +
               " (idle) frees " + FormatBytes(chosen->bytes);
    if (apply) {
      for (const auto& r : chosen->release) ledger.Release(r);
      for (const auto& s : chosen->stop) ledger.Stop(s);
      if (stopped) ledger.Start(svc->name);
      ledger.Admit(svc->name, chosen->gpu, job.estimate);
    }
    return d;
  }
  d.verdict = Verdict::kWait;
  *cause = WaitCause::kMemory;
  if (apply) return d;  // Plan drops waiting decisions: no text for them
  if (!any_unreserved) {
    d.reason = "its GPUs are held for an earlier job that waited longer";
  } else if (least_extra && *least_extra > job.estimate) {
    // The service is not loaded there: its start-up memory comes first, and is what waits.
    d.reason = "needs ~" + FormatBytes(job.estimate) + " and ~" +
               FormatBytes(*least_extra - job.estimate) + " to " + (stopped ? "start " : "load ") +
               svc->name + " first (~" + FormatBytes(*least_extra) + " in all), " +
               FormatBytes(d.plannable) + " plannable now";
  } else {
    d.reason =
        "needs ~" + FormatBytes(job.estimate) + ", " + FormatBytes(d.plannable) + " plannable now";
  }
  return d;
}

// The inputs of EstimateStart from the cluster: the service's own running jobs fill its slots;
// its free slots wait for the first running job on its GPUs to end (its memory).
Eta EstimateEta(const ClusterSnapshot& cluster, const ServiceSnapshot& svc, std::size_t ahead,
                const DurationBook& durations, SteadyTime now, WaitCause cause, Decision* d) {
  auto median_of = [&](const std::string& name) -> std::optional<Millis> {
    auto it = durations.find(name);
    if (it == durations.end()) return std::nullopt;
    return it->second.Median();
  };
  EtaInput in;
  in.median = median_of(svc.name);
  if (auto it = durations.find(svc.name); it != durations.end())
    d->measured = it->second.last.size();
  d->typical = in.median;
  in.ahead = ahead;
  in.concurrency = svc.concurrency;
  auto elapsed = [&](const RunningJobSnapshot& j) {
    return j.started ? std::chrono::duration_cast<Millis>(now - *j.started) : Millis(0);
  };
  for (const RunningJobSnapshot& j : svc.running) in.running_elapsed.push_back(elapsed(j));
  if (in.running_elapsed.size() < std::max(1u, svc.concurrency)) {
    for (const ServiceSnapshot& s : cluster.services) {
      std::optional<Millis> m = median_of(s.name);
      for (const RunningJobSnapshot& j : s.running) {
        if (!m || std::find(svc.gpus.begin(), svc.gpus.end(), j.gpu) == svc.gpus.end()) continue;
        Millis left = std::max(Millis(0), *m - elapsed(j));
        if (!in.memory_free_in || left < *in.memory_free_in) in.memory_free_in = left;
      }
    }
    in.memory_unknown = cause == WaitCause::kMemory && !in.memory_free_in;
  }
  return EstimateStart(in);
}

}  // namespace

std::vector<Decision> Plan(const ClusterSnapshot& cluster, const JobQueue& queue,
                           const DurationBook& durations, SteadyTime now,
                           const AdmissionOptions& options) {
  (void)durations;  // waiting jobs get no decision here; DecideJob gives their ETA
  std::vector<Decision> out;
  Ledger ledger(cluster);
  std::set<unsigned> reserved;
  std::set<std::string> waiting;  // services with a job waiting (not stoppable for later ones)
  Context ctx{&reserved, &waiting};

  using Iter = std::map<JobQueue::Key, QueuedJob>::const_iterator;
  // A cursor walks one service's queue; once the service is dropped, markers stand in for the
  // effects its waiting jobs would have had, at their place in the queue order.
  enum class Mark { kJob, kWaiting, kReserve };
  struct Cursor {
    JobQueue::Key key;
    Mark mark;
    Iter it, end;
    const JobQueue::ServiceQueue* q;
    const ServiceSnapshot* svc;
  };
  auto later = [](const Cursor& a, const Cursor& b) { return b.key < a.key; };
  std::priority_queue<Cursor, std::vector<Cursor>, decltype(later)> heap(later);
  for (const auto& [name, q] : queue.services()) {
    if (!q.jobs.empty()) {
      heap.push({q.jobs.begin()->first, Mark::kJob, q.jobs.begin(), q.jobs.end(), &q,
                 cluster.Service(name)});
    }
  }

  // Can no remaining job of this service start (or be refused) in this pass? Then they all
  // wait, for `cause`. (What later decisions do only shrinks their room: admissions take
  // memory; a release or stop frees at most the idle memory already counted here.)
  auto stuck = [&](const Cursor& c, WaitCause* cause) {
    if (!c.svc) return false;  // its jobs are refused one by one
    // Refusals must still be reported.
    if (*c.q->estimates.rbegin() > ledger.EmptyCapacity(c.svc->name)) return false;
    if (ledger.RunningCount(c.svc->name) >= std::max(1u, c.svc->concurrency)) {
      *cause = WaitCause::kConcurrency;
      return true;
    }
    Bytes smallest = *c.q->estimates.begin();
    for (unsigned g : c.svc->gpus) {
      if (reserved.contains(g)) continue;
      Bytes room = ledger.Plannable(g) + ledger.IdleHeld(g, c.svc->name, waiting);
      if (ledger.ExtraFor(c.svc->name, g, smallest) <= room) return false;
    }
    *cause = WaitCause::kMemory;
    return true;
  };
  // The first job from `c` on, in queue order, that has waited past the backfill age limit
  // (submission times grow with seq, so per priority level the first remaining is the oldest).
  auto first_aged = [&](const Cursor& c) -> std::optional<JobQueue::Key> {
    const int current = c.it->second.priority;
    for (auto pit = c.q->by_priority.upper_bound(current); pit != c.q->by_priority.begin();) {
      --pit;  // highest priority first, from the current level down
      const auto& jobs = pit->second;
      auto it = pit->first == current ? jobs.lower_bound(c.it->second.seq) : jobs.begin();
      if (it != jobs.end() && now - it->second->submitted >= options.backfill_age_limit) {
        return JobQueue::Key{-pit->first, it->first};
      }
    }
    return std::nullopt;
  };

  while (!heap.empty()) {
    Cursor c = heap.top();
    heap.pop();
    if (c.mark == Mark::kWaiting) {
      waiting.insert(c.svc->name);
      continue;
    }
    if (c.mark == Mark::kReserve) {
      reserved.insert(c.svc->gpus.begin(), c.svc->gpus.end());
      continue;
    }
    const QueuedJob& job = c.it->second;
    WaitCause cause;
    Decision d = Evaluate(ledger, c.svc, job, ctx, /*apply=*/true, &cause);
    if (d.verdict != Verdict::kWait) {
      out.push_back(std::move(d));
    } else {
      waiting.insert(job.service);
      if (cause == WaitCause::kMemory && now - job.submitted >= options.backfill_age_limit) {
        reserved.insert(c.svc->gpus.begin(), c.svc->gpus.end());
      }
    }
    ++c.it;
    if (c.it == c.end) continue;
    c.key = c.it->first;
    WaitCause rest;
    if (options.drop_stuck_services && stuck(c, &rest)) {
      // Every remaining job waits: mark the service not stoppable from its next job on, and
      // (waiting for memory) hold its GPUs from its first aged job on.
      heap.push({c.key, Mark::kWaiting, c.it, c.end, c.q, c.svc});
      if (rest == WaitCause::kMemory) {
        if (std::optional<JobQueue::Key> aged = first_aged(c)) {
          heap.push({*aged, Mark::kReserve, c.it, c.end, c.q, c.svc});
        }
      }
      continue;
    }
    heap.push(c);
  }
  return out;
}

Decision DecideJob(const ClusterSnapshot& cluster, const JobQueue& queue, const QueuedJob& job,
                   const DurationBook& durations, SteadyTime now, const AdmissionOptions& options) {
  Ledger ledger(cluster);
  const bool queued = queue.Find(job.id) != nullptr;
  const ServiceSnapshot* svc = cluster.Service(job.service);
  std::set<unsigned> reserved;
  std::set<std::string> waiting;
  // Jobs ahead: an aged one waiting for memory reserves its service's GPUs; a service with any
  // job ahead is not stopped for this one.
  for (const auto& [name, q] : queue.services()) {
    const ServiceSnapshot* other = cluster.Service(name);
    bool at_limit = other && ledger.RunningCount(name) >= std::max(1u, other->concurrency);
    for (auto pit = q.by_priority.lower_bound(job.priority); pit != q.by_priority.end(); ++pit) {
      const QueuedJob* oldest = pit->second.begin()->second;
      if (oldest->id == job.id) continue;
      if (pit->first == job.priority && queued && oldest->seq > job.seq) continue;
      waiting.insert(name);
      if (other && !at_limit && now - oldest->submitted >= options.backfill_age_limit) {
        reserved.insert(other->gpus.begin(), other->gpus.end());
      }
    }
  }
  Context ctx{&reserved, &waiting};
  WaitCause cause;
  Decision d = Evaluate(ledger, svc, job, ctx, /*apply=*/false, &cause);
  if (d.verdict == Verdict::kWait) {
    d.position = queued ? queue.Position(job.id) : queue.CountAhead(job.service, job.priority) + 1;
    if (svc) {
      Eta eta = EstimateEta(cluster, *svc, d.position - 1, durations, now, cause, &d);
      d.eta = eta.start_in;
      d.eta_overdue = eta.overdue;
    }
  }
  return d;
}

}  // namespace vg
