#include "core/classifier.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <regex>
#include <unordered_map>

namespace vg {
namespace {

constexpr std::size_t kRegexBytes = 4 * 1024;  // regexes see at most this much of a line
constexpr std::string_view kTraceback = "Traceback (most recent call last):";

// How rare a byte is in ordinary log text (higher is rarer); picks the anchor of each literal.
int Rarity(unsigned char c) {
  if (c == ' ') return 0;
  if (c >= 'a' && c <= 'z') return 2;
  if (c >= '0' && c <= '9') return 3;
  if (c >= 'A' && c <= 'Z') return 4;
  if (c == '_') return 7;
  return 5;
}

std::uint32_t Load32(const char* p) {
  std::uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}
std::uint32_t Slot(std::uint32_t w) { return (w * 0x9E3779B1u) >> 16; }  // 0..65535

// Finds, in one pass, which of many literals occur in a line: every literal registers its rarest
// 4 bytes; a 64 Ki-bit filter over the 4-byte windows of the line rejects almost every position
// with one multiply and one bit test; survivors are checked with memcmp.
class AnchorIndex {
 public:
  void Add(std::size_t id, std::string_view literal) {
    std::size_t best = 0;
    int best_score = -1;
    for (std::size_t k = 0; k + 4 <= literal.size(); ++k) {
      int score = 0;
      for (std::size_t j = 0; j < 4; ++j)
        score += Rarity(static_cast<unsigned char>(literal[k + j]));
      if (score > best_score) best_score = score, best = k;
    }
    std::uint32_t w = Load32(literal.data() + best);
    filter_[Slot(w) >> 6] |= std::uint64_t{1} << (Slot(w) & 63);
    entries_[w].push_back(Entry{id, best, std::string(literal)});
  }

  // Calls found(id) for each registered literal that occurs in `s` (an id may repeat).
  template <class F>
  void Scan(std::string_view s, F&& found) const {
    if (s.size() < 4) return;
    const char* p = s.data();
    const std::size_t last = s.size() - 4;
    for (std::size_t i = 0; i <= last; ++i) {
      std::uint32_t w = Load32(p + i);
      std::uint32_t slot = Slot(w);
      if (!(filter_[slot >> 6] >> (slot & 63) & 1)) continue;
      auto it = entries_.find(w);
      if (it == entries_.end()) continue;
      for (const Entry& e : it->second) {
        if (i < e.offset) continue;
        std::size_t start = i - e.offset;
        if (start + e.literal.size() > s.size()) continue;
        if (std::memcmp(p + start, e.literal.data(), e.literal.size()) == 0) found(e.id);
      }
    }
  }

 private:
  struct Entry {
    std::size_t id;
    std::size_t offset;
    std::string literal;
  };
  std::array<std::uint64_t, 1024> filter_{};
  std::unordered_map<std::uint32_t, std::vector<Entry>> entries_;
};

// A fixed-capacity ring of recent lines that reuses its strings (no allocation per line).
class LineRing {
 public:
  explicit LineRing(std::size_t capacity) : lines_(capacity) {}
  void Push(std::string_view line, std::size_t max_bytes) {
    lines_[(start_ + size_) % lines_.size()].assign(line.substr(0, max_bytes));
    if (size_ < lines_.size()) {
      ++size_;
    } else {
      start_ = (start_ + 1) % lines_.size();
    }
  }
  void Clear() { start_ = size_ = 0; }
  std::vector<std::string> Copy() const {
    std::vector<std::string> out;
    out.reserve(size_);
    for (std::size_t i = 0; i < size_; ++i) out.push_back(lines_[(start_ + i) % lines_.size()]);
    return out;
  }

 private:
  std::vector<std::string> lines_;
  std::size_t start_ = 0, size_ = 0;
};

// oom and oom-probable are one cause family; every other kind is its own.
std::size_t Family(IncidentKind kind) {
  switch (kind) {
    case IncidentKind::kOom:
    case IncidentKind::kOomProbable:
      return 0;
    case IncidentKind::kSticky:
      return 1;
    case IncidentKind::kDeviceLost:
      return 2;
    case IncidentKind::kPortClash:
      return 3;
    case IncidentKind::kReady:
      return 4;
  }
  return 0;
}
constexpr std::size_t kFamilies = 5;

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() &&
         (s.back() == '\r' || s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

struct Classifier::State {
  std::vector<Signature> sigs;  // user patterns, then the built-in catalogue
  std::vector<std::optional<std::regex>> regexes;
  AnchorIndex index;
  std::vector<std::size_t> always;  // checked on every line: short literals, unanchored regexes

  long line_no = 0;
  LineRing recent{kPlainContextLines};
  LineRing traceback{kContextLines};
  bool in_traceback = false;
  std::string traceback_prefix;  // what precedes "Traceback" (a worker's log prefix)

  struct Mark {
    long last = 0;  // line of the last match of this family (0: none yet)
    IncidentKind kind = IncidentKind::kOom;
    bool attached = false;  // the open traceback began within kMergeLines of `last`
  };
  std::array<Mark, kFamilies> marks{};

  std::string scratch;  // the cleaned line when it had escapes
  std::vector<char> hit;

  std::optional<std::size_t> Match(std::string_view line) {
    std::fill(hit.begin(), hit.end(), 0);
    std::size_t best = sigs.size();
    index.Scan(line, [&](std::size_t id) { hit[id] = 1; });
    for (std::size_t id : always) hit[id] = 1;
    for (std::size_t id = 0; id < sigs.size() && id < best; ++id) {
      if (!hit[id]) continue;
      const Signature& sig = sigs[id];
      if (!sig.regex) {
        if (sig.match.size() >= 4 || line.find(sig.match) != std::string_view::npos) best = id;
        continue;
      }
      if (!regexes[id]) continue;
      std::string_view head = line.substr(0, kRegexBytes);
      if (std::regex_search(head.begin(), head.end(), *regexes[id])) best = id;
    }
    if (best == sigs.size()) return std::nullopt;
    return best;
  }
};

Classifier::Classifier(std::vector<Signature> extra) : state_(std::make_unique<State>()) {
  State& s = *state_;
  for (std::size_t i = 0; i < extra.size(); ++i) {
    if (!ValidateSignature(extra[i])) continue;
    if (extra[i].id.empty()) extra[i].id = "user:" + std::to_string(i + 1);
    if (extra[i].engine.empty()) extra[i].engine = "user";
    s.sigs.push_back(std::move(extra[i]));
  }
  for (const Signature& sig : BuiltinCatalogue()) s.sigs.push_back(sig);
  s.regexes.resize(s.sigs.size());
  s.hit.resize(s.sigs.size());
  for (std::size_t id = 0; id < s.sigs.size(); ++id) {
    const Signature& sig = s.sigs[id];
    if (sig.regex) {
      s.regexes[id].emplace(sig.match, std::regex::ECMAScript | std::regex::optimize);
      if (sig.anchor.size() >= 4) {
        s.index.Add(id, sig.anchor);
      } else {
        s.always.push_back(id);
      }
    } else if (sig.match.size() >= 4) {
      s.index.Add(id, sig.match);
    } else {
      s.always.push_back(id);
    }
  }
}

Classifier::~Classifier() = default;
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;

long Classifier::lines() const { return state_->line_no; }

std::vector<Incident> Classifier::Feed(std::string_view raw) {
  State& s = *state_;
  ++s.line_no;
  std::string_view line = TrimRight(raw);
  if (line.find('\x1b') != std::string_view::npos) {
    s.scratch = CleanLogLine(line);
    line = s.scratch;
  }
  std::string_view head = line.substr(0, kMatchBytes);

  // Traceback bookkeeping. A progress bar may share the line: look after its last '\r'.
  std::string_view tail =
      head.substr(head.rfind('\r') == std::string_view::npos ? 0 : head.rfind('\r') + 1);
  bool in_traceback = false;  // this line belongs to a traceback (its last line included)
  if (std::size_t tb = tail.find(kTraceback); tb != std::string_view::npos) {
    s.in_traceback = true;
    s.traceback_prefix.assign(tail.substr(0, tb));
    s.traceback.Clear();
    for (State::Mark& m : s.marks) {
      m.attached = m.last != 0 && s.line_no - m.last <= kMergeLines;
    }
    in_traceback = true;
  } else if (s.in_traceback) {
    std::string_view body = tail;
    if (body.starts_with(s.traceback_prefix)) body.remove_prefix(s.traceback_prefix.size());
    in_traceback = true;
    if (!body.empty() && body[0] != ' ' && body[0] != '\t') {
      s.in_traceback = false;  // the exception line ends the traceback
    }
  }

  std::vector<Incident> out;
  if (auto id = s.Match(head)) {
    const Signature& sig = s.sigs[*id];
    State::Mark& mark = s.marks[Family(sig.kind)];
    bool upgrade = sig.kind == IncidentKind::kOom && mark.kind == IncidentKind::kOomProbable;
    bool near = mark.last != 0 && s.line_no - mark.last <= kMergeLines;
    bool same_traceback = in_traceback && mark.attached;
    bool merged = mark.last != 0 && (near || same_traceback) && !upgrade;
    if (!merged) {
      Incident incident;
      incident.kind = sig.kind;
      incident.signature = sig.id;
      incident.engine = sig.engine;
      incident.what = sig.what;
      incident.line.assign(line.substr(0, kLineBytes));
      incident.context = in_traceback ? s.traceback.Copy() : s.recent.Copy();
      incident.fields = ParseIncidentFields(head, sig.kind);
      mark.kind = sig.kind;
      out.push_back(std::move(incident));
    }
    mark.last = s.line_no;
    if (in_traceback) mark.attached = true;
  }

  if (s.in_traceback) s.traceback.Push(line, kContextBytes);
  s.recent.Push(line, kContextBytes);
  return out;
}

std::vector<Incident> Classifier::Flush() {
  State& s = *state_;
  s.in_traceback = false;
  s.traceback.Clear();
  s.recent.Clear();
  for (State::Mark& m : s.marks) m = State::Mark{};
  return {};
}

}  // namespace vg
