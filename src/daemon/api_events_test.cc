// GET /v1/events (AddEventRoutes) through the router, without sockets: the ids a stream carries
// and where a resumed stream (Last-Event-ID) goes on.
#include <gtest/gtest.h>

#include "daemon/api_routes.h"
#include "daemon/event_hub.h"
#include "store/memory_store.h"

namespace vg {
namespace {

// A ResponseStream that keeps what the route wrote: (id, data) pairs; id "" for Write.
class EventsRouteStream final : public ResponseStream {
 public:
  bool Write(std::string_view chunk) override { return WriteEvent("", chunk); }
  bool WriteEvent(std::string_view id, std::string_view chunk) override {
    if (closed_) return false;
    written.emplace_back(std::string(id), nlohmann::json::parse(chunk));
    return true;
  }
  void Close() override { closed_ = true; }
  bool closed() const override { return closed_; }

  std::vector<std::pair<std::string, nlohmann::json>> written;

 private:
  bool closed_ = false;
};

class EventsRouteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AddEventRoutes(router_, hub_);
    for (const char* kind : {"starting", "ready", "stopping"}) hub_.Emit("svc", "", kind, kind);
  }

  HandlerResult Get(const std::string& target, const std::string& last_event_id = "") {
    HttpRequest r;
    r.method = "GET";
    r.target = target;
    EXPECT_TRUE(SplitTarget(target, r.path, r.query));
    if (!last_event_id.empty()) r.headers["last-event-id"] = last_event_id;
    return router_.Dispatch(r);
  }

  // Starts the stream the route returned; what it wrote is in the returned stream.
  std::shared_ptr<EventsRouteStream> Follow(const std::string& target,
                                            const std::string& last_event_id = "") {
    HandlerResult result = Get(target, last_event_id);
    auto* starter = std::get_if<StreamStarter>(&result);
    if (starter == nullptr) {
      ADD_FAILURE() << "not a stream: " << std::get<HttpResponse>(result).body;
      return nullptr;
    }
    auto stream = std::make_shared<EventsRouteStream>();
    (*starter)(stream);
    return stream;
  }

  static std::vector<std::string> Ids(const EventsRouteStream& s) {
    std::vector<std::string> ids;
    for (const auto& [id, event] : s.written) {
      EXPECT_EQ(id, std::to_string(event["id"].get<std::int64_t>()));  // the id is the event's
      ids.push_back(id);
    }
    return ids;
  }

  MemoryStore store_;
  EventHub hub_{store_, false};
  Router router_;
};

TEST_F(EventsRouteTest, EveryStreamedEventCarriesItsId) {
  auto stream = Follow("/v1/events?follow=1");
  ASSERT_TRUE(stream);
  EXPECT_EQ(Ids(*stream), (std::vector<std::string>{"1", "2", "3"}));
  hub_.Emit("svc", "", "stopped", "stopped");
  EXPECT_EQ(Ids(*stream), (std::vector<std::string>{"1", "2", "3", "4"}));
}

TEST_F(EventsRouteTest, LastEventIdResumesAfterIt) {
  auto stream = Follow("/v1/events?follow=1", "2");
  ASSERT_TRUE(stream);
  EXPECT_EQ(Ids(*stream), std::vector<std::string>{"3"});
  // An EventSource reconnects to its first URL: the later of after_id and Last-Event-ID wins.
  auto reconnected = Follow("/v1/events?follow=1&after_id=1", "2");
  ASSERT_TRUE(reconnected);
  EXPECT_EQ(Ids(*reconnected), std::vector<std::string>{"3"});
  auto query_later = Follow("/v1/events?follow=1&after_id=2", "1");
  ASSERT_TRUE(query_later);
  EXPECT_EQ(Ids(*query_later), std::vector<std::string>{"3"});
  // The list (no follow) resumes the same way.
  HandlerResult list = Get("/v1/events", "2");
  auto body = nlohmann::json::parse(std::get<HttpResponse>(list).body);
  ASSERT_EQ(body["events"].size(), 1u);
  EXPECT_EQ(body["events"][0]["kind"], "stopping");
}

TEST_F(EventsRouteTest, AMalformedLastEventIdIs400) {
  for (const char* bad : {"x", "-1", "3 ", "1e3", "99999999999999999999999"}) {
    HandlerResult result = Get("/v1/events?follow=1", bad);
    const auto* response = std::get_if<HttpResponse>(&result);
    ASSERT_NE(response, nullptr) << bad;
    EXPECT_EQ(response->status, 400) << bad;
    EXPECT_NE(response->body.find("Last-Event-ID must be an event id"), std::string::npos);
  }
}

}  // namespace
}  // namespace vg
