#include "core/gradio_events.h"

namespace vg {
namespace {

// The string value of `"key"` in a JSON object's text ("key": "value", spaces allowed), when it
// is a plain string within `s`.
std::optional<std::string> StringField(std::string_view s, std::string_view key) {
  const std::string quoted = "\"" + std::string(key) + "\"";
  for (std::size_t p = s.find(quoted); p != std::string_view::npos;
       p = s.find(quoted, p + quoted.size())) {
    std::size_t i = p + quoted.size();
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i >= s.size() || s[i] != ':') continue;
    ++i;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i >= s.size() || s[i] != '"') continue;
    const std::size_t start = i + 1;
    const std::size_t end = s.find('"', start);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view value = s.substr(start, end - start);
    if (value.find('\\') != std::string_view::npos) return std::nullopt;  // escaped: not an id
    return std::string(value);
  }
  return std::nullopt;
}

std::optional<bool> BoolField(std::string_view s, std::string_view key) {
  const std::string quoted = "\"" + std::string(key) + "\"";
  std::size_t p = s.find(quoted);
  if (p == std::string_view::npos) return std::nullopt;
  std::size_t i = p + quoted.size();
  while (i < s.size() && (s[i] == ' ' || s[i] == ':' || s[i] == '\t')) ++i;
  if (s.substr(i).starts_with("true")) return true;
  if (s.substr(i).starts_with("false")) return false;
  return std::nullopt;
}

}  // namespace

std::vector<GradioEvent> GradioEventScanner::Feed(std::string_view piece) {
  out_.clear();
  while (!piece.empty()) {
    const std::size_t nl = piece.find('\n');
    std::string_view part = piece.substr(0, nl);
    if (line_.size() < kGradioLinePrefix) {
      line_.append(part.substr(0, kGradioLinePrefix - line_.size()));
    }
    if (nl == std::string_view::npos) break;
    Line();
    line_.clear();
    piece.remove_prefix(nl + 1);
  }
  return std::move(out_);
}

void GradioEventScanner::Line() {
  std::string_view line = line_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!line.starts_with("data:")) return;  // comments, "event:", "id:", blank separators
  line.remove_prefix(5);
  std::optional<std::string> msg = StringField(line, "msg");
  if (!msg) return;
  GradioEvent e;
  e.msg = std::move(*msg);
  e.event_id = StringField(line, "event_id").value_or("");
  if (e.msg == "process_completed") e.success = BoolField(line, "success");
  out_.push_back(std::move(e));
}

std::optional<GradioEvent> GradioMessageEvent(std::string_view head, std::string_view tail) {
  std::optional<std::string> msg = StringField(head.substr(0, kGradioLinePrefix), "msg");
  if (!msg) return std::nullopt;
  GradioEvent e;
  e.msg = std::move(*msg);
  e.event_id = StringField(head.substr(0, kGradioLinePrefix), "event_id").value_or("");
  if (e.msg == "process_completed") {
    e.success = BoolField(tail, "success");
    if (!e.success) e.success = BoolField(head, "success");
  }
  return e;
}

std::optional<std::string> GradioJoinEventId(std::string_view body) {
  auto id = StringField(body.substr(0, kGradioLinePrefix), "event_id");
  if (!id || id->empty()) return std::nullopt;
  return id;
}

std::optional<std::string> QueryParam(std::string_view target, std::string_view name) {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name && eq != std::string_view::npos) {
      return std::string(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

}  // namespace vg
