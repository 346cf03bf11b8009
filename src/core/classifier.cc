#include "core/classifier.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "core/incident_kernel.h"
#include "core/log_time.h"
#include "util/pattern.h"

namespace vg {
namespace {

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

// Finds, in one pass, which of many literals occur in a line. Only every kStride-th position of
// the line is looked at: each literal registers the kStride 4-byte windows that start in its
// rarest kStride + 3 bytes, so whatever the alignment of an occurrence, one of them starts at a
// looked-at position. A 64 Ki-bit filter rejects almost every position with one multiply and one
// bit test; survivors are checked with memcmp. Literals need at least kMinLiteral bytes.
class AnchorIndex {
 public:
  static constexpr std::size_t kStride = 4;
  static constexpr std::size_t kMinLiteral = kStride + 3;

  void Add(std::size_t id, std::string_view literal) {
    std::size_t best = 0;
    int best_score = -1;
    for (std::size_t w = 0; w + kMinLiteral <= literal.size(); ++w) {
      int score = 0;
      for (std::size_t j = 0; j < kMinLiteral; ++j) {
        score += Rarity(static_cast<unsigned char>(literal[w + j]));
      }
      if (score > best_score) best_score = score, best = w;
    }
    for (std::size_t k = best; k < best + kStride; ++k) {
      std::uint32_t w = Load32(literal.data() + k);
      filter_[Slot(w) >> 6] |= std::uint64_t{1} << (Slot(w) & 63);
      entries_[w].push_back(Entry{id, k, std::string(literal)});
    }
  }

  // Calls found(id, start) for each registered literal that occurs in `s` at `start`.
  template <class F>
  void Scan(std::string_view s, F&& found) const {
    if (s.size() < 4) return;
    const char* p = s.data();
    const std::size_t last = s.size() - 4;
    for (std::size_t i = 0; i <= last; i += kStride) {
      std::uint32_t w = Load32(p + i);
      std::uint32_t slot = Slot(w);
      if (!(filter_[slot >> 6] >> (slot & 63) & 1)) continue;
      auto it = entries_.find(w);
      if (it == entries_.end()) continue;
      for (const Entry& e : it->second) {
        if (i < e.offset) continue;
        std::size_t start = i - e.offset;
        if (start + e.literal.size() > s.size()) continue;
        if (std::memcmp(p + start, e.literal.data(), e.literal.size()) == 0) found(e.id, start);
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

// The longest literal that every match of a regex (RE2 syntax) must contain, or "" when none can
// be told safely: runs of plain characters outside groups and classes, the last character of a
// run dropped when a quantifier follows it. Any '|' gives up (an alternative need not contain
// it). User regexes carry no anchor; with this one, ordinary lines do not reach them either.
std::string RequiredLiteral(std::string_view re) {
  if (re.find('|') != std::string_view::npos) return "";
  auto plain = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == ' ' || c == ':' || c == '-' ||
           c == '_' || c == ',' || c == '=' || c == '/' || c == '\'' || c == '"' || c == '<' ||
           c == '>' || c == '@' || c == '#' || c == '%' || c == '&' || c == '!' || c == ';' ||
           c == '~' || c == '`';
  };
  std::string best, run;
  int depth = 0;
  bool in_class = false;
  auto end_run = [&](bool optional_last) {
    if (optional_last && !run.empty()) run.pop_back();
    if (run.size() > best.size()) best = run;
    run.clear();
  };
  for (std::size_t i = 0; i < re.size(); ++i) {
    char c = re[i];
    if (in_class) {
      if (c == '\\')
        ++i;
      else if (c == ']')
        in_class = false;
      continue;
    }
    if (depth == 0 && plain(c)) {
      run.push_back(c);
      continue;
    }
    end_run(c == '?' || c == '*' || c == '{');
    if (c == '\\') {
      ++i;  // an escape is never part of a run (\b, \d, \1 …)
    } else if (c == '[') {
      in_class = true;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && depth > 0) {
      --depth;
    }
  }
  end_run(false);
  return best;
}

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
    case IncidentKind::kGpuError:
      return 5;
    case IncidentKind::kHostOom:
      return 6;
  }
  return 0;
}
constexpr std::size_t kFamilies = 7;

// Which GPU an incident names, when it names one: two incidents that name different GPUs are
// never one cause.
bool OtherGpu(const IncidentFields& a, const IncidentFields& b) {
  if (a.gpu && b.gpu && *a.gpu != *b.gpu) return true;
  if (!a.pci_bus || !b.pci_bus) return false;
  // "0000:01:00" (an Xid line) and "0000:01:00.0" (the driver's own line) are one GPU.
  std::optional<std::string> na = NormalizePciBusId(*a.pci_bus);
  std::optional<std::string> nb = NormalizePciBusId(*b.pci_bus);
  return na && nb ? *na != *nb : *a.pci_bus != *b.pci_bus;
}

bool KernelKind(IncidentKind kind) {
  return kind == IncidentKind::kDeviceLost || kind == IncidentKind::kGpuError;
}

// Appends one line of a message to `text` (bounded by kFollowTextBytes): its indentation and a
// source location that a log handler right-aligned at its end ("…  app.py:42") are dropped, and
// lines are joined by one space, so a phrase a wrap cut in two reads whole again.
constexpr std::size_t kFollowTextBytes = 4096;
void AppendContinuation(std::string* text, std::string_view line, std::string_view between) {
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  // "<3+ spaces><file>:<line>" at the end.
  std::size_t end = line.size();
  std::size_t i = end;
  while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9') --i;
  if (i < end && i > 0 && line[i - 1] == ':') {
    std::size_t j = i - 1;
    while (j > 0 && line[j - 1] != ' ') --j;
    std::size_t spaces = j;
    while (spaces > 0 && line[spaces - 1] == ' ') --spaces;
    if (j > 0 && j - spaces >= 3 && j < i - 1) line = line.substr(0, spaces);
  }
  if (!text->empty()) text->append(between);
  text->append(line.substr(0, kFollowTextBytes - std::min(kFollowTextBytes, text->size())));
  if (text->size() > kFollowTextBytes) text->resize(kFollowTextBytes);
}

// A continuation line without the record prefix it shares with the decisive line — a
// container's "tabbyapi-1  | ", "[rank0]: ", "(EngineCore pid=12) " — so the message's phrases
// join across the wrap ("… of which" / "tabbyapi-1  | 190.50 MiB is free"). Only a shared start
// that ends in "| ", "] ", ") " or ": " is a prefix; a timestamp that differs stops it.
constexpr std::size_t kRecordPrefixBytes = 64;
std::string_view WithoutSharedPrefix(std::string_view line, std::string_view first) {
  std::size_t n = 0;
  const std::size_t most = std::min({line.size(), first.size(), kRecordPrefixBytes});
  while (n < most && line[n] == first[n]) ++n;
  for (std::size_t end = n; end >= 3; --end) {
    const char a = line[end - 2];
    if (line[end - 1] == ' ' && (a == '|' || a == ']' || a == ')' || a == ':')) {
      return line.substr(end);
    }
  }
  return line;
}

// `s` with every run of spaces as one space: the field finders' phrases ("of which 1.19 GiB")
// then read a line a terminal padded ("of                 which").
std::string CollapseSpaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out.push_back(c);
  }
  return out;
}

constexpr std::size_t kWrapMinLine = 60;    // a line this long may have been wrapped
constexpr std::size_t kWrapJoinBytes = 80;  // of each line, joined: a literal is shorter

// The bus a kernel message names on one of the (at most 3) lines before its decisive one.
void BusFromBefore(const LineRing& recent, IncidentFields* fields) {
  std::vector<std::string> before = recent.Copy();
  std::size_t looked = 0;
  for (auto it = before.rbegin(); it != before.rend() && looked < 3; ++it, ++looked) {
    if (it->find("NVRM: ") == std::string::npos) break;  // not the same kernel message
    IncidentFields f = ParseIncidentFields(*it, IncidentKind::kDeviceLost);
    if (f.pci_bus) {
      fields->pci_bus = f.pci_bus;
      return;
    }
  }
}

// "## Title" … "###### Title": two to six '#' and a space at the start of the line.
bool IsMarkdownHeading(std::string_view line) {
  std::size_t n = 0;
  while (n < line.size() && n < 7 && line[n] == '#') ++n;
  return n >= 2 && n <= 6 && n < line.size() && line[n] == ' ';
}

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
  std::vector<std::optional<Pattern>> regexes;
  AnchorIndex index;
  std::vector<std::size_t> always;  // checked on every line: short literals, unanchored regexes

  long line_no = 0;
  // Lines that can end a cause's merge window: not indented (a stack frame or an error object's
  // fields continue the message that came before them) — see Mark::flow.
  long flow = 1;  // from 1: a mark's `last` of 0 means "no mark" (a log may be all indented)
  // The end of the previous line when it was long and matched nothing: a terminal that wrapped
  // the decisive phrase puts the rest on this line ("… Resource exhausted: Out " / "of memory
  // while trying to allocate …", "CUDNN_STAT" / "US_INTERNAL_ERROR").
  std::string wrap_tail;
  std::string joined;  // wrap_tail + this line (reused)
  LineRing recent{kPlainContextLines};
  LineRing traceback{kContextLines};
  bool in_traceback = false;
  std::string traceback_prefix;  // what precedes "Traceback" (a worker's log prefix)

  struct Mark {
    long last = 0;       // flow count at the last match of this family (0: none yet)
    long last_line = 0;  // its line number: a window never spans more than kMergeMaxLines
    IncidentKind kind = IncidentKind::kOom;
    bool attached = false;        // the open traceback began within kMergeLines of `last`
    IncidentFields where;         // the GPU (index, bus) the family's incident names
    std::uint64_t seq = 0;        // the incident's Incident::seq
    std::optional<LogTime> time;  // the log's own time on its last line, when it had one
    std::string signature;        // the incident's signature id
  };
  // The time the matching line states (set before the marks are consulted).
  std::optional<LogTime> match_time;
  bool Near(const Mark& m) const {
    if (m.last == 0) return false;
    std::optional<double> gap;
    if (m.time && match_time) gap = SecondsBetween(*m.time, *match_time);
    if (gap && (*gap > kMergeSeconds || *gap < -kMergeSeconds)) return false;
    if (gap && *gap >= 0 && *gap <= kBurstSeconds && line_no - m.last_line <= kBurstMaxLines) {
      return true;  // one burst of output: an allocator's dump, a kernel report
    }
    return flow - m.last <= kMergeLines && line_no - m.last_line <= kMergeMaxLines;
  }
  std::array<Mark, kFamilies> marks{};
  // Each family's marks of other GPUs' open causes (at most kParked): errors on two GPUs that
  // interleave stay two incidents, one per GPU, not one per change of GPU.
  static constexpr std::size_t kParked = 8;
  std::array<std::vector<Mark>, kFamilies> parked{};

  std::uint64_t next_seq = 1;
  // The last incident returned, while lines after it may still complete its fields (kFollowLines
  // lines, ended early by a blank line, a traceback, or another incident).
  struct Follow {
    std::optional<Incident> incident;  // the incident as last returned (fields included)
    long until = 0;                    // last line that may still complete it
    std::string text;   // its message so far: the decisive line and its continuations, joined
    std::string tight;  // the same joined without spaces between the lines
    bool after_blank = false;  // a blank line came, and since then only lines without a size
    int passed_over = 0;       // lines without a size passed over since the blank line
    std::string first;         // the decisive line's start: the record prefix continuations share
  };
  Follow follow;

  std::string scratch;                  // the cleaned line when it had escapes
  std::vector<std::size_t> candidates;  // signature ids the scan found (reused per line)
  std::size_t traceback_id = 0;         // the index's id for kTraceback (one past the signatures)

  // The first signature that matches; `traceback_at` gets where kTraceback occurs (its last
  // occurrence), found in the same pass.
  std::optional<std::size_t> Match(std::string_view line, std::size_t& traceback_at) {
    candidates.clear();
    traceback_at = std::string_view::npos;
    index.Scan(line, [&](std::size_t id, std::size_t start) {
      if (id == traceback_id) {
        if (traceback_at == std::string_view::npos || start > traceback_at) traceback_at = start;
      } else {
        candidates.push_back(id);
      }
    });
    if (candidates.empty() && always.empty()) return std::nullopt;  // the usual line
    candidates.insert(candidates.end(), always.begin(), always.end());
    // Lowest id first: the first signature that matches wins.
    std::sort(candidates.begin(), candidates.end());
    for (std::size_t id : candidates) {
      const Signature& sig = sigs[id];
      if (!sig.regex) {
        // Indexed literals were verified by the scan; short ones are searched here.
        if (sig.match.size() >= AnchorIndex::kMinLiteral ||
            line.find(sig.match) != std::string_view::npos) {
          return id;
        }
        continue;
      }
      if (regexes[id] && regexes[id]->Search(line)) return id;
    }
    return std::nullopt;
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
  for (std::size_t id = 0; id < s.sigs.size(); ++id) {
    const Signature& sig = s.sigs[id];
    if (sig.regex) {
      if (Result<Pattern> p = Pattern::Compile(sig.match)) s.regexes[id].emplace(std::move(*p));
      std::string anchor = sig.anchor.empty() ? RequiredLiteral(sig.match) : sig.anchor;
      if (anchor.size() >= AnchorIndex::kMinLiteral) {
        s.index.Add(id, anchor);
      } else {
        s.always.push_back(id);
      }
    } else if (sig.match.size() >= AnchorIndex::kMinLiteral) {
      s.index.Add(id, sig.match);
    } else {
      s.always.push_back(id);
    }
  }
  s.traceback_id = s.sigs.size();
  s.index.Add(s.traceback_id, kTraceback);
}

Classifier::~Classifier() = default;
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;

long Classifier::lines() const { return state_->line_no; }

std::vector<Incident> Classifier::Feed(std::string_view raw) {
  State& s = *state_;
  ++s.line_no;
  std::string_view line = TrimRight(raw);
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r')) raw.remove_suffix(1);
  const bool trailing_space = raw.size() > line.size();
  if (line.find('\x1b') != std::string_view::npos) {
    s.scratch = CleanLogLine(line);
    line = s.scratch;
  }
  std::string_view head = line.substr(0, kMatchBytes);
  if (!line.empty() && line.front() != ' ' && line.front() != '\t') ++s.flow;

  // One pass finds the signature and a traceback header. A progress bar may share the line
  // ("…\rTraceback"): the header counts only after the line's last '\r'.
  std::size_t tb = std::string_view::npos;
  std::optional<std::size_t> id = s.Match(head, tb);
  // A markdown section heading ("## CUDA error: an illegal memory access …" in a troubleshooting
  // page) names an error; it is not one. Log lines and shell comments ("# …") are not headings.
  if (id && IsMarkdownHeading(head)) id.reset();
  // llama.cpp's KV-cache failure right after a CPU buffer failure ("ggml_backend_cpu_buffer_type_
  // alloc_buffer: failed to allocate buffer of size …" / "llama_kv_cache_init: failed to allocate
  // buffer for kv cache") names no device: the cache was to live in host RAM, the cause the
  // host-oom incident already stated. One incident, not a GPU OOM beside it.
  if (id && s.sigs[*id].id == "llama-kv-cache") {
    s.match_time = ParseLogTime(head);
    State::Mark& host = s.marks[Family(IncidentKind::kHostOom)];
    if (host.signature == "ggml-cpu-buffer-alloc" && s.Near(host)) {
      host.last = s.flow;
      host.last_line = s.line_no;
      id.reset();
    }
  }
  // The text the fields come from: the line, or the previous line's end joined to it when only
  // the two together say the decisive phrase (a terminal wrap).
  std::string_view match_text = head;
  const bool continues =
      !s.wrap_tail.empty() && !head.empty() && head.front() != ' ' && head.front() != '\t';
  if (!id && continues) {
    s.joined.assign(s.wrap_tail);
    s.joined.append(head.substr(0, kWrapJoinBytes));
    std::size_t ignored = std::string_view::npos;
    id = s.Match(s.joined, ignored);
    if (id) match_text = s.joined;
  }

  // memrchr, not rfind: libstdc++'s rfind walks back one byte at a time.
  const void* cr_at = memrchr(head.data(), '\r', head.size());
  std::size_t cr = cr_at ? static_cast<std::size_t>(static_cast<const char*>(cr_at) - head.data())
                         : std::string_view::npos;
  std::string_view tail = head.substr(cr == std::string_view::npos ? 0 : cr + 1);
  if (tb != std::string_view::npos && cr != std::string_view::npos) {
    tb = tb > cr ? tb - (cr + 1) : std::string_view::npos;
  }
  bool in_traceback = false;  // this line belongs to a traceback (its last line included)
  if (tb != std::string_view::npos) {
    s.in_traceback = true;
    s.traceback_prefix.assign(tail.substr(0, tb));
    s.traceback.Clear();
    for (State::Mark& m : s.marks) {
      m.attached = m.last != 0 && s.flow - m.last <= kMergeLines;
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
  // Fills what the follow incident lacks from `more`; an update is returned when any was.
  auto complete = [&](const IncidentFields& more) {
    if (!s.follow.incident || !s.follow.incident->fields.FillFrom(more)) return;
    Incident update = *s.follow.incident;
    update.update = true;
    out.push_back(std::move(update));
  };
  if (id) {
    const Signature& sig = s.sigs[*id];
    s.match_time = ParseLogTime(head);
    IncidentFields fields = ParseIncidentFields(CollapseSpaces(match_text), sig.kind);
    if (continues && match_text.data() == head.data() && head.front() >= 'a' &&
        head.front() <= 'z') {
      // The decisive phrase is on this line, a number before it on the wrapped line above
      // ("… 4.26 GiB KV cach" / "e is needed, which is larger than …"). Only when this line
      // starts in lower case, as the rest of a cut line does: a log record of its own (capital,
      // digit, bracket) takes nothing from the line before, which may name another GPU.
      s.joined.assign(s.wrap_tail);
      s.joined.append(head);
      fields.FillFrom(ParseIncidentFields(CollapseSpaces(s.joined), sig.kind));
    }
    // A kernel message split over lines ("NVRM: The NVIDIA GPU 0000:41:00.0" / "… has" /
    // "NVRM: fallen off the bus …"): the bus is on a line before the decisive one.
    if (KernelKind(sig.kind) && !fields.pci_bus && !fields.gpu) BusFromBefore(s.recent, &fields);
    if (sig.kind == IncidentKind::kReady) {
      // The service (re)started: whatever comes next is a new cause.
      for (std::size_t f = 0; f < kFamilies; ++f) {
        if (f == Family(IncidentKind::kReady)) continue;
        s.marks[f] = State::Mark{};
        s.parked[f].clear();
      }
      s.follow = State::Follow{};
    }
    const std::size_t family = Family(sig.kind);
    State::Mark& mark = s.marks[family];
    std::vector<State::Mark>& parked = s.parked[family];
    if (mark.last != 0 && OtherGpu(mark.where, fields)) {
      // Another GPU than the family's last incident: that GPU's own open cause, if any.
      for (State::Mark& p : parked) {
        if ((p.where.gpu || p.where.pci_bus) && !OtherGpu(p.where, fields) && s.Near(p)) {
          std::swap(mark, p);
          break;
        }
      }
    }
    bool upgrade = sig.kind == IncidentKind::kOom && mark.kind == IncidentKind::kOomProbable;
    bool same_traceback = in_traceback && mark.attached;
    const bool other_gpu = OtherGpu(mark.where, fields);
    bool merged = mark.last != 0 && (s.Near(mark) || same_traceback) && !upgrade && !other_gpu;
    if (!merged && other_gpu && s.Near(mark)) {
      // Keep the other GPU's cause open beside the new one.
      if (parked.size() == State::kParked) parked.erase(parked.begin());
      parked.push_back(mark);
    }
    if (!merged) {
      Incident incident;
      incident.seq = s.next_seq++;
      incident.kind = sig.kind;
      incident.signature = sig.id;
      incident.engine = sig.engine;
      incident.what = sig.what;
      incident.line.assign(match_text.data() == head.data() ? line.substr(0, kLineBytes)
                                                            : match_text.substr(0, kLineBytes));
      incident.context = in_traceback ? s.traceback.Copy() : s.recent.Copy();
      incident.fields = std::move(fields);
      mark.kind = sig.kind;
      mark.signature = sig.id;
      mark.seq = incident.seq;
      mark.attached = false;
      mark.where = IncidentFields{};
      mark.where.gpu = incident.fields.gpu;
      mark.where.pci_bus = incident.fields.pci_bus;
      mark.time = s.match_time;
      if (sig.kind == IncidentKind::kReady) {
        s.follow = State::Follow{};
      } else {
        s.follow = State::Follow{incident, s.line_no + kFollowLines, {}, {}, false, 0, {}};
        s.follow.first.assign(head.substr(0, kRecordPrefixBytes));
        s.follow.incident->context.clear();  // not needed to complete it; updates stay small
        AppendContinuation(&s.follow.text, match_text, " ");
        AppendContinuation(&s.follow.tight, match_text, "");
      }
      out.push_back(std::move(incident));
    } else {
      // The same cause said again (a traceback's last line after ComfyUI's own line, an Xid and
      // its "fallen off the bus"): what this line states completes the incident.
      if (s.follow.incident && s.follow.incident->seq == mark.seq) {
        complete(fields);
        s.follow.until = s.line_no + kFollowLines;
      }
      if (!mark.where.gpu) mark.where.gpu = fields.gpu;
      if (!mark.where.pci_bus) mark.where.pci_bus = fields.pci_bus;
    }
    mark.last = s.flow;
    mark.last_line = s.line_no;
    if (s.match_time) mark.time = s.match_time;
    if (in_traceback) mark.attached = true;
  } else if (s.follow.incident && s.follow.until >= s.line_no) {
    if (tb != std::string_view::npos || (line.empty() && s.follow.after_blank)) {
      s.follow.until = 0;  // a new traceback, or two blank lines, end the message
    } else if (line.empty()) {
      s.follow.after_blank = true;
    } else if (s.follow.after_blank) {
      head = WithoutSharedPrefix(head, s.follow.first);
      // A message whose sentences were put in paragraphs ("RuntimeError: CUDA out of memory." /
      // "" / "Tried to allocate 12.00 GiB (GPU 0; …)"): past a blank line, only a line that states
      // a memory size is taken as part of it (a "using GPU 3" is not), and it starts the text
      // read from then on. A line without a size is passed over, not taken, while the lines
      // stay within the follow window and no second blank line came: TensorRT-LLM's report puts
      // "The following component could not be created: …" between the message and its sizes.
      const IncidentFields more =
          ParseIncidentFields(CollapseSpaces(head), s.follow.incident->kind);
      if (more.requested || more.capacity || more.free || more.allocated || more.reserved) {
        s.follow.after_blank = false;
        AppendContinuation(&s.follow.text, head, " ");
        AppendContinuation(&s.follow.tight, head, "");
        complete(more);
      } else if (++s.follow.passed_over > kPassOverLines) {
        s.follow.until = 0;
      }
    } else if (!in_traceback) {
      head = WithoutSharedPrefix(head, s.follow.first);
      // The rest of a wrapped message, cudaMallocAsync's table, llama.cpp's "current device":
      // the message's lines are read as one, so a phrase cut by the wrap ("… of which" / "1.19
      // GiB is free") is still read.
      // Joined with a space (a wrap at a word boundary) and without (a wrap inside a word:
      // "… KV cach" / "e is needed").
      AppendContinuation(&s.follow.text, head, " ");
      AppendContinuation(&s.follow.tight, head, "");
      const IncidentKind kind = s.follow.incident->kind;
      complete(ParseIncidentFields(CollapseSpaces(s.follow.text), kind));
      complete(ParseIncidentFields(CollapseSpaces(s.follow.tight), kind));
    }
  }

  if (s.in_traceback) s.traceback.Push(line, kContextBytes);
  s.recent.Push(line, kContextBytes);
  if (!id && head.size() >= kWrapMinLine) {
    s.wrap_tail.assign(head.substr(head.size() - std::min(head.size(), kWrapJoinBytes)));
    if (trailing_space) s.wrap_tail.push_back(' ');
  } else {
    s.wrap_tail.clear();
  }
  return out;
}

std::vector<Incident> Classifier::Flush() {
  State& s = *state_;
  s.in_traceback = false;
  s.traceback.Clear();
  s.recent.Clear();
  for (State::Mark& m : s.marks) m = State::Mark{};
  for (std::vector<State::Mark>& p : s.parked) p.clear();
  return {};
}

}  // namespace vg
