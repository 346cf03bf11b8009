#include "core/door_route.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "util/json_limits.h"

namespace vg {
namespace {

using nlohmann::json;

std::unexpected<Error> Invalid(std::string message, std::string hint = {}) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message), std::move(hint));
}

// RFC 6901: "" is the whole document; otherwise '/'-separated segments, "~1" → '/', "~0" → '~'.
Result<std::vector<std::string>> SplitPointer(std::string_view text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  if (text.front() != '/')
    return Invalid("'" + std::string(text) + "' is not a JSON pointer",
                   "write it like \"/data/1\" (RFC 6901: it starts with '/')");
  std::size_t pos = 1;
  for (;;) {
    const std::size_t slash = text.find('/', pos);
    std::string_view raw =
        text.substr(pos, slash == std::string_view::npos ? text.npos : slash - pos);
    std::string seg;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        seg += raw[i];
        continue;
      }
      if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        seg += raw[i + 1] == '0' ? '~' : '/';
        ++i;
        continue;
      }
      return Invalid("'" + std::string(text) + "' has a '~' that is not \"~0\" or \"~1\"",
                     "write '~' as \"~0\" and '/' inside a name as \"~1\" (RFC 6901)");
    }
    out.push_back(std::move(seg));
    if (out.size() > kMaxDoorPointerSegments)
      return Invalid("'" + std::string(text) + "' has more than " +
                     std::to_string(kMaxDoorPointerSegments) + " segments");
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return out;
}

// An array index as RFC 6901 writes it: "0", or digits without a leading zero.
std::optional<std::size_t> ArrayIndex(const std::string& seg) {
  if (seg.empty() || seg.size() > 9) return std::nullopt;
  if (seg.size() > 1 && seg[0] == '0') return std::nullopt;
  std::size_t n = 0;
  for (char c : seg) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

// Collects the values `segments` reaches from `root`; false when the walk passed kMaxDoorVisits.
bool Walk(const json& root, const std::vector<std::string>& segments,
          std::vector<const json*>* found) {
  std::vector<const json*> here = {&root};
  std::size_t visits = 1;
  for (const std::string& seg : segments) {
    std::vector<const json*> next;
    for (const json* v : here) {
      if (seg == "*") {
        if (v->is_object() || v->is_array()) {
          visits += v->size();
          if (visits > kMaxDoorVisits) return false;
          for (const json& child : *v) next.push_back(&child);
        }
      } else if (v->is_object()) {
        auto it = v->find(seg);
        if (it != v->end()) next.push_back(&*it);
      } else if (v->is_array()) {
        if (auto i = ArrayIndex(seg); i && *i < v->size()) next.push_back(&(*v)[*i]);
      }
      if (++visits > kMaxDoorVisits) return false;
    }
    here = std::move(next);
    if (here.empty()) break;
  }
  *found = std::move(here);
  return true;
}

// Tokens a value holds, roughly: its UTF-8 bytes / 4, rounded up (strings: their text; other
// values: their JSON, within kMaxJsonDepth since the body was checked).
std::uint64_t TokensOf(const json& v) {
  std::uint64_t bytes = 0;
  if (v.is_string()) {
    bytes = v.get_ref<const std::string&>().size();
  } else {
    bytes = v.dump(-1, ' ', false, json::error_handler_t::replace).size();
  }
  return (bytes + 3) / 4;
}

}  // namespace

const char* DoorProtocolName(DoorProtocol p) {
  switch (p) {
    case DoorProtocol::kGeneric:
      return "generic";
    case DoorProtocol::kOpenAi:
      return "openai";
    case DoorProtocol::kGradio:
      return "gradio";
  }
  return "generic";
}

std::optional<DoorProtocol> ParseDoorProtocol(std::string_view text) {
  for (DoorProtocol p : {DoorProtocol::kGeneric, DoorProtocol::kOpenAi, DoorProtocol::kGradio})
    if (text == DoorProtocolName(p)) return p;
  return std::nullopt;
}

const char* DoorEndsName(DoorEnds e) {
  switch (e) {
    case DoorEnds::kGradioQueue:
      return "gradio-queue";
    case DoorEnds::kComfyHistory:
      return "comfyui-history";
    case DoorEnds::kGradioWs:
      return "gradio-ws";
    case DoorEnds::kAnswer:
      break;
  }
  return "answer";
}

std::optional<DoorEnds> ParseDoorEnds(std::string_view text) {
  for (DoorEnds e :
       {DoorEnds::kAnswer, DoorEnds::kGradioQueue, DoorEnds::kComfyHistory, DoorEnds::kGradioWs})
    if (text == DoorEndsName(e)) return e;
  return std::nullopt;
}

Result<std::pair<std::string, std::string>> ParseDoorMatch(std::string_view text) {
  const std::size_t space = text.find(' ');
  const std::string hint = "write it like \"POST /generate\" (a method, one space, a path)";
  if (space == std::string_view::npos || space == 0)
    return Invalid("route '" + std::string(text) + "' needs a method and a path", hint);
  std::string method(text.substr(0, space));
  std::string path(text.substr(space + 1));
  for (char& c : method) {
    if (!std::isalpha(static_cast<unsigned char>(c)))
      return Invalid("route '" + std::string(text) + "' has a method with a non-letter", hint);
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (path.empty() || path.front() != '/' || path.find_first_of(" ?#") != std::string::npos)
    return Invalid("route '" + std::string(text) + "' needs a path starting with '/' (no query)",
                   hint);
  if (const std::size_t star = path.find('*'); star != std::string::npos && star + 1 != path.size())
    return Invalid("route '" + std::string(text) + "' has a '*' before the end of its path",
                   "a '*' may only end the path (a prefix): \"POST /v1/*\"");
  return std::pair{std::move(method), std::move(path)};
}

Result<DoorParamSource> ParseDoorSource(std::string param, std::string_view text) {
  DoorParamSource s;
  s.param = std::move(param);
  s.text = std::string(text);
  std::string_view pointer = text;
  if (pointer.starts_with("tokens:")) {
    s.take = DoorParamSource::Take::kTokens;
    pointer.remove_prefix(7);
  } else if (pointer.starts_with("count:")) {
    s.take = DoorParamSource::Take::kCount;
    pointer.remove_prefix(6);
  }
  auto segs = SplitPointer(pointer);
  if (!segs) return std::unexpected(segs.error());
  s.segments = std::move(*segs);
  return s;
}

Result<std::vector<std::string>> ParseDoorPointer(std::string_view text) {
  auto segs = SplitPointer(text);
  if (!segs) return segs;
  if (std::find(segs->begin(), segs->end(), "*") != segs->end())
    return Invalid("'" + std::string(text) + "' has a '*': a condition names one value",
                   "write the whole pointer, like \"/fn_index\"");
  return segs;
}

const DoorRoute* MatchDoorRoute(const std::vector<DoorRoute>& routes, std::string_view method,
                                std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  for (const DoorRoute& r : routes) {
    if (r.method != method) continue;
    if (!r.path.empty() && r.path.back() == '*') {
      if (path.starts_with(std::string_view(r.path).substr(0, r.path.size() - 1))) return &r;
    } else if (path == r.path) {
      return &r;
    }
  }
  return nullptr;
}

Result<DoorExtract> ExtractDoorParams(const DoorRoute& route, std::string_view body) {
  if (!JsonNestingWithin(body, kMaxJsonDepth))
    return Invalid("the request body nests deeper than " + std::to_string(kMaxJsonDepth) +
                   " levels");
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !(doc.is_object() || doc.is_array()))
    return Invalid("the request body is not a JSON object",
                   "this route's parameters are read from its JSON body");
  DoorExtract out;
  for (const DoorCondition& c : route.when) {
    std::vector<const json*> found;
    if (!Walk(doc, c.segments, &found)) return Invalid("the request body is too large to walk");
    if (found.empty() || *found.front() != c.value) {
      out.is_job = false;
      return out;
    }
  }
  for (const DoorParamSource& s : route.params) {
    std::vector<const json*> found;
    if (!Walk(doc, s.segments, &found))
      return Invalid("the request body has more than " + std::to_string(kMaxDoorVisits) +
                     " values under '" + s.text + "'");
    if (found.empty()) continue;
    switch (s.take) {
      case DoorParamSource::Take::kValue: {
        const bool all_numbers =
            std::all_of(found.begin(), found.end(), [](const json* v) { return v->is_number(); });
        const json* pick = found.front();
        if (all_numbers) {
          for (const json* v : found)
            if (v->get<double>() > pick->get<double>()) pick = v;
        }
        out.params[s.param] = *pick;
        break;
      }
      case DoorParamSource::Take::kTokens: {
        std::uint64_t tokens = 0;
        for (const json* v : found) tokens += TokensOf(*v);
        out.params[s.param] = tokens;
        break;
      }
      case DoorParamSource::Take::kCount: {
        std::uint64_t n = 0;
        for (const json* v : found)
          if (v->is_array() || v->is_object()) n += v->size();
        out.params[s.param] = n;
        break;
      }
    }
  }
  return out;
}

}  // namespace vg
