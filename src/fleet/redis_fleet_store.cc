#include "fleet/redis_fleet_store.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <map>

namespace vg::fleet {
namespace {

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

timeval ToTimeval(Millis ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string Str(const redisReply* r) {
  if (r == nullptr) return "";
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
      r->type == REDIS_REPLY_ERROR)
    return std::string(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  return "";
}

std::int64_t Int(const redisReply* r) {
  if (r == nullptr) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  if (r->type == REDIS_REPLY_STRING) {
    try {
      return std::stoll(std::string(r->str, r->len));
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

bool IsArray(const redisReply* r) { return r != nullptr && r->type == REDIS_REPLY_ARRAY; }

// [id, [k, v, k, v…]] → entry; nullopt for a deleted entry ([id, nil]).
std::optional<StreamEntry> EntryOf(const std::string& stream, const redisReply* r) {
  if (!IsArray(r) || r->elements < 2) return std::nullopt;
  StreamEntry e;
  e.stream = stream;
  e.id = Str(r->element[0]);
  const redisReply* f = r->element[1];
  if (!IsArray(f)) return std::nullopt;
  for (std::size_t i = 0; i + 1 < f->elements && e.fields.size() < 2 * kMaxEntryFields; i += 2)
    e.fields.emplace_back(Str(f->element[i]), Str(f->element[i + 1]));
  return e;
}

}  // namespace

std::string FieldOf(const Fields& fields, std::string_view name) {
  for (const auto& [k, v] : fields)
    if (k == name) return v;
  return "";
}

struct RedisFleetStore::Conn {
  RedisEndpoint ep;
  redisContext* ctx = nullptr;

  ~Conn() { Drop(); }
  void Drop() {
    if (ctx) redisFree(ctx);
    ctx = nullptr;
  }
  std::string Where() const { return "Redis at " + ep.host + ":" + std::to_string(ep.port); }

  Result<void> Connect() {
    if (ctx) return {};
    ctx = redisConnectWithTimeout(ep.host.c_str(), ep.port, ToTimeval(ep.connect_timeout));
    if (ctx == nullptr) return Fail(ErrorCode::kUnavailable, Where() + ": out of memory");
    if (ctx->err) {
      std::string why = ctx->errstr;
      Drop();
      return Fail(ErrorCode::kUnavailable, Where() + ": " + why,
                  "is redis-server running there? (docs/fleet.md)");
    }
    redisSetTimeout(ctx, ToTimeval(ep.io_timeout));
    if (!ep.password.empty()) {
      std::vector<std::string> auth = {"AUTH"};
      if (!ep.user.empty()) auth.push_back(ep.user);
      auth.push_back(ep.password);
      auto r = Raw(auth);
      if (!r) return std::unexpected(r.error());
    }
    if (ep.db != 0) {
      auto r = Raw({"SELECT", std::to_string(ep.db)});
      if (!r) return std::unexpected(r.error());
    }
    return {};
  }

  // One command on the connected context; a connection error drops it.
  Result<Reply> Raw(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    Reply r(static_cast<redisReply*>(
        redisCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (!r) {
      std::string why = ctx->errstr;
      Drop();
      return Fail(ErrorCode::kUnavailable, Where() + ": " + why);
    }
    if (r->type == REDIS_REPLY_ERROR) {
      std::string why = Str(r.get());
      if (args[0] == "AUTH") Drop();
      return Fail(ErrorCode::kIo, Where() + " answered " + args[0] + ": " + why);
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements > RedisFleetStore::kMaxReplyElements)
      return Fail(ErrorCode::kIo, Where() + ": an answer of " + std::to_string(r->elements) +
                                      " elements is over the limit");
    return r;
  }

  Result<Reply> Cmd(const std::vector<std::string>& args) {
    if (auto c = Connect(); !c) return std::unexpected(c.error());
    return Raw(args);
  }
};

RedisFleetStore::RedisFleetStore(RedisEndpoint endpoint) : conn_(std::make_unique<Conn>()) {
  conn_->ep = std::move(endpoint);
}
RedisFleetStore::~RedisFleetStore() = default;

bool RedisFleetStore::connected() const { return conn_->ctx != nullptr; }

Result<void> RedisFleetStore::Ping() {
  auto r = conn_->Cmd({"PING"});
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> RedisFleetStore::EnsureGroup(const std::string& stream) {
  auto r = conn_->Cmd({"XGROUP", "CREATE", stream, std::string(kGroup), "0", "MKSTREAM"});
  if (!r && r.error().message.find("BUSYGROUP") == std::string::npos)
    return std::unexpected(r.error());
  return {};
}

Result<std::string> RedisFleetStore::Add(const std::string& stream, const Fields& fields) {
  std::vector<std::string> args = {"XADD", stream, "*"};
  for (const auto& [k, v] : fields) {
    args.push_back(k);
    args.push_back(v);
  }
  auto r = conn_->Cmd(args);
  if (!r) return std::unexpected(r.error());
  return Str(r->get());
}

// KEYS: the streams in order; ARGV: group, consumer. Answers {stream, id, fields} or nil.
// XLEN first: a missing stream is skipped (XREADGROUP would fail on it), and an empty one costs
// no read. NOGROUP: a stream a plain producer created; the group starts at its first entry.
constexpr const char* kReadFirstNewScript = R"lua(
for _, key in ipairs(KEYS) do
  if redis.call('XLEN', key) > 0 then
    local r = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1, 'STREAMS', key, '>')
    if type(r) == 'table' and r.err then
      if not string.find(r.err, 'NOGROUP', 1, true) then return r end
      redis.call('XGROUP', 'CREATE', key, ARGV[1], '0')
      r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1, 'STREAMS', key, '>')
    end
    if r and r[1] and r[1][2][1] then return {key, r[1][2][1][1], r[1][2][1][2]} end
  end
end
return false
)lua";

Result<std::optional<StreamEntry>> RedisFleetStore::ReadFirstNew(
    const std::vector<std::string>& streams, const std::string& consumer) {
  if (streams.empty()) return std::optional<StreamEntry>();
  if (streams.size() > kMaxReadStreams)
    return Fail(ErrorCode::kInvalidArgument,
                "ReadFirstNew of " + std::to_string(streams.size()) + " streams");
  std::vector<std::string> args = {"EVAL", kReadFirstNewScript, std::to_string(streams.size())};
  args.insert(args.end(), streams.begin(), streams.end());
  args.emplace_back(kGroup);
  args.push_back(consumer);
  auto r = conn_->Cmd(args);
  if (!r) return std::unexpected(r.error());
  const redisReply* top = r->get();
  if (!IsArray(top) || top->elements < 3) return std::optional<StreamEntry>();
  // {stream, id, fields} has EntryOf's [id, fields] shape from its second element on.
  redisReply tail{};
  tail.type = REDIS_REPLY_ARRAY;
  tail.elements = 2;
  tail.element = top->element + 1;
  auto e = EntryOf(Str(top->element[0]), &tail);
  if (e) e->deliveries = 1;
  return e;
}

Result<std::vector<StreamEntry>> RedisFleetStore::ReadOwnPending(const std::string& stream,
                                                                 const std::string& consumer,
                                                                 std::size_t count) {
  std::vector<StreamEntry> out;
  // Delivery counts first (XREADGROUP with an id does not count a delivery).
  auto p = conn_->Cmd(
      {"XPENDING", stream, std::string(kGroup), "-", "+", std::to_string(count), consumer});
  if (!p) return std::unexpected(p.error());
  std::map<std::string, std::int64_t> counts;
  if (IsArray(p->get()))
    for (std::size_t i = 0; i < (*p)->elements; ++i) {
      const redisReply* row = (*p)->element[i];
      if (IsArray(row) && row->elements >= 4) counts[Str(row->element[0])] = Int(row->element[3]);
    }
  if (counts.empty()) return out;
  auto r = conn_->Cmd({"XREADGROUP", "GROUP", std::string(kGroup), consumer, "COUNT",
                       std::to_string(count), "STREAMS", stream, "0"});
  if (!r) return std::unexpected(r.error());
  const redisReply* top = r->get();
  if (!IsArray(top) || top->elements == 0) return out;
  const redisReply* s = top->element[0];
  if (!IsArray(s) || s->elements < 2 || !IsArray(s->element[1])) return out;
  for (std::size_t i = 0; i < s->element[1]->elements; ++i) {
    auto e = EntryOf(stream, s->element[1]->element[i]);
    if (!e) {  // deleted while pending: nothing left to run, forget it
      const redisReply* row = s->element[1]->element[i];
      if (IsArray(row) && row->elements >= 1)
        (void)conn_->Cmd({"XACK", stream, std::string(kGroup), Str(row->element[0])});
      continue;
    }
    e->deliveries = counts.count(e->id) ? counts[e->id] : 1;
    out.push_back(std::move(*e));
  }
  return out;
}

Result<void> RedisFleetStore::Ack(const std::string& stream, const std::string& id) {
  auto r = conn_->Cmd({"XACK", stream, std::string(kGroup), id});
  if (!r) return std::unexpected(r.error());
  auto d = conn_->Cmd({"XDEL", stream, id});
  if (!d) return std::unexpected(d.error());
  return {};
}

Result<std::vector<std::string>> RedisFleetStore::Renew(const std::string& stream,
                                                        const std::string& consumer,
                                                        const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  if (ids.empty()) return out;
  // Only entries this consumer still holds may be renewed: XCLAIM would take another's.
  std::vector<std::string> mine;
  for (const std::string& id : ids) {
    auto p = conn_->Cmd({"XPENDING", stream, std::string(kGroup), id, id, "1", consumer});
    if (!p) return std::unexpected(p.error());
    if (IsArray(p->get()) && (*p)->elements == 1) mine.push_back(id);
  }
  if (mine.empty()) return out;
  std::vector<std::string> args = {"XCLAIM", stream, std::string(kGroup), consumer, "0"};
  args.insert(args.end(), mine.begin(), mine.end());
  args.push_back("JUSTID");
  auto r = conn_->Cmd(args);
  if (!r) return std::unexpected(r.error());
  if (IsArray(r->get()))
    for (std::size_t i = 0; i < (*r)->elements; ++i) out.push_back(Str((*r)->element[i]));
  return out;
}

Result<std::vector<StreamEntry>> RedisFleetStore::TakeOver(const std::string& stream,
                                                           const std::string& consumer,
                                                           Millis min_idle, std::size_t count) {
  std::vector<StreamEntry> out;
  const std::string idle = std::to_string(min_idle.count());
  auto p = conn_->Cmd(
      {"XPENDING", stream, std::string(kGroup), "IDLE", idle, "-", "+", std::to_string(count)});
  if (!p) return std::unexpected(p.error());
  struct Held {
    std::string consumer;
    std::int64_t deliveries;
  };
  std::map<std::string, Held> held;
  std::vector<std::string> args = {"XCLAIM", stream, std::string(kGroup), consumer, idle};
  if (IsArray(p->get()))
    for (std::size_t i = 0; i < (*p)->elements; ++i) {
      const redisReply* row = (*p)->element[i];
      if (!IsArray(row) || row->elements < 4) continue;
      std::string id = Str(row->element[0]);
      held[id] = Held{Str(row->element[1]), Int(row->element[3])};
      args.push_back(id);
    }
  if (held.empty()) return out;
  auto r = conn_->Cmd(args);
  if (!r) return std::unexpected(r.error());
  if (!IsArray(r->get())) return out;
  for (std::size_t i = 0; i < (*r)->elements; ++i) {
    auto e = EntryOf(stream, (*r)->element[i]);
    if (!e) continue;  // deleted meanwhile (XCLAIM drops it from the pending list)
    const Held& h = held[e->id];
    e->deliveries = h.deliveries + 1;
    e->previous_consumer = h.consumer;
    out.push_back(std::move(*e));
  }
  return out;
}

Result<void> RedisFleetStore::DeadLetter(const StreamEntry& entry, const std::string& reason) {
  std::vector<std::string> args = {"XADD", std::string(kDeadStream), "MAXLEN", "~", "10000", "*"};
  for (const auto& [k, v] : entry.fields) {
    args.push_back(k);
    args.push_back(v);
  }
  for (const auto& [k, v] : Fields{{"dead_stream", entry.stream},
                                   {"dead_id", entry.id},
                                   {"dead_reason", reason},
                                   {"deliveries", std::to_string(entry.deliveries)}}) {
    args.push_back(k);
    args.push_back(v);
  }
  auto r = conn_->Cmd(args);
  if (!r) return std::unexpected(r.error());
  return Ack(entry.stream, entry.id);
}

Result<std::optional<std::string>> RedisFleetStore::ClaimKey(const std::string& key,
                                                             const std::string& value, Millis ttl) {
  auto r = conn_->Cmd({"SET", key, value, "NX", "PX", std::to_string(ttl.count())});
  if (!r) return std::unexpected(r.error());
  if ((*r)->type != REDIS_REPLY_NIL) return std::optional<std::string>();
  auto g = conn_->Cmd({"GET", key});
  if (!g) return std::unexpected(g.error());
  return std::optional<std::string>(Str(g->get()));
}

Result<bool> RedisFleetStore::SwapKey(const std::string& key, const std::string& expected,
                                      const std::string& value, Millis ttl) {
  static constexpr const char* kSwap = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1])
else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
)lua";
  auto r = conn_->Cmd({"EVAL", kSwap, "1", key, expected, value, std::to_string(ttl.count())});
  if (!r) return std::unexpected(r.error());
  return Int(r->get()) == 1;
}

Result<void> RedisFleetStore::PutHash(const std::string& key, const Fields& fields, Millis ttl) {
  std::vector<std::string> args = {"HSET", key};
  for (const auto& [k, v] : fields) {
    args.push_back(k);
    args.push_back(v);
  }
  auto r = conn_->Cmd(args);
  if (!r) return std::unexpected(r.error());
  auto e = conn_->Cmd({"PEXPIRE", key, std::to_string(ttl.count())});
  if (!e) return std::unexpected(e.error());
  return {};
}

Result<Fields> RedisFleetStore::GetHash(const std::string& key) {
  auto r = conn_->Cmd({"HGETALL", key});
  if (!r) return std::unexpected(r.error());
  Fields out;
  if (IsArray(r->get()))
    for (std::size_t i = 0; i + 1 < (*r)->elements; i += 2)
      out.emplace_back(Str((*r)->element[i]), Str((*r)->element[i + 1]));
  return out;
}

Result<std::vector<std::string>> RedisFleetStore::Keys(const std::string& pattern,
                                                       std::size_t max) {
  std::vector<std::string> out;
  std::string cursor = "0";
  for (int round = 0; round < 1000; ++round) {
    auto r = conn_->Cmd({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (!r) return std::unexpected(r.error());
    if (!IsArray(r->get()) || (*r)->elements < 2) break;
    cursor = Str((*r)->element[0]);
    const redisReply* keys = (*r)->element[1];
    if (IsArray(keys))
      for (std::size_t i = 0; i < keys->elements && out.size() < max; ++i)
        out.push_back(Str(keys->element[i]));
    if (cursor == "0" || out.size() >= max) break;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<StreamStats> RedisFleetStore::Stats(const std::string& stream) {
  StreamStats s;
  auto len = Length(stream);
  if (!len) return std::unexpected(len.error());
  auto p = conn_->Cmd({"XPENDING", stream, std::string(kGroup)});
  if (p && IsArray(p->get()) && (*p)->elements >= 1) s.pending = Int((*p)->element[0]);
  // Acknowledged entries are deleted, so what is in the stream is waiting or pending.
  s.waiting = std::max<std::int64_t>(0, *len - s.pending);
  return s;
}

Result<std::vector<StreamEntry>> RedisFleetStore::Recent(const std::string& stream,
                                                         std::size_t count) {
  auto r = conn_->Cmd({"XREVRANGE", stream, "+", "-", "COUNT", std::to_string(count)});
  if (!r) return std::unexpected(r.error());
  std::vector<StreamEntry> out;
  if (IsArray(r->get()))
    for (std::size_t i = 0; i < (*r)->elements; ++i)
      if (auto e = EntryOf(stream, (*r)->element[i])) out.push_back(std::move(*e));
  return out;
}

Result<std::int64_t> RedisFleetStore::Length(const std::string& stream) {
  auto r = conn_->Cmd({"XLEN", stream});
  if (!r) return std::unexpected(r.error());
  return Int(r->get());
}

Result<void> RedisFleetStore::NoteRecent(const std::string& job, std::int64_t unix_ms) {
  auto r = conn_->Cmd({"ZADD", std::string(kRecentKey), std::to_string(unix_ms), job});
  if (!r) return std::unexpected(r.error());
  // Trimmed every 64 notes: the set holds at most kRecentKept + 64 between trims.
  if (++recent_notes_ % 64 == 0) {
    auto t = conn_->Cmd(
        {"ZREMRANGEBYRANK", std::string(kRecentKey), "0", std::to_string(-kRecentKept - 1)});
    if (!t) return std::unexpected(t.error());
  }
  return {};
}

Result<std::vector<std::string>> RedisFleetStore::RecentJobs(std::size_t count) {
  std::vector<std::string> out;
  if (count == 0) return out;
  auto r = conn_->Cmd({"ZREVRANGE", std::string(kRecentKey), "0",
                       std::to_string(std::min(count, kMaxReplyElements) - 1)});
  if (!r) return std::unexpected(r.error());
  if (IsArray(r->get()))
    for (std::size_t i = 0; i < (*r)->elements; ++i) out.push_back(Str((*r)->element[i]));
  return out;
}

}  // namespace vg::fleet
