#include "comfy_prompt.h"

#include <gtest/gtest.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "roomy_memory_testing.h"

namespace vg::demo {
namespace {

using Json = nlohmann::json;

TEST(ComfyPromptsTest, APromptAnswersAtOnceAndTheHistoryHasItWhenItHasRun) {
  RoomyMemory memory;
  DemoApp app(memory, Bytes{1 << 20}, std::chrono::milliseconds(20), [](std::string_view) {});
  ComfyPrompts prompts(app);
  const auto t0 = std::chrono::steady_clock::now();
  HttpResponse queued = prompts.Handle(TestRequest("POST", "/api/prompt", R"({"prompt": {
      "3": {"class_type": "KSampler", "inputs": {"steps": 5, "seed": 1}},
      "5": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 512, "height": 512,
            "length": 16, "batch_size": 1}}}, "client_id": "c1"})"));
  ASSERT_EQ(queued.status, 200) << queued.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));  // not 5 steps
  const std::string id = Json::parse(queued.body)["prompt_id"];
  EXPECT_EQ(Json::parse(prompts.Handle(TestRequest("GET", "/history/" + id)).body), Json::object());
  std::string running;
  for (int i = 0; i < 100 && running.find(id) == std::string::npos; ++i) {
    running = prompts.Handle(TestRequest("GET", "/queue")).body;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_NE(running.find(id), std::string::npos) << running;
  Json history;
  for (int i = 0; i < 200 && history.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    history = Json::parse(prompts.Handle(TestRequest("GET", "/api/history/" + id)).body);
  }
  ASSERT_TRUE(history.contains(id)) << history.dump();
  EXPECT_EQ(history[id]["status"]["status_str"], "success");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));  // 5 × 20 ms
  EXPECT_EQ(Json::parse(prompts.Handle(TestRequest("GET", "/queue")).body)["queue_running"].size(),
            0u);
  prompts.Stop();
}

TEST(ComfyPromptsTest, AJobTheAppRefusesEndsInTheHistoryAsAnErrorAndBadPromptsAre400) {
  RoomyMemory memory;
  DemoApp app(memory, Bytes{1 << 20}, std::chrono::milliseconds(1), [](std::string_view) {});
  ComfyPrompts prompts(app);
  HttpResponse bad = prompts.Handle(TestRequest("POST", "/prompt", R"({"no": "prompt"})"));
  EXPECT_EQ(bad.status, 400);
  HttpResponse queued = prompts.Handle(
      TestRequest("POST", "/prompt", R"({"prompt": {"1": {"inputs": {"width": 800}}}})"));
  ASSERT_EQ(queued.status, 200);
  const std::string id = Json::parse(queued.body)["prompt_id"];
  Json history;
  for (int i = 0; i < 200 && history.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    history = Json::parse(prompts.Handle(TestRequest("GET", "/history/" + id)).body);
  }
  ASSERT_TRUE(history.contains(id));
  EXPECT_EQ(history[id]["status"]["status_str"], "error");  // 800 is not a resolution it knows
  EXPECT_EQ(prompts.Handle(TestRequest("DELETE", "/queue")).status, 405);
  prompts.Stop();
}

}  // namespace
}  // namespace vg::demo
