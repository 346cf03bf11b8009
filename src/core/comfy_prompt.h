// ComfyUI's prompt API as the front door follows it (docs/proxy.md, "Engines that answer at
// once"): `POST /prompt` (or `/api/prompt`) answers {"prompt_id": "…", "number": N,
// "node_errors": {}} as soon as the workflow is queued; the work runs afterwards, and
// `GET /history/<prompt_id>` answers {} until it has ended, then {"<prompt_id>": {"prompt": …,
// "outputs": …, "status": {"status_str": "success" | "error", "completed": …, "messages": …}}}
// (versions before the status field: outputs only, meaning it ran). `GET /queue` lists what is
// running and pending ({"queue_running": […], "queue_pending": […]}): a prompt in neither and not
// in the history was deleted from the queue before it ran.
//
// Pure: what the answers say; the door (daemon/door.cc) makes the requests.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace vg {

// The prompt id of a `POST /prompt` answer: 1–128 bytes of letters, digits, '-', '_' or '.'
// (ComfyUI writes a UUID), so that it can be put in a path as it is.
std::optional<std::string> ComfyPromptId(std::string_view answer);

enum class ComfyPromptState { kPending, kSucceeded, kFailed };
const char* ComfyPromptStateName(ComfyPromptState s);

// What `GET /history/<prompt_id>`'s answer says of the prompt. `capped`: only the body's first
// bytes are here (a large history entry): its "status_str" is looked for in the text.
ComfyPromptState ReadComfyHistory(std::string_view body, std::string_view prompt_id, bool capped);

// Whether `GET /queue`'s answer names the prompt (running or pending).
bool ComfyQueueHolds(std::string_view body, std::string_view prompt_id);

// Where ComfyUI answers for a prompt posted to `prompt_path` ("/prompt", "/api/prompt"): the
// history and queue paths beside it ("/history/<id>", "/api/history/<id>"; "/queue",
// "/api/queue").
std::string ComfyHistoryPath(std::string_view prompt_path, std::string_view prompt_id);
std::string ComfyQueuePath(std::string_view prompt_path);

}  // namespace vg
