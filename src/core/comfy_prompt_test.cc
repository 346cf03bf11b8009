// ComfyUI's prompt answers as the door reads them (core/comfy_prompt.h).
#include "core/comfy_prompt.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

TEST(ComfyPromptTest, ThePromptIdOfAnAnswer) {
  EXPECT_EQ(ComfyPromptId(R"({"prompt_id": "3f1c2a9e-7b1d-4b6e-9c1e-0a4a8e2f5d11", "number": 4,
                             "node_errors": {}})"),
            "3f1c2a9e-7b1d-4b6e-9c1e-0a4a8e2f5d11");
  EXPECT_FALSE(ComfyPromptId(R"({"error": {"type": "prompt_outputs_failed_validation"},
                                 "node_errors": {"3": {}}})"));
  EXPECT_FALSE(ComfyPromptId(R"({"prompt_id": "../../etc"})"));  // never put in a path
  EXPECT_FALSE(ComfyPromptId(R"({"prompt_id": 17})"));
  EXPECT_FALSE(ComfyPromptId("not json"));
  EXPECT_FALSE(ComfyPromptId(R"({"prompt_id": ""})"));
}

TEST(ComfyPromptTest, TheHistorySaysPendingUntilTheEntryThenItsStatus) {
  const std::string id = "p-1";
  EXPECT_EQ(ReadComfyHistory("{}", id, false), ComfyPromptState::kPending);
  EXPECT_EQ(ReadComfyHistory(R"({"p-2": {"outputs": {}}})", id, false), ComfyPromptState::kPending);
  EXPECT_EQ(ReadComfyHistory(R"({"p-1": {"prompt": [1, "p-1", {}], "outputs": {"9": {"images": []}},
      "status": {"status_str": "success", "completed": true, "messages": []}}})",
                             id, false),
            ComfyPromptState::kSucceeded);
  EXPECT_EQ(ReadComfyHistory(R"({"p-1": {"outputs": {}, "status": {"status_str": "error",
      "completed": false, "messages": [["execution_error", {"exception_type":
      "torch.OutOfMemoryError"}]]}}})",
                             id, false),
            ComfyPromptState::kFailed);
  // Before the status field existed: an entry means it ran.
  EXPECT_EQ(ReadComfyHistory(R"({"p-1": {"prompt": [], "outputs": {}}})", id, false),
            ComfyPromptState::kSucceeded);
  // A prefix of a large entry: the key is there; the status when the prefix reaches it.
  EXPECT_EQ(
      ReadComfyHistory(R"({"p-1": {"prompt": [1, "p-1", {"3": {"inputs": {"seed": 4)", id, true),
      ComfyPromptState::kSucceeded);
  EXPECT_EQ(ReadComfyHistory(R"({"p-1": {"outputs": {}, "status": {"status_str":"error", "com)", id,
                             true),
            ComfyPromptState::kFailed);
  EXPECT_EQ(ReadComfyHistory("{", id, true), ComfyPromptState::kPending);
}

TEST(ComfyPromptTest, TheQueueAndThePathsBesideThePrompt) {
  EXPECT_TRUE(ComfyQueueHolds(R"({"queue_running": [[3, "p-1", {}, {}, []]], "queue_pending": []})",
                              "p-1"));
  EXPECT_FALSE(
      ComfyQueueHolds(R"({"queue_running": [], "queue_pending": [[4, "p-10", {}]]})", "p-1"));
  EXPECT_EQ(ComfyHistoryPath("/prompt", "p-1"), "/history/p-1");
  EXPECT_EQ(ComfyHistoryPath("/api/prompt", "p-1"), "/api/history/p-1");
  EXPECT_EQ(ComfyQueuePath("/prompt"), "/queue");
  EXPECT_EQ(ComfyQueuePath("/api/prompt"), "/api/queue");
}

}  // namespace
}  // namespace vg
