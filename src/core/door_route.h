// Routes that are jobs (docs/proxy.md, "Routes that are jobs"): which requests through a
// service's proxy are jobs, and the job's parameters as the request's JSON body gives them.
// Pure: no I/O, no clock. The daemon's door (daemon/door.cc) applies it to every request head
// (MatchDoorRoute) and to the body of a matching one (ExtractDoorParams).
//
// Contract:
//  - A route matches by method (exact, upper case) and path (the target before any '?', exact;
//    a pattern ending in '*' matches every path that starts with what precedes it). The first
//    matching route of the list wins.
//  - A source is an RFC 6901 JSON pointer ("/data/1", "~1" for '/', "~0" for '~') in which a
//    segment "*" stands for every member of an object or element of an array, optionally after
//    a prefix: "tokens:" (an estimate of the tokens the value holds: its text's UTF-8 bytes / 4,
//    rounded up; strings count their text, other values their JSON) or "count:" (how many
//    elements or members it has).
//  - Values: one match gives that value; several give the largest when all are numbers (the
//    conservative size: ComfyUI's "/prompt/*/inputs/width" takes the widest node), else the
//    first; "tokens:" and "count:" add up over every match. No match: the parameter is left
//    out (the job schema's default applies; without one, validation names it).
//  - `when` conditions: every pointer (no "*", no prefix) must hold a value equal to the given
//    one, else the request is not a job of this route (it passes through untouched).
//  - Bounds: the body must be a JSON object or array within kMaxJsonDepth (checked before
//    parsing), a pointer has at most kMaxDoorPointerSegments segments, a walk visits at most
//    kMaxDoorVisits values; past those the answer is an error, never a partial result.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace vg {

// How refusals and the door's other answers are written for the client (docs/proxy.md).
enum class DoorProtocol { kGeneric, kOpenAi, kGradio };
const char* DoorProtocolName(DoorProtocol p);
std::optional<DoorProtocol> ParseDoorProtocol(std::string_view text);

// When a route's job ends: with the request's answer ("answer": engines that work inside the
// request), or when the service's Gradio event stream reports the event the answer named
// ("gradio-queue": `POST …/queue/join` answers {"event_id"} at once; the work streams on
// `GET …/queue/data?session_hash=…` until that event's `process_completed`), or when ComfyUI's
// history has the prompt the answer named ("comfyui-history": `POST /prompt` answers
// {"prompt_id"} at once; the door asks `GET /history/<id>` until the prompt ended), or with the
// Gradio 3 queue's WebSocket ("gradio-ws": `GET …/queue/join` upgraded; the parameters are in
// the client's data message, the job ends at the service's process_completed or when the
// WebSocket closes; core/gradio_ws.h).
enum class DoorEnds { kAnswer, kGradioQueue, kComfyHistory, kGradioWs };
const char* DoorEndsName(DoorEnds e);
std::optional<DoorEnds> ParseDoorEnds(std::string_view text);

inline constexpr std::size_t kMaxDoorPointerSegments = 32;
inline constexpr std::size_t kMaxDoorVisits = 100'000;

// Where one job parameter's value comes from in the body.
struct DoorParamSource {
  enum class Take { kValue, kTokens, kCount };
  std::string param;
  std::vector<std::string> segments;  // the pointer, unescaped; "*": every member/element
  Take take = Take::kValue;
  std::string text;  // as written, for messages

  bool operator==(const DoorParamSource&) const = default;
};

// The value at `segments` must equal `value`.
struct DoorCondition {
  std::vector<std::string> segments;
  nlohmann::json value;
  std::string text;  // the pointer as written

  bool operator==(const DoorCondition&) const = default;
};

struct DoorRoute {
  std::string method;  // "POST"
  std::string path;    // "/generate"; "/v1/*": a prefix
  DoorProtocol protocol = DoorProtocol::kGeneric;
  DoorEnds ends = DoorEnds::kAnswer;
  std::vector<DoorParamSource> params;
  std::vector<DoorCondition> when;
  std::string text;  // "POST /generate", as written

  bool operator==(const DoorRoute&) const = default;
};

// "POST /generate" → the route's method and path (a method of letters, a path starting with '/').
Result<std::pair<std::string, std::string>> ParseDoorMatch(std::string_view text);
// "/data/1", "tokens:/messages", "count:/prompt/*": a source for `param`.
Result<DoorParamSource> ParseDoorSource(std::string param, std::string_view text);
// A plain pointer (no "*", no prefix) for a condition.
Result<std::vector<std::string>> ParseDoorPointer(std::string_view text);

// The first route this request is a job of, by method and target; nullptr: none.
const DoorRoute* MatchDoorRoute(const std::vector<DoorRoute>& routes, std::string_view method,
                                std::string_view target);

struct DoorExtract {
  bool is_job = true;                                // false: a `when` condition did not hold
  nlohmann::json params = nlohmann::json::object();  // the values found, by parameter name
};

// The job parameters the body holds for `route`; an error (kInvalidArgument) when the body is not
// JSON, nests too deeply, or a walk passes the bounds.
Result<DoorExtract> ExtractDoorParams(const DoorRoute& route, std::string_view body);

}  // namespace vg
