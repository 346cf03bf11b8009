// Bounds on untrusted JSON: a nesting limit checked before parsing, and a bounded rendering of a
// value for error messages.
//
// Contract:
//  - JsonNestingWithin(text, max_depth): one linear pass over `text` (no recursion, no
//    allocation) that counts '[' and '{' outside strings; false as soon as the depth passes
//    max_depth. It does not validate JSON: run it before nlohmann's parser, whose parse is
//    iterative but whose serializer, comparisons and our own walks recurse once per level.
//  - Abbreviate(value, max_bytes): the value's JSON text, cut to at most max_bytes bytes (on a
//    UTF-8 boundary, invalid UTF-8 replaced) with "…" appended when cut. The value must be
//    within kMaxJsonDepth (dump() recurses).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace vg {

// The deepest nesting any request body (or service answer) may have. The API's bodies are two or
// three levels deep ({"params": {"frames": 16}}); 64 leaves room for any client's wrapping
// while keeping every recursive walk of a parsed value (dump, ==, destruction) to 64 frames.
inline constexpr std::size_t kMaxJsonDepth = 64;

// How much of a client's value an error message may quote.
inline constexpr std::size_t kMaxEchoBytes = 64;

bool JsonNestingWithin(std::string_view text, std::size_t max_depth);

std::string Abbreviate(const nlohmann::json& value, std::size_t max_bytes = kMaxEchoBytes);
// The same for text (a parameter's name).
std::string AbbreviateText(std::string_view text, std::size_t max_bytes = kMaxEchoBytes);

}  // namespace vg
