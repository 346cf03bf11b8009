// The fleet's pure decisions (docs/fleet.md): the Redis key layout, the size classes that keep a
// job away from hosts that cannot hold it, which classes a host may read now, what becomes of an
// entry taken over from a lost host, and a job entry's fields as a plain producer writes them.
//
// No Redis, no clock reads, no syscalls: time and every figure are arguments. Thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/units.h"

namespace vg::fleet {

// ---- Layout ----------------------------------------------------------------------------------
inline constexpr std::string_view kGroup = "vg";            // the one consumer group
inline constexpr std::string_view kDeadStream = "vg:dead";  // entries given up, with the reason
inline constexpr std::size_t kMaxEntryFields = 16;
inline constexpr std::size_t kMaxFieldBytes = 1 << 20;  // params JSON included
inline constexpr std::size_t kMaxHosts = 256;           // vg:host:* read at most

// A job's size class: jobs whose estimate is at most `limit` go to stream "vg:jobs:<service>:
// <name>". Classes are few and fixed so a plain producer can pick one from its own estimate.
struct SizeClass {
  std::string_view name;  // "le16g"
  Bytes limit;
};
const std::vector<SizeClass>& SizeClasses();  // ascending limits, 1 GiB … 256 GiB
// The smallest class that holds `estimate`; nullopt over the largest (256 GiB).
std::optional<SizeClass> ClassFor(Bytes estimate);
// The largest class limit within `capacity`: the largest job a host of that capacity ever reads
// (0: none). What a submission is checked against, so that an accepted job has a reader.
Bytes ReadableLimit(Bytes capacity);
// A job's priority band: what orders jobs across the fleet. Each class has one stream per band;
// a host reads the high band of every class it can take before the normal band, and that before
// the low one. Within a band a stream is FIFO; within a host's own queue the exact priority
// orders (docs/fleet.md, "Priorities").
enum class Band { kHigh, kNormal, kLow };
Band BandFor(int priority);         // > 0 high, 0 normal, < 0 low
std::string_view BandName(Band b);  // "high", "normal", "low"
inline constexpr Band kBands[] = {Band::kHigh, Band::kNormal, Band::kLow};  // the order read
// "vg:jobs:<service>:<class>" (normal band), "…:<class>:hi" (high), "…:<class>:lo" (low).
std::string StreamName(std::string_view service, const SizeClass& c, Band band = Band::kNormal);
std::string HostKey(std::string_view host);      // "vg:host:<host>"
std::string IdemKey(std::string_view key);       // "vg:idem:<key>"
std::string JobKey(std::string_view fleet_job);  // "vg:job:<id>": where a job is and how it ended
// A job stream's name taken apart; nullopt: not a job stream.
struct StreamKey {
  std::string service;
  SizeClass size_class;
  Band band = Band::kNormal;
};
std::optional<StreamKey> ParseStreamName(std::string_view stream);

// ---- Pull by budget --------------------------------------------------------------------------
// What the host's own admission answers for a hypothetical job of `bytes` of a service now:
// `could_admit(bytes)` is the local planner's Decide (admit or start the service) for a job of
// that estimate. The classes to read, largest first (the jobs only this host may hold go first),
// limited to those whose whole range fits `capacity` (the largest GPU the service may use, less
// the reserve and the service's own baseline) and the local ledger would admit now.
template <class CouldAdmit>
std::vector<SizeClass> ClassesToRead(Bytes capacity, bool local_queue_empty,
                                     CouldAdmit could_admit) {
  std::vector<SizeClass> out;
  if (!local_queue_empty) return out;  // local work first: take nothing new while jobs wait here
  const auto& all = SizeClasses();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->limit > capacity) continue;
    if (!could_admit(it->limit)) continue;
    out.push_back(*it);
  }
  return out;
}

// The streams a host reads for one service, in the order it reads them: every band's `classes`
// (as ClassesToRead answers, largest first), the high band first.
std::vector<std::string> PullOrder(std::string_view service, const std::vector<SizeClass>& classes);

// ---- Entries ---------------------------------------------------------------------------------
using Fields = std::vector<std::pair<std::string, std::string>>;

// A job as it travels in a stream entry (docs/fleet.md, "Entry fields").
struct JobEntry {
  std::string job;        // fleet-wide id, unique ("<host>-<unix ms>-<n>" from vramguard)
  std::string service;    // must match the stream's service
  nlohmann::json params;  // a JSON object; validated again by the host that takes it
  std::string payload;    // JSON text passed to the service as the API's "payload", or ""
  int priority = 0;
  Bytes estimate;           // the submitter's estimate (its class); 0: unknown (class le1g … )
  bool idempotent = false;  // may run again after its host was lost
  std::string idempotency_key;
  std::string submitted_by;  // host or "producer"
  std::int64_t submitted_unix_ms = 0;
};
Fields EncodeEntry(const JobEntry& e);
// Bounded and strict: unknown fields are ignored (a newer producer), missing job/service/params
// or malformed numbers are errors (the entry goes to vg:dead with this message).
Result<JobEntry> DecodeEntry(const Fields& fields);

// ---- Job records (vg:job:<id>) --------------------------------------------------------------
inline constexpr std::string_view kRecentKey = "vg:recent";  // sorted set: job → last change (ms)
inline constexpr std::int64_t kRecentKept = 10000;           // newest records listed by `jobs`
inline constexpr std::size_t kMaxRecordResult = 64 * 1024;   // a larger result stays on its host
// A fleet job id as a user types it: 1–128 bytes, printable ASCII without spaces. Ids from
// vramguard are "<host>-<unix ms>-<n>"; a plain producer's may be anything of that shape.
bool ValidJobId(std::string_view id);
// How a job's record ends; a record in any other state ("queued", "taken") may still change.
bool FinalState(std::string_view state);  // done failed cancelled refused dead
// The record as the API answers it: {"fleet_job": id, field: value…}, the whole-number fields
// (local_id, estimate_bytes, observed_peak_bytes, updated_unix_ms, …) as numbers, `result` as
// the JSON it holds, everything else as text.
nlohmann::json JobRecordJson(std::string_view fleet_job, const Fields& record);

// ---- Fleet-wide idempotency keys (vg:idem:<key>) -------------------------------------------
// The key's value: the job that holds it and when it was claimed, "<job> <unix ms>".
std::string IdemValue(std::string_view job, std::int64_t unix_ms);
struct IdemHolder {
  std::string job;
  std::int64_t unix_ms = 0;  // 0: not stated (a value written by hand or by an older host)
};
IdemHolder ParseIdemValue(std::string_view value);
// A claim whose submission did not queue its job (Redis went away between the claim and the
// XADD): no record of the job, and claimed longer ago than any submission takes. Such a key is
// taken over by the next submission that names it, not left taken for its 24 hours.
inline constexpr std::int64_t kIdemGraceMs = 30000;
bool StaleIdemClaim(const IdemHolder& holder, bool job_has_record, std::int64_t now_unix_ms);

// ---- Takeover --------------------------------------------------------------------------------
// An entry whose host stopped renewing its lease was claimed here (XAUTOCLAIM, which counts one
// more delivery). What to do with it:
enum class TakeoverAction {
  kRun,       // idempotent: run it here
  kHostLost,  // not idempotent: it may have run (part of it) on the lost host; end it failed
  kDead,      // delivered more than max_deliveries times: to vg:dead
};
struct TakeoverDecision {
  TakeoverAction action = TakeoverAction::kRun;
  std::string reason;
};
TakeoverDecision DecideTakeover(std::int64_t deliveries, int max_deliveries, bool idempotent,
                                std::string_view previous_host);

// A new entry read here whose delivery count is already above the limit (an entry read again
// after a restart): dead; else run.
bool OverDelivered(std::int64_t deliveries, int max_deliveries);

// ---- Hosts -----------------------------------------------------------------------------------
// What a host publishes in vg:host:<host> (field "info", JSON) and reads of the others.
struct HostInfo {
  std::string host;
  std::int64_t seen_unix_ms = 0;
  struct Gpu {
    unsigned index = 0;
    Bytes total;
    Bytes free;
  };
  std::vector<Gpu> gpus;
  // Per service it runs: the largest job estimate it can ever hold (capacity).
  std::map<std::string, Bytes> capacity;
  std::int64_t running = 0;
  std::int64_t queued = 0;
};
nlohmann::json HostInfoJson(const HostInfo& h);
Result<HostInfo> ParseHostInfo(std::string_view text);

// The largest capacity for `service` over the hosts; nullopt: no host runs it.
std::optional<Bytes> LargestCapacity(const std::vector<HostInfo>& hosts, std::string_view service);

// ---- Redis down ------------------------------------------------------------------------------
// The wait before reconnect attempt `attempt` (0-based): 100 ms doubling, at most 5 s.
Millis ReconnectDelay(int attempt);

}  // namespace vg::fleet
