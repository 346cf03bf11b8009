// MemoryFleetStore: the in-memory fake of fleet::FleetStore, with Redis Streams' consumer-group
// semantics as the fleet uses them (one group; pending entries with owner, idle time and
// delivery count; XCLAIM's min-idle check; JUSTID does not count a delivery). Time is the
// fake's own: Advance() moves it. Several "hosts" in a test share one MemoryFleetStore (one
// Redis). Header-only, for unit tests; fleet/fleet_store_behaviour_test.cc checks it against
// a real redis-server with one suite.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fleet/fleet_store.h"

namespace vg::testing {

class MemoryFleetStore final : public fleet::FleetStore {
 public:
  void Advance(Millis d) { now_ += d.count(); }
  // Redis unreachable: every call fails as RedisFleetStore's would.
  void SetDown(bool down) { down_ = down; }
  int calls() const { return calls_; }

  Result<void> Ping() override {
    if (auto d = Down()) return *d;
    return {};
  }
  Result<void> EnsureGroup(const std::string& stream) override {
    if (auto d = Down()) return *d;
    streams_[stream].has_group = true;
    return {};
  }
  Result<std::string> Add(const std::string& stream, const fleet::Fields& fields) override {
    if (auto d = Down()) return *d;
    Stream& s = streams_[stream];
    std::string id = std::to_string(now_) + "-" + std::to_string(++seq_);
    s.entries.emplace(Key(id), Entry{id, fields});
    return id;
  }
  Result<std::optional<fleet::StreamEntry>> ReadFirstNew(const std::vector<std::string>& streams,
                                                         const std::string& consumer) override {
    if (auto d = Down()) return *d;
    if (streams.size() > kMaxReadStreams) return TooMany(streams.size());
    for (const std::string& stream : streams) {
      auto found = streams_.find(stream);
      if (found == streams_.end() || found->second.entries.empty()) continue;
      Stream* s = &found->second;
      s->has_group = true;  // a producer's stream: the script creates the group at 0
      auto it = s->entries.upper_bound(s->last_delivered);
      if (it == s->entries.end()) continue;
      s->last_delivered = it->first;
      s->pel[it->first] = Pending{consumer, now_, 1};
      return std::optional<fleet::StreamEntry>(Out(stream, it->second, 1, ""));
    }
    return std::optional<fleet::StreamEntry>();
  }
  Result<std::vector<fleet::StreamEntry>> ReadOwnPending(const std::string& stream,
                                                         const std::string& consumer,
                                                         std::size_t count) override {
    if (auto d = Down()) return *d;
    std::vector<fleet::StreamEntry> out;
    Stream* s = Group(stream);
    if (!s) return NoGroup(stream);
    for (auto it = s->pel.begin(); it != s->pel.end() && out.size() < count;) {
      if (it->second.consumer != consumer) {
        ++it;
        continue;
      }
      auto e = s->entries.find(it->first);
      if (e == s->entries.end()) {
        it = s->pel.erase(it);
        continue;
      }
      out.push_back(Out(stream, e->second, it->second.deliveries, ""));
      ++it;
    }
    return out;
  }
  Result<void> Ack(const std::string& stream, const std::string& id) override {
    if (auto d = Down()) return *d;
    Stream& s = streams_[stream];
    s.pel.erase(Key(id));
    s.entries.erase(Key(id));
    return {};
  }
  Result<std::vector<std::string>> Renew(const std::string& stream, const std::string& consumer,
                                         const std::vector<std::string>& ids) override {
    if (auto d = Down()) return *d;
    std::vector<std::string> out;
    Stream* s = Group(stream);
    if (!s) return NoGroup(stream);
    for (const std::string& id : ids) {
      auto p = s->pel.find(Key(id));
      if (p == s->pel.end() || p->second.consumer != consumer) continue;
      p->second.delivered_at = now_;  // JUSTID: the count stays
      out.push_back(id);
    }
    return out;
  }
  Result<std::vector<fleet::StreamEntry>> TakeOver(const std::string& stream,
                                                   const std::string& consumer, Millis min_idle,
                                                   std::size_t count) override {
    if (auto d = Down()) return *d;
    std::vector<fleet::StreamEntry> out;
    Stream* s = Group(stream);
    if (!s) return NoGroup(stream);
    for (auto& [key, p] : s->pel) {
      if (out.size() >= count) break;
      if (now_ - p.delivered_at < min_idle.count()) continue;
      auto e = s->entries.find(key);
      if (e == s->entries.end()) continue;
      std::string previous = p.consumer;
      p = Pending{consumer, now_, p.deliveries + 1};
      out.push_back(Out(stream, e->second, p.deliveries, previous));
    }
    return out;
  }
  Result<void> DeadLetter(const fleet::StreamEntry& entry, const std::string& reason) override {
    if (auto d = Down()) return *d;
    fleet::Fields f = entry.fields;
    f.emplace_back("dead_stream", entry.stream);
    f.emplace_back("dead_id", entry.id);
    f.emplace_back("dead_reason", reason);
    f.emplace_back("deliveries", std::to_string(entry.deliveries));
    if (auto a = Add(std::string(fleet::kDeadStream), f); !a) return std::unexpected(a.error());
    return Ack(entry.stream, entry.id);
  }
  Result<std::optional<std::string>> ClaimKey(const std::string& key, const std::string& value,
                                              Millis ttl) override {
    if (auto d = Down()) return *d;
    auto it = strings_.find(key);
    if (it != strings_.end() && it->second.second > now_)
      return std::optional<std::string>(it->second.first);
    strings_[key] = {value, now_ + ttl.count()};
    return std::optional<std::string>();
  }
  Result<bool> SwapKey(const std::string& key, const std::string& expected,
                       const std::string& value, Millis ttl) override {
    if (auto d = Down()) return *d;
    auto it = strings_.find(key);
    if (it == strings_.end() || it->second.second <= now_ || it->second.first != expected)
      return false;
    if (value.empty())
      strings_.erase(it);
    else
      it->second = {value, now_ + ttl.count()};
    return true;
  }
  Result<void> PutHash(const std::string& key, const fleet::Fields& fields, Millis ttl) override {
    if (auto d = Down()) return *d;
    Hash& h = hashes_[key];
    if (h.expires <= now_) h.fields.clear();
    for (const auto& [k, v] : fields) h.fields[k] = v;
    h.expires = now_ + ttl.count();
    return {};
  }
  Result<fleet::Fields> GetHash(const std::string& key) override {
    if (auto d = Down()) return *d;
    fleet::Fields out;
    auto it = hashes_.find(key);
    if (it == hashes_.end() || it->second.expires <= now_) return out;
    for (const auto& [k, v] : it->second.fields) out.emplace_back(k, v);
    return out;
  }
  // Patterns as the fleet writes them: a literal prefix and one trailing '*'.
  Result<std::vector<std::string>> Keys(const std::string& pattern, std::size_t max) override {
    if (auto d = Down()) return *d;
    std::string prefix = pattern.substr(0, pattern.find('*'));
    std::vector<std::string> out;
    for (const auto& [k, h] : hashes_)
      if (k.starts_with(prefix) && h.expires > now_) out.push_back(k);
    for (const auto& [k, s] : streams_)
      if (k.starts_with(prefix)) out.push_back(k);
    for (const auto& [k, v] : strings_)
      if (k.starts_with(prefix) && v.second > now_) out.push_back(k);
    std::sort(out.begin(), out.end());
    if (out.size() > max) out.resize(max);
    return out;
  }
  Result<fleet::StreamStats> Stats(const std::string& stream) override {
    if (auto d = Down()) return *d;
    fleet::StreamStats st;
    auto it = streams_.find(stream);
    if (it == streams_.end()) return st;
    st.pending = static_cast<std::int64_t>(it->second.pel.size());
    st.waiting = static_cast<std::int64_t>(it->second.entries.size()) - st.pending;
    return st;
  }
  Result<std::vector<fleet::StreamEntry>> Recent(const std::string& stream,
                                                 std::size_t count) override {
    if (auto d = Down()) return *d;
    std::vector<fleet::StreamEntry> out;
    auto it = streams_.find(stream);
    if (it == streams_.end()) return out;
    for (auto e = it->second.entries.rbegin(); e != it->second.entries.rend() && out.size() < count;
         ++e)
      out.push_back(Out(stream, e->second, 0, ""));
    return out;
  }
  Result<std::int64_t> Length(const std::string& stream) override {
    if (auto d = Down()) return *d;
    auto it = streams_.find(stream);
    return it == streams_.end() ? 0 : static_cast<std::int64_t>(it->second.entries.size());
  }
  Result<void> NoteRecent(const std::string& job, std::int64_t unix_ms) override {
    if (auto d = Down()) return *d;
    recent_[job] = unix_ms;
    while (recent_.size() > static_cast<std::size_t>(fleet::kRecentKept)) {
      auto oldest = std::min_element(recent_.begin(), recent_.end(), ByTimeThenName);
      recent_.erase(oldest);
    }
    return {};
  }
  Result<std::vector<std::string>> RecentJobs(std::size_t count) override {
    if (auto d = Down()) return *d;
    std::vector<std::pair<std::string, std::int64_t>> all(recent_.begin(), recent_.end());
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return ByTimeThenName(b, a); });
    std::vector<std::string> out;
    for (std::size_t i = 0; i < all.size() && i < count; ++i) out.push_back(all[i].first);
    return out;
  }

 private:
  using IdKey = std::pair<std::int64_t, std::int64_t>;
  struct Entry {
    std::string id;
    fleet::Fields fields;
  };
  struct Pending {
    std::string consumer;
    std::int64_t delivered_at = 0;
    std::int64_t deliveries = 0;
  };
  struct Stream {
    bool has_group = false;
    std::map<IdKey, Entry> entries;
    IdKey last_delivered{0, 0};
    std::map<IdKey, Pending> pel;
  };
  struct Hash {
    std::map<std::string, std::string> fields;
    std::int64_t expires = 0;
  };

  static IdKey Key(const std::string& id) {
    std::size_t dash = id.find('-');
    return {std::stoll(id.substr(0, dash)), std::stoll(id.substr(dash + 1))};
  }
  static fleet::StreamEntry Out(const std::string& stream, const Entry& e, std::int64_t deliveries,
                                const std::string& previous) {
    return fleet::StreamEntry{stream, e.id, e.fields, deliveries, previous};
  }
  std::optional<std::unexpected<Error>> Down() {
    ++calls_;
    if (down_) return Fail(ErrorCode::kUnavailable, "Redis at fake: connection refused");
    return std::nullopt;
  }
  Stream* Group(const std::string& stream) {
    auto it = streams_.find(stream);
    return it == streams_.end() || !it->second.has_group ? nullptr : &it->second;
  }
  static std::unexpected<Error> TooMany(std::size_t n) {
    return Fail(ErrorCode::kInvalidArgument, "ReadFirstNew of " + std::to_string(n) + " streams");
  }
  static std::unexpected<Error> NoGroup(const std::string& stream) {
    return Fail(ErrorCode::kIo, "NOGROUP No such key '" + stream + "' or consumer group 'vg'");
  }

  std::int64_t now_ = 1'700'000'000'000;
  std::int64_t seq_ = 0;
  bool down_ = false;
  int calls_ = 0;
  std::map<std::string, Stream> streams_;
  std::map<std::string, Hash> hashes_;
  std::map<std::string, std::int64_t> recent_;  // vg:recent: job → score
  // A sorted set's order: by score, then by member.
  static bool ByTimeThenName(const std::pair<const std::string, std::int64_t>& a,
                             const std::pair<const std::string, std::int64_t>& b) {
    return a.second != b.second ? a.second < b.second : a.first < b.first;
  }
  std::map<std::string, std::pair<std::string, std::int64_t>> strings_;
};

}  // namespace vg::testing
