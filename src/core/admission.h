// Admission: the job queue's order and what to do with each job — run it now on a GPU, start
// its service, free memory held by an idle service first, let it wait (with position and ETA),
// or refuse it because it can never fit.
//
// Pure: decisions are functions of a ClusterSnapshot (core/ledger.h), the queue, the caller's
// per-service recent job durations and `now`. The JobQueue is a plain container owned by the
// caller; thread-compatible. Sizes are job bytes over the loaded service.
//
// Queue order: priority (higher first), then submit order (`seq`). A job may start ahead of an
// earlier one that waits (backfill) only while no earlier job competing for the same GPUs has
// waited for memory longer than `backfill_age_limit`: such a job reserves its service's GPUs —
// nothing behind it starts there until it has started, so no job starves (memory only drains
// from those GPUs, and a job that is not refused fits on an empty GPU of its service).
// A job waiting for its own service's concurrency limit reserves nothing.
//
// Cost: Plan walks the per-service queues merged in queue order and drops a service from the
// walk as soon as none of its remaining jobs can start (concurrency limit reached, its GPUs
// reserved, or its smallest queued estimate larger than anything it could get); DecideJob is
// O(services × priority levels + ledger). Neither rescans waiting jobs of services that cannot
// move.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "clock/clock.h"
#include "core/ledger.h"
#include "util/units.h"

namespace vg {

struct QueuedJob {
  std::string id;
  std::string service;
  int priority = 0;        // higher runs first
  std::uint64_t seq = 0;   // submit order: unique, increasing
  SteadyTime submitted{};  // non-decreasing with seq
  Bytes estimate;          // job bytes (Estimator::Predict(...).bytes)
};

struct AdmissionOptions {
  Millis backfill_age_limit{30000};
  // Plan drops a service from its walk once none of its remaining jobs can start. Off only to
  // measure what that saves (bench/admission_bench.cc); the decisions are the same.
  bool drop_stuck_services = true;
};

// The recent run durations of one service's jobs (bounded: the last kRecentDurations, oldest
// first), fed by the caller from finished jobs. The median is the typical duration: one slow job
// does not move it, a service whose jobs changed is followed within a few jobs.
inline constexpr std::size_t kRecentDurations = 20;
struct RecentDurations {
  std::vector<Millis> last;              // oldest first, at most kRecentDurations
  std::optional<Millis> Median() const;  // nullopt: no job measured yet
};
using DurationBook = std::map<std::string, RecentDurations>;

// Feeds one finished job's duration into the book (drops the oldest beyond kRecentDurations).
void RecordDuration(DurationBook* book, const std::string& service, Millis took);

// When will a queued job start? The honest rule (docs/jobs.md, "ETA"): `concurrency` slots; a
// slot held by a running job of the service frees when that job has run the median duration (a
// job past the median may end any moment: 0, and `overdue`); a free slot is free at once, or,
// when the job also waits for memory that another job on its GPUs holds, when that job ends
// (`memory_free_in`). The `ahead` jobs take the earliest slot one after the other, a median each;
// the job starts when the next slot frees. No measurement: unknown, never ~0.
struct EtaInput {
  std::optional<Millis> median;          // the service's typical job duration
  std::vector<Millis> running_elapsed;   // how long each running job of the service has run
  std::size_t ahead = 0;                 // queued jobs of the service ahead of this one
  unsigned concurrency = 1;              // jobs the service runs at once
  std::optional<Millis> memory_free_in;  // free slots wait this long for memory (none: at once)
  bool memory_unknown = false;  // it waits for memory that no running job will free: unknown
};
struct Eta {
  std::optional<Millis> start_in;  // nullopt: unknown (no job of the service measured yet)
  bool overdue = false;            // a running job is past the median: it may be later
};
Eta EstimateStart(const EtaInput& in);

enum class Verdict {
  kAdmit,         // dispatch now on `gpu`
  kStartService,  // the service is stopped: start it; the job waits as `starting`, then runs
  kFreeMemory,    // first release / stop the idle services named, then (start and) run on `gpu`
  kWait,          // stays queued: `position`, `eta`
  kRefuse,        // can never fit: `capacity` is the most it could get; see core/suggest.h
};

std::string_view VerdictName(Verdict v);  // "admit", "start-service", "free-memory", "wait", …

struct Decision {
  std::string job_id;
  Verdict verdict = Verdict::kWait;
  std::optional<unsigned> gpu;       // admit / start-service / free-memory
  std::vector<std::string> release;  // free-memory: idle services to release (cache) first
  std::vector<std::string> stop;     // free-memory: idle services to stop first
  bool start_service = false;        // the job's own service must be started first
  std::size_t position = 0;          // wait: 1-based among its service's queued jobs
  std::optional<Millis> eta;         // wait: time until it starts (EstimateStart; none: unknown)
  bool eta_overdue = false;          // wait: a running job is past its service's median
  std::optional<Millis> typical;     // wait: the median duration the ETA is made of
  std::size_t measured = 0;          // wait: how many recent durations that median is of
  Bytes need;                        // the job's estimate
  Bytes new_bytes;                   // new memory it takes on `gpu` (start included)
  Bytes plannable;                   // best plannable among its service's GPUs (before it)
  Bytes capacity;                    // refuse: total − reserve − resident need, best GPU
  std::string reason;                // one line for logs and the API
};

class JobQueue {
 public:
  // False when the id is already queued.
  bool Add(QueuedJob job);
  bool Remove(const std::string& id);
  const QueuedJob* Find(const std::string& id) const;
  std::size_t size() const { return by_id_.size(); }

  // 1-based position among its service's queued jobs (O(jobs of that service)); 0 if absent.
  std::size_t Position(const std::string& id) const;
  // Jobs of `service` ahead of a new job of `priority` (O(priority levels)).
  std::size_t CountAhead(const std::string& service, int priority) const;

  struct Key {
    int neg_priority;
    std::uint64_t seq;
    auto operator<=>(const Key&) const = default;
  };
  struct ServiceQueue {
    std::map<Key, QueuedJob> jobs;                                         // queue order
    std::multiset<Bytes> estimates;                                        // smallest first
    std::map<int, std::map<std::uint64_t, const QueuedJob*>> by_priority;  // oldest first
  };
  const std::map<std::string, ServiceQueue>& services() const { return services_; }

 private:
  std::map<std::string, ServiceQueue> services_;
  std::unordered_map<std::string, std::pair<std::string, Key>> by_id_;
};

// Re-plans the whole queue (after a job finished, a service changed state, a job was queued):
// the decisions for jobs that can move now — admit, start-service, free-memory, refuse — in
// queue order. Jobs not named keep waiting. The caller carries the decisions out in order
// (a free-memory or start-service decision: re-measure and re-plan once it is done).
std::vector<Decision> Plan(const ClusterSnapshot& cluster, const JobQueue& queue,
                           const DurationBook& durations, SteadyTime now,
                           const AdmissionOptions& options = {});

// The decision for one job: a newly submitted one (not yet in `queue`; it goes behind every
// queued job of its priority) or a queued one (its position and ETA for `GET /v1/jobs/{id}`).
// Assumes the queue was planned since the cluster last changed (waiting jobs cannot start).
Decision DecideJob(const ClusterSnapshot& cluster, const JobQueue& queue, const QueuedJob& job,
                   const DurationBook& durations, SteadyTime now,
                   const AdmissionOptions& options = {});

}  // namespace vg
