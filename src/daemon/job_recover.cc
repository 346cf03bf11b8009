// The job manager's recovery on boot: what a killed daemon left (the store's RecoverAfterCrash,
// announced as events), the queue loaded back into the planner, and the observations stored on
// jobs replayed into the estimator.
#include "daemon/job_manager_impl.h"

namespace vg {

namespace {

constexpr int kReplayObservations = 1000;  // per service, on boot

}  // namespace

void JobManager::Impl::Recover() {
  auto recovered = store.RecoverAfterCrash(NowMs());
  if (!recovered) {
    events.Log("warning: job recovery failed: " + recovered.error().message);
  } else {
    for (const RecoveredJob& r : *recovered) {
      const std::string id = std::to_string(r.job.id);
      if (r.job.state == JobState::kQueued) {
        Emit(r.job.service, "job-queued",
             "job " + id + " re-queued: it was " + std::string(JobStateName(r.was)) +
                 " when the daemon stopped (the service declared jobs idempotent)",
             {{"job", r.job.id}, {"recovered", true}, {"was", JobStateName(r.was)}});
      } else {
        Emit(r.job.service, "job-failed", "job " + id + " failed: " + r.job.reason,
             {{"job", r.job.id}, {"recovered", true}, {"reason", r.job.reason}});
      }
    }
  }
  auto queued = store.Queued("");
  if (!queued) {
    events.Log("warning: cannot read the job queue: " + queued.error().message);
    return;
  }
  const SteadyTime now = clock.Now();
  for (const JobRecord& j : *queued) {
    if (j.origin == JobOrigin::kDoor) {  // its client's connection ended with the daemon
      FailQueued(j.id, "its request through " + j.service +
                           "'s proxy ended when the daemon stopped; the client may send it again");
      continue;
    }
    if (!planner.Has(j.service)) {
      FailQueued(j.id, "service '" + j.service + "' no longer takes jobs");
      continue;
    }
    PlanEstimate e = planner.Estimate(j.service, j.params);
    planner.Enqueue(std::to_string(j.id), j.service, j.priority, static_cast<std::uint64_t>(j.id),
                    now, e.bytes);
    ++svcs[j.service].queued;
  }
}

// What the estimator learned before a restart: the observations stored on jobs, per service the
// newest kReplayObservations, oldest first (the order they were made in).
void JobManager::Impl::ReplayObservations() {
  for (const std::string& name : JobServices()) {
    if (!planner.Has(name)) continue;
    auto jobs = store.Observed(name, kReplayObservations);
    if (!jobs) {
      events.Log("warning: cannot read " + name + "'s job observations: " + jobs.error().message);
      continue;
    }
    int replayed = 0;
    for (const JobRecord& j : *jobs) {
      if (!j.observed_peak_bytes || !j.observation_kind) continue;
      // As learned live: a peak from a job that answered (done), an at-least from an OOM.
      if (j.state != JobState::kDone && *j.observation_kind != PeakObservation::kAtLeast) continue;
      std::string bad;
      auto params = planner.Validate(name, j.params, &bad);  // the schema may have changed
      if (!params) continue;
      const PeakKind kind = *j.observation_kind == PeakObservation::kExact    ? PeakKind::kExact
                            : *j.observation_kind == PeakObservation::kAtMost ? PeakKind::kAtMost
                                                                              : PeakKind::kAtLeast;
      planner.Observe(name, *params, *j.observed_peak_bytes, kind);
      ++replayed;
    }
    if (replayed > 0)
      events.Log(name + ": " + std::to_string(replayed) +
                 " job observation(s) replayed into the estimator");
  }
}

}  // namespace vg
