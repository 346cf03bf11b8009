#include "gradio_queue.h"

#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>

#include "roomy_memory_testing.h"

namespace vg::demo {
namespace {

using Json = nlohmann::json;

TEST(GradioQueueTest, JoinAnswersAtOnceAndTheStreamCompletesWhenTheJobHasRun) {
  RoomyMemory memory;
  DemoApp app(memory, Bytes{1 << 20}, std::chrono::milliseconds(20), [](std::string_view) {});
  GradioQueue queue(app);
  const auto t0 = std::chrono::steady_clock::now();
  HttpResponse join = queue.Handle(TestRequest("POST", "/gradio_api/queue/join",
                                               R"({"data": [512, 16, 5], "session_hash": "s1"})"));
  ASSERT_EQ(join.status, 200) << join.body;
  const std::string event = Json::parse(join.body)["event_id"];
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));  // not 5 steps
  HttpResponse data = queue.Handle(TestRequest("GET", "/gradio_api/queue/data?session_hash=s1"));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));  // ran first
  ASSERT_EQ(data.status, 200);
  EXPECT_EQ(data.content_type, "text/event-stream");
  EXPECT_NE(data.body.find(R"("msg":"process_completed")"), std::string::npos) << data.body;
  EXPECT_NE(data.body.find(R"("event_id":")" + event + "\""), std::string::npos);
  EXPECT_NE(data.body.find(R"("success":true)"), std::string::npos);
  EXPECT_NE(data.body.find(R"("msg":"close_stream")"), std::string::npos);
  app.Stop();
}

TEST(GradioQueueTest, BadJoinsAndMethodsAreAnswered) {
  RoomyMemory memory;
  DemoApp app(memory, Bytes{1 << 20}, std::chrono::milliseconds(1), [](std::string_view) {});
  GradioQueue queue(app);
  EXPECT_EQ(queue.Handle(TestRequest("POST", "/gradio_api/queue/join", "{}")).status, 422);
  EXPECT_EQ(queue.Handle(TestRequest("GET", "/gradio_api/queue/join")).status, 405);
  EXPECT_EQ(queue.Handle(TestRequest("GET", "/gradio_api/queue/data")).status, 422);
  EXPECT_TRUE(GradioQueue::Handles(TestRequest("GET", "/gradio_api/queue/data?session_hash=x")));
  EXPECT_FALSE(GradioQueue::Handles(TestRequest("POST", "/generate")));
  app.Stop();
}

}  // namespace
}  // namespace vg::demo
