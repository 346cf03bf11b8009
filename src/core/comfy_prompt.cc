#include "core/comfy_prompt.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace vg {
namespace {

bool PlainId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

// The text of `"status_str": "…"` after `from` in a JSON text (any spacing), or "".
std::string StatusStrIn(std::string_view text) {
  constexpr std::string_view kKey = "\"status_str\"";
  const std::size_t k = text.find(kKey);
  if (k == std::string_view::npos) return "";
  std::size_t i = k + kKey.size();
  while (i < text.size() && (text[i] == ' ' || text[i] == ':' || text[i] == '\t')) ++i;
  if (i >= text.size() || text[i] != '"') return "";
  const std::size_t end = text.find('"', i + 1);
  if (end == std::string_view::npos || end - i > 32) return "";
  return std::string(text.substr(i + 1, end - i - 1));
}

// The part of a path before its last segment: "/api/prompt" → "/api".
std::string_view Dir(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

}  // namespace

std::optional<std::string> ComfyPromptId(std::string_view answer) {
  const nlohmann::json j = nlohmann::json::parse(answer, nullptr, false);
  if (!j.is_object() || !j.contains("prompt_id") || !j["prompt_id"].is_string())
    return std::nullopt;
  std::string id = j["prompt_id"].get<std::string>();
  if (!PlainId(id)) return std::nullopt;
  return id;
}

const char* ComfyPromptStateName(ComfyPromptState s) {
  switch (s) {
    case ComfyPromptState::kSucceeded:
      return "succeeded";
    case ComfyPromptState::kFailed:
      return "failed";
    case ComfyPromptState::kPending:
      break;
  }
  return "pending";
}

ComfyPromptState ReadComfyHistory(std::string_view body, std::string_view prompt_id, bool capped) {
  if (!capped) {
    const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_object()) {
      const std::string key(prompt_id);
      if (!j.contains(key) || !j[key].is_object()) return ComfyPromptState::kPending;
      const nlohmann::json& entry = j[key];
      if (entry.contains("status") && entry["status"].is_object()) {
        const nlohmann::json& st = entry["status"];
        if (st.contains("status_str") && st["status_str"] == "error")
          return ComfyPromptState::kFailed;
      }
      return ComfyPromptState::kSucceeded;
    }
  }
  // A prefix (or not JSON): the entry exists when the id is a key; its status when the prefix
  // reaches it, else it ran (the entry is written when the prompt ends).
  if (body.find("\"" + std::string(prompt_id) + "\"") == std::string_view::npos)
    return ComfyPromptState::kPending;
  return StatusStrIn(body) == "error" ? ComfyPromptState::kFailed : ComfyPromptState::kSucceeded;
}

bool ComfyQueueHolds(std::string_view body, std::string_view prompt_id) {
  return body.find("\"" + std::string(prompt_id) + "\"") != std::string_view::npos;
}

std::string ComfyHistoryPath(std::string_view prompt_path, std::string_view prompt_id) {
  return std::string(Dir(prompt_path)) + "/history/" + std::string(prompt_id);
}

std::string ComfyQueuePath(std::string_view prompt_path) {
  return std::string(Dir(prompt_path)) + "/queue";
}

}  // namespace vg
