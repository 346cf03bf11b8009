#include "core/gradio_events.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

TEST(GradioEventsTest, EventsOfAStreamCutAnywhere) {
  const std::string stream =
      "data: {\"msg\": \"estimation\", \"event_id\": \"e1\", \"rank\": 0, \"queue_size\": 1}\n\n"
      "data: {\"msg\": \"process_starts\", \"event_id\": \"e1\"}\n\n"
      ": heartbeat\n\n"
      "data: {\"msg\":\"process_completed\",\"event_id\":\"e1\",\"output\":{\"data\":[1]},"
      "\"success\":true}\r\n\r\n"
      "data: {\"msg\": \"close_stream\", \"event_id\": null}\n\n";
  for (std::size_t cut = 1; cut < stream.size(); cut += 7) {
    GradioEventScanner scanner;
    std::vector<GradioEvent> all;
    for (std::size_t i = 0; i < stream.size(); i += cut) {
      for (GradioEvent& e : scanner.Feed(std::string_view(stream).substr(i, cut))) {
        all.push_back(std::move(e));
      }
    }
    ASSERT_EQ(all.size(), 4u) << "cut " << cut;
    EXPECT_EQ(all[0].msg, "estimation");
    EXPECT_EQ(all[2].msg, "process_completed");
    EXPECT_EQ(all[2].event_id, "e1");
    EXPECT_EQ(all[2].success, true);
    EXPECT_EQ(all[3].msg, "close_stream");
    EXPECT_EQ(all[3].event_id, "");  // null: none
  }
}

TEST(GradioEventsTest, AHugeOutputIsSkippedNotBuffered) {
  GradioEventScanner scanner;
  std::string big =
      "data: {\"msg\": \"process_completed\", \"event_id\": \"e2\", \"success\": "
      "false, \"output\": \"";
  EXPECT_TRUE(scanner.Feed(big).empty());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(scanner.Feed(std::string(64 * 1024, 'A')).empty());
  auto events = scanner.Feed("\"}\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_id, "e2");
  EXPECT_EQ(events[0].success, false);
}

TEST(GradioEventsTest, JoinAnswerAndQuery) {
  EXPECT_EQ(GradioJoinEventId("{\"event_id\": \"7f3a\"}"), "7f3a");
  EXPECT_EQ(GradioJoinEventId("{\"event_id\":\"\"}"), std::nullopt);
  EXPECT_EQ(GradioJoinEventId("{\"detail\": \"Not Found\"}"), std::nullopt);
  EXPECT_EQ(GradioJoinEventId("not json"), std::nullopt);
  EXPECT_EQ(QueryParam("/gradio_api/queue/data?session_hash=abc&x=1", "session_hash"), "abc");
  EXPECT_EQ(QueryParam("/queue/data?x=1&session_hash=z", "session_hash"), "z");
  EXPECT_EQ(QueryParam("/queue/data", "session_hash"), std::nullopt);
  EXPECT_EQ(QueryParam("/queue/data?session_hashx=1", "session_hash"), std::nullopt);
}

}  // namespace
}  // namespace vg
