// RedisFleetStore: FleetStore over one synchronous hiredis connection (docs/fleet.md).
//
// Connects lazily on the first call and again after any connection error (the failed call
// answers kUnavailable; the caller retries after fleet::ReconnectDelay). Every call is bounded
// by `io_timeout` (hiredis' socket timeout: no call blocks longer, and no call here uses BLOCK).
// AUTH (user and password, or the password alone) and SELECT db follow each connect. Replies are
// bounded: arrays over kMaxReplyElements are refused. Not thread-safe: one per thread.
#pragma once

#include <memory>
#include <string>

#include "fleet/fleet_store.h"

namespace vg::fleet {

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string user;
  std::string password;
  Millis connect_timeout{2000};
  Millis io_timeout{2000};
};

class RedisFleetStore final : public FleetStore {
 public:
  static constexpr std::size_t kMaxReplyElements = 100000;

  explicit RedisFleetStore(RedisEndpoint endpoint);
  ~RedisFleetStore() override;
  RedisFleetStore(const RedisFleetStore&) = delete;
  RedisFleetStore& operator=(const RedisFleetStore&) = delete;

  bool connected() const;

  Result<void> Ping() override;
  Result<void> EnsureGroup(const std::string& stream) override;
  Result<std::string> Add(const std::string& stream, const Fields& fields) override;
  Result<std::optional<StreamEntry>> ReadFirstNew(const std::vector<std::string>& streams,
                                                  const std::string& consumer) override;
  Result<std::vector<StreamEntry>> ReadOwnPending(const std::string& stream,
                                                  const std::string& consumer,
                                                  std::size_t count) override;
  Result<void> Ack(const std::string& stream, const std::string& id) override;
  Result<std::vector<std::string>> Renew(const std::string& stream, const std::string& consumer,
                                         const std::vector<std::string>& ids) override;
  Result<std::vector<StreamEntry>> TakeOver(const std::string& stream, const std::string& consumer,
                                            Millis min_idle, std::size_t count) override;
  Result<void> DeadLetter(const StreamEntry& entry, const std::string& reason) override;
  Result<std::optional<std::string>> ClaimKey(const std::string& key, const std::string& value,
                                              Millis ttl) override;
  Result<bool> SwapKey(const std::string& key, const std::string& expected,
                       const std::string& value, Millis ttl) override;
  Result<void> PutHash(const std::string& key, const Fields& fields, Millis ttl) override;
  Result<Fields> GetHash(const std::string& key) override;
  Result<std::vector<std::string>> Keys(const std::string& pattern, std::size_t max) override;
  Result<StreamStats> Stats(const std::string& stream) override;
  Result<std::vector<StreamEntry>> Recent(const std::string& stream, std::size_t count) override;
  Result<std::int64_t> Length(const std::string& stream) override;
  Result<void> NoteRecent(const std::string& job, std::int64_t unix_ms) override;
  Result<std::vector<std::string>> RecentJobs(std::size_t count) override;

 private:
  struct Conn;
  std::unique_ptr<Conn> conn_;
  std::uint64_t recent_notes_ = 0;  // NoteRecent calls, for its periodic trim
};

}  // namespace vg::fleet
