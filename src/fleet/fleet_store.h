// FleetStore: the fleet's shared state on Redis (docs/fleet.md) as the few operations the fleet
// needs — job streams with one consumer group ("vg"), the lease (renew, take over), dead letters,
// fleet-wide idempotency keys, hashes with a TTL (the host registry, job records).
//
// RedisFleetStore (fleet/redis_fleet_store.h) is the production implementation over hiredis;
// testing::MemoryFleetStore (src/testing/memory_fleet_store.h) the fake with the same semantics
// (fleet/fleet_store_behaviour_test.cc runs one suite on both). Calls block (the Redis one for at
// most its timeouts): the daemon makes them on a thread of their own, never on its io thread.
// One instance per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fleet/fleet_policy.h"
#include "util/error.h"
#include "util/units.h"

namespace vg::fleet {

struct StreamEntry {
  std::string stream;
  std::string id;  // "1733250000000-0"
  Fields fields;
  std::int64_t deliveries = 0;    // times delivered so far, this delivery included (0: unknown)
  std::string previous_consumer;  // TakeOver: whose lease expired
};

struct StreamStats {
  std::int64_t waiting = 0;  // entries no host has taken yet
  std::int64_t pending = 0;  // taken, not yet acknowledged (running or lost)
};

class FleetStore {
 public:
  virtual ~FleetStore() = default;

  virtual Result<void> Ping() = 0;
  // XGROUP CREATE <stream> vg 0 MKSTREAM; an existing group is not an error.
  virtual Result<void> EnsureGroup(const std::string& stream) = 0;
  // XADD <stream> * fields…: the new entry's id.
  virtual Result<std::string> Add(const std::string& stream, const Fields& fields) = 0;
  // The first of `streams`, in the order given, that has an entry no one took: XREADGROUP GROUP
  // vg <consumer> COUNT 1 STREAMS <that stream> > — one round trip however many streams (a
  // script on Redis), so a host asks for its whole pull order (every band and class) at once.
  // A stream that does not exist is skipped; one a plain producer created without the group gets
  // it, from its first entry. At most kMaxReadStreams streams.
  virtual Result<std::optional<StreamEntry>> ReadFirstNew(const std::vector<std::string>& streams,
                                                          const std::string& consumer) = 0;
  static constexpr std::size_t kMaxReadStreams = 256;
  // ReadFirstNew of one stream.
  Result<std::optional<StreamEntry>> ReadNew(const std::string& stream,
                                             const std::string& consumer) {
    return ReadFirstNew({stream}, consumer);
  }
  // XREADGROUP … 0: entries this consumer took and never acknowledged (a restarted host's own
  // work first), with their delivery counts; at most `count`.
  virtual Result<std::vector<StreamEntry>> ReadOwnPending(const std::string& stream,
                                                          const std::string& consumer,
                                                          std::size_t count) = 0;
  // XACK, then XDEL: the entry is done and leaves the stream.
  virtual Result<void> Ack(const std::string& stream, const std::string& id) = 0;
  // XCLAIM <stream> vg <consumer> 0 ids… JUSTID: resets the entries' idle time without counting
  // a delivery (the lease renewal). Answers the ids still this consumer's: an id missing was
  // taken over by another host (its lease had expired) or acknowledged.
  virtual Result<std::vector<std::string>> Renew(const std::string& stream,
                                                 const std::string& consumer,
                                                 const std::vector<std::string>& ids) = 0;
  // XPENDING IDLE <min_idle> then XCLAIM <min_idle> (the check is repeated by Redis, so two hosts
  // never both take one entry): entries whose holder has not renewed for `min_idle`, now this
  // consumer's, each with its delivery count (this one included) and the previous holder.
  virtual Result<std::vector<StreamEntry>> TakeOver(const std::string& stream,
                                                    const std::string& consumer, Millis min_idle,
                                                    std::size_t count) = 0;
  // XADD vg:dead (the entry's fields, its stream and id, the reason), then Ack.
  virtual Result<void> DeadLetter(const StreamEntry& entry, const std::string& reason) = 0;
  // SET <key> <value> NX PX <ttl>: nullopt when it was set now, else the value already there.
  virtual Result<std::optional<std::string>> ClaimKey(const std::string& key,
                                                      const std::string& value, Millis ttl) = 0;
  // Compare and set, atomically (a script on Redis): when <key> holds `expected`, it becomes
  // `value` (with a TTL of `ttl`), or is deleted when `value` is empty. Whether it was.
  virtual Result<bool> SwapKey(const std::string& key, const std::string& expected,
                               const std::string& value, Millis ttl) = 0;
  // HSET <key> fields…; PEXPIRE <key> <ttl>.
  virtual Result<void> PutHash(const std::string& key, const Fields& fields, Millis ttl) = 0;
  // HGETALL (empty: no such key).
  virtual Result<Fields> GetHash(const std::string& key) = 0;
  // SCAN MATCH <pattern>, at most `max` keys, sorted.
  virtual Result<std::vector<std::string>> Keys(const std::string& pattern, std::size_t max) = 0;
  virtual Result<StreamStats> Stats(const std::string& stream) = 0;
  // XREVRANGE <stream> + - COUNT <count>: the newest entries first.
  virtual Result<std::vector<StreamEntry>> Recent(const std::string& stream, std::size_t count) = 0;
  // XLEN.
  virtual Result<std::int64_t> Length(const std::string& stream) = 0;
  // ZADD vg:recent <unix_ms> <job>: the index `vramguard jobs --fleet` lists, newest first;
  // only the newest kRecentKept stay (trimmed now and then).
  virtual Result<void> NoteRecent(const std::string& job, std::int64_t unix_ms) = 0;
  // ZREVRANGE vg:recent 0 <count-1>: the jobs whose records changed last, newest first.
  virtual Result<std::vector<std::string>> RecentJobs(std::size_t count) = 0;
};

// The value of `name` in `fields`, or "".
std::string FieldOf(const Fields& fields, std::string_view name);

}  // namespace vg::fleet
