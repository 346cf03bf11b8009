// Gradio's queue protocol as the front door follows it (docs/proxy.md, "Engines that answer at
// once"): the event id in `POST …/queue/join`'s answer, and the events of the server-sent stream
// on `GET …/queue/data?session_hash=…` (`data: {"msg": "process_completed", "event_id": …,
// "success": true, "output": …}`), read as the proxy relays them.
//
// Pure and bounded: the scanner keeps at most kGradioLinePrefix bytes of each line (Gradio puts
// "msg" and "event_id" first; an "output" of megabytes of base64 is skipped, never buffered), so
// its memory does not depend on what the service sends.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vg {

inline constexpr std::size_t kGradioLinePrefix = 4096;

struct GradioEvent {
  std::string msg;       // "estimation", "process_starts", "progress", "process_completed", …
  std::string event_id;  // "" when the message names none
  std::optional<bool> success;  // process_completed's "success", when within the prefix
};

class GradioEventScanner {
 public:
  // Feeds the next piece of the stream's body; returns the events whose lines it completes.
  std::vector<GradioEvent> Feed(std::string_view piece);

 private:
  void Line();
  std::string line_;  // the current line's first kGradioLinePrefix bytes
  std::vector<GradioEvent> out_;
};

// One whole message of Gradio 3's WebSocket queue (core/gradio_ws.h) from its first bytes and its
// last ones: its "msg", "event_id" and, for process_completed, "success" (Gradio writes it last,
// after an "output" of any size: looked for in the tail first). nullopt: no "msg".
std::optional<GradioEvent> GradioMessageEvent(std::string_view head, std::string_view tail);

// The "event_id" of a queue/join answer ({"event_id": "…"}), if it names one.
std::optional<std::string> GradioJoinEventId(std::string_view body);

// The query parameter `name` of a request target ("/queue/data?session_hash=abc" → "abc"),
// percent-decoding not applied (Gradio's ids are plain).
std::optional<std::string> QueryParam(std::string_view target, std::string_view name);

}  // namespace vg
