// libFuzzer target: routes that are jobs (core/door_route.h), what a client controls through a
// service's proxy, and Gradio's queue messages (core/gradio_events.h), what the service sends back.
// Input: lines of parameter sources ("/data/1", "tokens:/messages/*/content", "count:/prompt/*"), a
// NUL byte, then a request body. Every source either parses or is refused with a one-line message
// and a hint; extraction from any body either gives values only for the declared parameters (token
// and element counts as non-negative integers) or a one-line error, within the walk's bounds
// (libFuzzer's -timeout and -rss_limit_mb catch the rest).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "check.h"
#include "core/comfy_prompt.h"
#include "core/door_route.h"
#include "core/gradio_events.h"

namespace {
using vg_fuzz::Check;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  std::string_view spec = input.substr(0, nul);
  std::string_view body =
      nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  vg::DoorRoute route;
  route.method = "POST";
  route.path = "/x";
  std::set<std::string> names;
  int n = 0;
  while (!spec.empty() && n < 16) {
    const std::size_t eol = spec.find('\n');
    std::string_view line = spec.substr(0, eol);
    spec = eol == std::string_view::npos ? std::string_view() : spec.substr(eol + 1);
    const std::string name = "p" + std::to_string(n++);
    if (line.starts_with("when ")) {
      auto segs = vg::ParseDoorPointer(line.substr(5));
      if (segs) route.when.push_back({*segs, nlohmann::json(1), std::string(line.substr(5))});
      continue;
    }
    auto source = vg::ParseDoorSource(name, line);
    if (!source) {
      Check(source.error().message.find('\n') == std::string::npos || line.find('\n') != line.npos);
      Check(!source.error().hint.empty() ||
            source.error().message.find("segments") != std::string::npos);
      continue;
    }
    Check(source->segments.size() <= vg::kMaxDoorPointerSegments);
    names.insert(name);
    route.params.push_back(std::move(*source));
  }
  // The same body as a service's answer the door reads: a Gradio event stream in pieces of any
  // size, and a join's answer. Every event names at most what one line's kept prefix holds.
  {
    vg::GradioEventScanner scanner;
    const std::size_t piece = 1 + (size % 97);
    for (std::size_t i = 0; i < body.size(); i += piece) {
      for (const vg::GradioEvent& e : scanner.Feed(body.substr(i, piece))) {
        Check(!e.msg.empty() && e.msg.size() < vg::kGradioLinePrefix);
        Check(e.event_id.size() < vg::kGradioLinePrefix);
      }
    }
    if (auto id = vg::GradioJoinEventId(body)) Check(!id->empty());
    (void)vg::QueryParam(body.substr(0, 512), "session_hash");
    // … and as ComfyUI's answers: a prompt id is always one that goes into a path as it is.
    if (auto id = vg::ComfyPromptId(body)) {
      Check(!id->empty() && id->size() <= 128 && id->find('/') == std::string::npos);
      (void)vg::ReadComfyHistory(body, *id, false);
      (void)vg::ReadComfyHistory(body.substr(0, body.size() / 2), *id, true);
      (void)vg::ComfyQueueHolds(body, *id);
    }
    (void)vg::ReadComfyHistory(body, "p", (body.size() & 1) != 0);
  }
  vg::Result<vg::DoorExtract> x = vg::ExtractDoorParams(route, body);
  if (!x) {
    Check(!x.error().message.empty());
    return 0;
  }
  Check(x->params.is_object());
  if (!x->is_job) Check(x->params.empty());
  for (auto it = x->params.begin(); it != x->params.end(); ++it) {
    Check(names.count(it.key()) == 1);
  }
  for (const vg::DoorParamSource& s : route.params) {
    if (s.take == vg::DoorParamSource::Take::kValue || !x->params.contains(s.param)) continue;
    Check(x->params[s.param].is_number_unsigned());
  }
  (void)vg::MatchDoorRoute({route}, "POST", body.substr(0, 256));
  return 0;
}
