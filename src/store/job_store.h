// The daemon's durable job queue (issue 5 point 4): every job a client submitted, from acceptance
// to its terminal state, so that none vanishes — not even when the daemon is SIGKILLed while jobs
// run.
//
// JobStore is the interface. SqliteJobStore (sqlite_job_store.h) is production, in the daemon's
// state database; MemoryJobStore (memory_job_store.h) is the fake for unit tests; a Redis backend
// may implement it later, so nothing here assumes SQL. All three keep one set of semantics, pinned
// by one shared test suite (job_store_behaviour_test.cc):
//   - Ids: int64, assigned by Submit, increasing in submission order, never reused (not even after
//     pruning). Redis: INCR on one counter key gives exactly this; a stream entry id ("ms-seq") is
//     not used as the job id because it depends on the clock and would make FIFO order and the
//     `after_id` cursor differ between backends. The id passed into Submit is ignored.
//   - Submit stores a new job in state queued (or refused, to record a 422 refusal) and returns
//     the stored record. With an idempotency key that the same service already has — in any
//     state, terminal ones included, until pruning removes that job — it stores nothing and
//     returns the existing job with duplicate = true. Keys are per service.
//   - Sizes are capped: payload ≤ kMaxJobPayloadBytes, params (as compact JSON) ≤
//     kMaxJobParamsBytes, result (as compact JSON) ≤ kMaxJobResultBytes. Over a cap: the write
//     fails with kInvalidArgument and stores nothing.
//   - States: queued → starting → running → done | failed | cancelled; refused only at submit.
//     done, failed, cancelled and refused are terminal: no Transition or SetResult ever changes a
//     terminal job again (RecordObservation may still add its measured peak). `interrupted` is
//     not terminal: the daemon may mark its running jobs so when it stops on purpose; the next
//     RecoverAfterCrash treats them like starting/running ones.
//   - Transition is a compare-and-set: it applies `to` and the change only when the job is in one
//     of `from` at that moment, atomically. A lost race is a value (applied = false, with the job
//     as it was found), not an Error: the caller branches on it (cancel racing a start). Errors
//     are kept for an unknown id (kNotFound), a request that can never apply (kInvalidArgument:
//     empty `from`, a terminal state in `from`, `to` = refused) and the store failing (kIo, …).
//     Entering `starting` adds 1 to attempts, so attempts counts the runs begun.
//   - RecoverAfterCrash(now): every job in starting, running or interrupted is re-queued when it
//     is idempotent (reason kReasonRequeued; started time and gpu cleared; its begun run was
//     already counted in attempts), else failed (reason kReasonNotIdempotent, finished = now).
//     Returns one entry per job changed, oldest first, so the daemon can emit events.
//   - Order: Queued() returns queued jobs by priority (higher first), then id (FIFO).
//     List() returns matching jobs by id: oldest first after `after_id`, or the newest first.
//     Both return summaries (payload and result left empty; payload_bytes says how big it is);
//     Get returns the whole record.
//   - Prune(now, retention) deletes terminal jobs only — finished longer ago than max_age, and the
//     oldest beyond max_terminal_jobs — never a queued, starting, running or interrupted one.
// Durability: every write is durable once it returns. SqliteJobStore: committed to the WAL, which
// survives the daemon's SIGKILL at any moment; with Synchronous::kNormal (default) the last
// commits may be lost to a power cut or kernel crash (never the file); kFull survives those too,
// at an fsync per write. Errors are values; nothing throws.
// Thread-safety: SqliteJobStore is thread-safe (one mutex; other threads, connections and
// processes may use the same file at once). MemoryJobStore is not. The daemon itself calls from
// its one io_context thread.
// Units: times are Unix epoch milliseconds (`_unix_ms`), passed in by the caller (the store never
// reads a clock); memory in vg::Bytes.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/state_store.h"
#include "util/error.h"
#include "util/units.h"

namespace vg {

using JobId = std::int64_t;

// Caps, enforced by every implementation.
inline constexpr std::size_t kMaxJobPayloadBytes = 32u << 20;  // 32 MiB
inline constexpr std::size_t kMaxJobParamsBytes = 1u << 20;    // 1 MiB of compact JSON
inline constexpr std::size_t kMaxJobResultBytes = 4u << 20;    // 4 MiB of compact JSON

inline constexpr std::string_view kReasonRequeued = "interrupted by daemon restart";
inline constexpr std::string_view kReasonNotIdempotent =
    "interrupted: the daemon stopped while it ran and the service did not declare jobs idempotent";

enum class JobState {
  kQueued,
  kStarting,  // admitted; the service is being started or the request dispatched
  kRunning,
  kDone,
  kFailed,
  kCancelled,
  kRefused,      // could never fit; recorded at submit
  kInterrupted,  // the daemon stopped on purpose while it ran; decided by RecoverAfterCrash
};
inline constexpr std::array<JobState, 8> kAllJobStates = {
    JobState::kQueued, JobState::kStarting,  JobState::kRunning, JobState::kDone,
    JobState::kFailed, JobState::kCancelled, JobState::kRefused, JobState::kInterrupted};

bool IsTerminal(JobState state);
// "queued", "starting", … — the names in the API, the CLI and the database.
std::string_view JobStateName(JobState state);
std::optional<JobState> ParseJobState(std::string_view name);

// What an observed peak means (docs/gpu-facts.md, the caching allocator).
enum class PeakObservation {
  kExact,    // the service's usage rose during the job: this is the job's peak
  kAtMost,   // it did not rise above what the service already held: the job needed at most this
  kAtLeast,  // it ran out of memory: the job needed more than this
};
std::string_view PeakObservationName(PeakObservation kind);  // "exact", "at-most", "at-least"
std::optional<PeakObservation> ParsePeakObservation(std::string_view name);

// Where a job came from: the job API (and the fleet), or a request a service's proxy holds
// (docs/proxy.md, "Routes that are jobs"), whose client does not outlive the daemon.
enum class JobOrigin { kApi, kDoor };
const char* JobOriginName(JobOrigin o);           // "api", "door"
JobOrigin ParseJobOrigin(std::string_view text);  // anything else: kApi

struct JobRecord {
  JobId id = 0;  // assigned by Submit
  std::string service;
  nlohmann::json params = nlohmann::json::object();
  std::string payload;              // opaque bytes; empty in summaries
  std::uint64_t payload_bytes = 0;  // size of the payload; set by the store
  int priority = 0;                 // higher runs first
  std::optional<std::string> idempotency_key;
  JobState state = JobState::kQueued;
  std::string reason;  // one line: why it failed, was refused, cancelled or re-queued
  std::int64_t submitted_unix_ms = 0;
  std::optional<std::int64_t> started_unix_ms;
  std::optional<std::int64_t> finished_unix_ms;
  std::optional<int> gpu;  // index of the GPU it was admitted to
  Bytes estimate_bytes;
  std::optional<Bytes> observed_peak_bytes;
  std::optional<PeakObservation> observation_kind;  // set with observed_peak_bytes
  int attempts = 0;                                 // runs begun (entries into starting)
  nlohmann::json result;    // the service's answer body; null until set; null in summaries
  bool idempotent = false;  // from the service's config at submit: may it be re-run after a crash
  JobOrigin origin = JobOrigin::kApi;

  bool operator==(const JobRecord&) const = default;
};

struct SubmitOutcome {
  JobRecord job;           // as stored (the existing one for a duplicate)
  bool duplicate = false;  // the idempotency key was known: nothing was inserted
  // SubmitAndAnnounce only: the announcing event as the store recorded it, with its id, in the
  // job's own transaction. Empty: the store keeps no events (or none was asked for); the caller
  // records it through its StateStore as usual.
  std::optional<EventRecord> event;
};

// Builds the event that announces a newly stored job (called with the job as stored, id set;
// never for a duplicate). std::nullopt: no event.
using JobAnnouncer = std::function<std::optional<EventRecord>(const JobRecord&)>;

// One job of a group commit (SubmitBatch), with the event that announces it (may be empty).
struct JobSubmission {
  JobRecord job;
  JobAnnouncer announce;
};

// Fields a Transition sets along with the state; unset ones keep their value.
struct JobChange {
  std::optional<std::string> reason;
  std::optional<std::int64_t> started_unix_ms;
  std::optional<std::int64_t> finished_unix_ms;
  std::optional<int> gpu;
  std::optional<Bytes> estimate_bytes;
  std::optional<nlohmann::json> result;  // same cap as SetResult
};

struct TransitionOutcome {
  bool applied = false;  // false: the job was not in one of `from`; nothing changed
  JobRecord job;         // the whole record: after the change, or as found
};

struct JobFilter {
  std::vector<JobState> states;  // empty: any
  std::string service;           // empty: any
  JobId after_id = 0;            // only ids > after_id
  bool newest_first = false;     // false: the first `limit` by id; true: the newest `limit`
  int limit = 100;               // must be ≥ 1
};

struct RecoveredJob {
  JobState was = JobState::kRunning;  // starting, running or interrupted
  JobRecord job;                      // after recovery: queued or failed
};

// The store never prunes on its own: the daemon calls Prune (at start and then now and then).
// Keep the history modest: Counts, Queued and filtered List scan the table (measured: 45–65 ms for
// one service's counts among 100,000 jobs on the 2-core VM under load, 2–6 ms among 10,000).
struct JobRetention {
  std::int64_t max_age_ms = 7LL * 24 * 3600 * 1000;  // terminal jobs finished longer ago go
  std::int64_t max_terminal_jobs = 10000;            // the oldest terminal jobs beyond this go
};

// One count per state; states without jobs count 0.
struct JobCounts {
  std::array<std::int64_t, kAllJobStates.size()> by_state{};
  std::int64_t& operator[](JobState s) { return by_state[static_cast<std::size_t>(s)]; }
  std::int64_t operator[](JobState s) const { return by_state[static_cast<std::size_t>(s)]; }
  bool operator==(const JobCounts&) const = default;
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  virtual Result<SubmitOutcome> Submit(JobRecord job) = 0;
  // Submit, and record the event `announce` builds in the same transaction, so a submission
  // costs one commit (docs/state.md). Stores that share the event log's database do that and
  // return the event in SubmitOutcome::event; the default only submits (event left empty).
  // The event log's pruning (kMaxEvents) is kept as SqliteStore keeps it.
  virtual Result<SubmitOutcome> SubmitAndAnnounce(JobRecord job, const JobAnnouncer& announce) {
    (void)announce;
    return Submit(std::move(job));
  }
  // Group commit: SubmitAndAnnounce for each job, in order, all in one transaction (one commit
  // for the lot). One result per job: a job over a cap fails alone (kInvalidArgument); when the
  // transaction fails, every job of it fails with that error and none is stored. Within the
  // batch a repeated idempotency key is a duplicate of the earlier job. The default calls
  // SubmitAndAnnounce once per job.
  virtual std::vector<Result<SubmitOutcome>> SubmitBatch(std::vector<JobSubmission> jobs) {
    std::vector<Result<SubmitOutcome>> out;
    for (JobSubmission& s : jobs) out.push_back(SubmitAndAnnounce(std::move(s.job), s.announce));
    return out;
  }
  virtual Result<JobRecord> Get(JobId id) = 0;  // kNotFound when absent (or pruned)
  // The job of `service` with idempotency key `key` (any state), as Submit would find it;
  // nullopt when there is none. The whole record.
  virtual Result<std::optional<JobRecord>> FindByKey(const std::string& service,
                                                     const std::string& key) = 0;
  virtual Result<std::vector<JobRecord>> List(const JobFilter& filter) = 0;
  // Queued jobs of one service (empty: all), priority then FIFO order.
  virtual Result<std::vector<JobRecord>> Queued(const std::string& service) = 0;

  virtual Result<TransitionOutcome> Transition(JobId id, const std::vector<JobState>& from,
                                               JobState to, const JobChange& change) = 0;
  // Fails with kRefused on a terminal job, kNotFound on an unknown one.
  virtual Result<void> SetResult(JobId id, const nlohmann::json& result) = 0;
  // Any state, terminal included. kNotFound on an unknown job.
  virtual Result<void> RecordObservation(JobId id, Bytes peak, PeakObservation kind) = 0;
  // The newest `limit` (≥ 1) jobs of `service` that carry an observation, returned oldest first,
  // as summaries (what the daemon replays into its estimator on boot).
  virtual Result<std::vector<JobRecord>> Observed(const std::string& service, int limit) = 0;

  virtual Result<std::vector<RecoveredJob>> RecoverAfterCrash(std::int64_t now_unix_ms) = 0;
  virtual Result<JobCounts> Counts(const std::string& service) = 0;  // empty: all services
  // Returns how many jobs were deleted.
  virtual Result<std::int64_t> Prune(std::int64_t now_unix_ms, const JobRetention& retention) = 0;

  // Housekeeping the store would rather do while its caller has nothing else to do than inside a
  // write (SqliteJobStore: a WAL checkpoint). The daemon calls DoIdleWork after a pause in
  // submissions while IdleWorkDue(). It never changes what is stored or how durable it is; an
  // error leaves the work due. The defaults: none.
  virtual bool IdleWorkDue() const { return false; }
  virtual Result<void> DoIdleWork() { return {}; }
};

}  // namespace vg
