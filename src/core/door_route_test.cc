#include "core/door_route.h"

#include <gtest/gtest.h>

#include <string>

namespace vg {
namespace {

using nlohmann::json;

DoorRoute Route(const std::string& match,
                const std::vector<std::pair<std::string, std::string>>& params,
                const std::vector<std::pair<std::string, json>>& when = {}) {
  DoorRoute r;
  auto m = ParseDoorMatch(match);
  EXPECT_TRUE(m.has_value()) << match;
  r.method = m->first;
  r.path = m->second;
  r.text = match;
  for (const auto& [name, text] : params) {
    auto s = ParseDoorSource(name, text);
    EXPECT_TRUE(s.has_value()) << text;
    r.params.push_back(*s);
  }
  for (const auto& [ptr, value] : when) {
    auto segs = ParseDoorPointer(ptr);
    EXPECT_TRUE(segs.has_value()) << ptr;
    r.when.push_back({*segs, value, ptr});
  }
  return r;
}

TEST(DoorRouteTest, MatchesByMethodAndPathIgnoringTheQueryAndPrefixesEndInAStar) {
  std::vector<DoorRoute> routes = {Route("POST /generate", {}), Route("post /v1/*", {})};
  EXPECT_EQ(MatchDoorRoute(routes, "POST", "/generate?x=1"), &routes[0]);
  EXPECT_EQ(MatchDoorRoute(routes, "GET", "/generate"), nullptr);
  EXPECT_EQ(MatchDoorRoute(routes, "POST", "/generate/more"), nullptr);
  EXPECT_EQ(MatchDoorRoute(routes, "POST", "/v1/chat/completions"), &routes[1]);
  EXPECT_EQ(MatchDoorRoute(routes, "POST", "/v2/chat"), nullptr);
}

TEST(DoorRouteTest, BadRoutesAndPointersAreErrorsThatSayHowToWriteThem) {
  EXPECT_FALSE(ParseDoorMatch("/generate").has_value());
  EXPECT_FALSE(ParseDoorMatch("POST generate").has_value());
  EXPECT_FALSE(ParseDoorMatch("P0ST /x").has_value());
  EXPECT_FALSE(ParseDoorMatch("POST /a*/b").has_value());
  EXPECT_FALSE(ParseDoorMatch("POST /a?b=1").has_value());
  auto bad = ParseDoorSource("width", "data/1");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().hint.find("RFC 6901"), std::string::npos);
  EXPECT_FALSE(ParseDoorSource("w", "/a~2b").has_value());
  EXPECT_FALSE(ParseDoorPointer("/prompt/*").has_value());
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "/a";
  EXPECT_FALSE(ParseDoorSource("w", deep).has_value());
}

TEST(DoorRouteTest, TakesValuesByPointerWithEscapesAndLeavesMissingOnesOut) {
  DoorRoute r = Route("POST /run/predict",
                      {{"resolution", "/data/1"}, {"frames", "/opts/a~1b"}, {"steps", "/none"}});
  auto x = ExtractDoorParams(r, R"({"data": ["a prompt", 768], "opts": {"a/b": 24}})");
  ASSERT_TRUE(x.has_value()) << x.error().message;
  EXPECT_TRUE(x->is_job);
  EXPECT_EQ(x->params, json({{"resolution", 768}, {"frames", 24}}));
}

TEST(DoorRouteTest, AStarTakesTheLargestNumberAcrossAWorkflowGraph) {
  // ComfyUI's /prompt: node ids are the workflow's own; the widest latent decides.
  DoorRoute r = Route("POST /prompt", {{"width", "/prompt/*/inputs/width"},
                                       {"batch", "/prompt/*/inputs/batch_size"}});
  auto x = ExtractDoorParams(r, R"({"prompt": {
      "3": {"class_type": "KSampler", "inputs": {"steps": 20}},
      "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 768, "batch_size": 2}},
      "9": {"class_type": "ImageScale", "inputs": {"width": 512}}}})");
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(x->params, json({{"width", 1024}, {"batch", 2}}));
}

TEST(DoorRouteTest, TokensAndCountsAddUpOverEveryMatch) {
  DoorRoute r = Route("POST /v1/chat/completions", {{"prompt_tokens", "tokens:/messages/*/content"},
                                                    {"messages", "count:/messages"},
                                                    {"max_tokens", "/max_tokens"}});
  auto x = ExtractDoorParams(r, R"({"messages": [{"role": "system", "content": "12345678"},
                          {"role": "user", "content": "123456789"}], "max_tokens": 256})");
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(x->params, json({{"prompt_tokens", 2 + 3}, {"messages", 2}, {"max_tokens", 256}}));
}

TEST(DoorRouteTest, AnUnmetConditionMakesTheRequestNoJob) {
  DoorRoute r =
      Route("POST /gradio_api/queue/join", {{"resolution", "/data/1"}}, {{"/fn_index", 2}});
  auto job = ExtractDoorParams(r, R"({"fn_index": 2, "data": ["x", 512]})");
  ASSERT_TRUE(job.has_value());
  EXPECT_TRUE(job->is_job);
  auto other = ExtractDoorParams(r, R"({"fn_index": 7, "data": ["x", 512]})");
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(other->is_job);
  auto missing = ExtractDoorParams(r, R"({"data": []})");
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->is_job);
}

TEST(DoorRouteTest, HostileBodiesAreErrorsNotCrashesOrPartialResults) {
  DoorRoute r = Route("POST /x", {{"n", "count:/*/*/*"}});
  EXPECT_FALSE(ExtractDoorParams(r, "not json").has_value());
  EXPECT_FALSE(ExtractDoorParams(r, "42").has_value());
  EXPECT_FALSE(
      ExtractDoorParams(r, std::string(10'000, '[') + std::string(10'000, ']')).has_value());
  // 400 × 400 values under a doubled star: past the walk's bound.
  std::string wide = "[";
  for (int i = 0; i < 400; ++i) {
    wide += i ? ",[" : "[";
    for (int j = 0; j < 400; ++j) wide += j ? ",[1]" : "[1]";
    wide += "]";
  }
  wide += "]";
  auto x = ExtractDoorParams(r, wide);
  ASSERT_FALSE(x.has_value());
  EXPECT_NE(x.error().message.find("more than"), std::string::npos);
}

}  // namespace
}  // namespace vg
