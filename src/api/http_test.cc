#include "api/http.h"

#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

namespace vg {
namespace {

HttpRequest Get(const std::string& target, std::string method = "GET") {
  HttpRequest request;
  request.method = std::move(method);
  request.target = target;
  EXPECT_TRUE(SplitTarget(target, request.path, request.query));
  return request;
}

HttpResponse AsResponse(const HandlerResult& result) {
  const HttpResponse* response = std::get_if<HttpResponse>(&result);
  EXPECT_NE(response, nullptr) << "expected a plain response, got a stream";
  return response ? *response : HttpResponse{.status = -1};
}

nlohmann::json Body(const HttpResponse& response) { return nlohmann::json::parse(response.body); }

TEST(ApiRouter, PathParamsArriveDecoded) {
  Router router;
  router.Add("POST", "/v1/services/{name}/start", [](const HttpRequest&, const PathParams& p) {
    return HttpResponse::Json(200, {{"name", p.at("name")}});
  });
  HttpResponse response = AsResponse(router.Dispatch(Get("/v1/services/my%20svc/start", "POST")));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(Body(response)["name"], "my svc");
}

TEST(ApiRouter, EscapedSlashStaysInsideOneSegment) {
  Router router;
  router.Add("GET", "/v1/services/{name}", [](const HttpRequest&, const PathParams& p) {
    return HttpResponse::Json(200, {{"name", p.at("name")}});
  });
  EXPECT_EQ(Body(AsResponse(router.Dispatch(Get("/v1/services/a%2Fb"))))["name"], "a/b");
  EXPECT_EQ(AsResponse(router.Dispatch(Get("/v1/services/a/b"))).status, 404);
  EXPECT_EQ(AsResponse(router.Dispatch(Get("/v1/services/"))).status, 404);  // empty segment
}

TEST(ApiRouter, LiteralSegmentBeatsParameter) {
  Router router;
  router.Add("GET", "/v1/jobs/{id}", [](const HttpRequest&, const PathParams&) {
    return HttpResponse::Json(200, {{"route", "id"}});
  });
  router.Add("GET", "/v1/jobs/stats", [](const HttpRequest&, const PathParams&) {
    return HttpResponse::Json(200, {{"route", "stats"}});
  });
  EXPECT_EQ(Body(AsResponse(router.Dispatch(Get("/v1/jobs/stats"))))["route"], "stats");
  EXPECT_EQ(Body(AsResponse(router.Dispatch(Get("/v1/jobs/42"))))["route"], "id");
}

TEST(ApiRouter, UnknownPathIs404WithErrorBody) {
  Router router;
  router.Add("GET", "/v1/status",
             [](const HttpRequest&, const PathParams&) { return HttpResponse::Json(200, {}); });
  HttpResponse response = AsResponse(router.Dispatch(Get("/v1/nope")));
  EXPECT_EQ(response.status, 404);
  EXPECT_TRUE(Body(response)["error"].get<std::string>().find("/v1/nope") != std::string::npos);
}

TEST(ApiRouter, KnownPathWithOtherMethodIs405WithAllow) {
  Router router;
  auto ok = [](const HttpRequest&, const PathParams&) { return HttpResponse::Json(200, {}); };
  router.Add("POST", "/v1/services/{name}/stop", ok);
  router.Add("DELETE", "/v1/services/{name}/stop", ok);
  HttpResponse response = AsResponse(router.Dispatch(Get("/v1/services/x/stop")));
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(response.headers.at("Allow"), "DELETE, POST");
}

TEST(ApiRouter, HandlerExceptionIs500WithoutItsText) {
  Router router;
  std::string seen_where, seen_what;
  router.OnHandlerException([&](std::string_view where, std::string_view what) {
    seen_where = where;
    seen_what = what;
  });
  router.Add("GET", "/v1/boom", [](const HttpRequest&, const PathParams&) -> HandlerResult {
    throw std::runtime_error("secret /etc/shadow detail");
  });
  HttpResponse response = AsResponse(router.Dispatch(Get("/v1/boom")));
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(response.body.find("secret"), std::string::npos) << response.body;
  EXPECT_TRUE(Body(response).contains("error"));
  EXPECT_EQ(seen_where, "/v1/boom");
  EXPECT_EQ(seen_what, "secret /etc/shadow detail");
}

TEST(ApiRouter, MalformedPercentEscapeIs400) {
  Router router;
  router.Add("GET", "/v1/services/{name}",
             [](const HttpRequest&, const PathParams&) { return HttpResponse::Json(200, {}); });
  EXPECT_EQ(AsResponse(router.Dispatch(Get("/v1/services/%zz"))).status, 400);
}

TEST(ApiHttp, SplitTargetDecodesQuery) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(SplitTarget("/v1/logs/a%20b?lines=10&grep=out+of%20memory&flag", path, query));
  EXPECT_EQ(path, "/v1/logs/a%20b");
  EXPECT_EQ(query.at("lines"), "10");
  EXPECT_EQ(query.at("grep"), "out of memory");
  EXPECT_EQ(query.at("flag"), "");
  EXPECT_FALSE(SplitTarget("/x?a=%4", path, query));
}

TEST(ApiHttp, PercentDecodeRejectsTruncatedEscapes) {
  EXPECT_EQ(PercentDecode("a%41", false).value(), "aA");
  EXPECT_EQ(PercentDecode("a+b", false).value(), "a+b");
  EXPECT_EQ(PercentDecode("a+b", true).value(), "a b");
  EXPECT_FALSE(PercentDecode("%", false));
  EXPECT_FALSE(PercentDecode("%4", false));
  EXPECT_FALSE(PercentDecode("%g1", false));
}

HttpRequest WithBody(std::string content_type, std::string body) {
  HttpRequest request = Get("/v1/jobs", "POST");
  if (!content_type.empty()) request.headers["content-type"] = std::move(content_type);
  request.body = std::move(body);
  return request;
}

TEST(ApiJsonBody, ParsesJsonWithCharset) {
  auto parsed = ParseJsonBody(WithBody("Application/JSON; charset=utf-8", R"({"frames": 24})"));
  ASSERT_TRUE(parsed) << parsed.error().body;
  EXPECT_EQ((*parsed)["frames"], 24);
}

TEST(ApiJsonBody, EmptyBodyIsNull) {
  auto parsed = ParseJsonBody(WithBody("", ""));
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->is_null());
}

TEST(ApiJsonBody, WrongOrMissingContentTypeIs415) {
  auto text = ParseJsonBody(WithBody("text/plain", R"({"a":1})"));
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().status, 415);
  auto missing = ParseJsonBody(WithBody("", R"({"a":1})"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().status, 415);
}

TEST(ApiJsonBody, MalformedJsonIs400WithHint) {
  auto parsed = ParseJsonBody(WithBody("application/json", R"({"a": )"));
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().status, 400);
  nlohmann::json body = Body(parsed.error());
  EXPECT_FALSE(body["hint"].get<std::string>().empty());
}

TEST(ApiJsonBody, DeepNestingDoesNotCrash) {
  std::string deep = std::string(400000, '[') + std::string(400000, ']');
  auto parsed = ParseJsonBody(WithBody("application/json", deep));
  EXPECT_TRUE(parsed || parsed.error().status == 400);
}

TEST(ApiErrors, ErrorResponseMapsCodes) {
  EXPECT_EQ(ErrorResponse({ErrorCode::kInvalidArgument, "m", ""}).status, 400);
  EXPECT_EQ(ErrorResponse({ErrorCode::kNotFound, "m", ""}).status, 404);
  EXPECT_EQ(ErrorResponse({ErrorCode::kPermissionDenied, "m", ""}).status, 403);
  EXPECT_EQ(ErrorResponse({ErrorCode::kRefused, "m", ""}).status, 409);
  EXPECT_EQ(ErrorResponse({ErrorCode::kTimeout, "m", ""}).status, 504);
  EXPECT_EQ(ErrorResponse({ErrorCode::kIo, "m", ""}).status, 500);
  HttpResponse response = ErrorResponse({ErrorCode::kNotFound, "no service x", "see status"});
  EXPECT_EQ(Body(response), (nlohmann::json{{"error", "no service x"}, {"hint", "see status"}}));
  EXPECT_FALSE(Body(HttpResponse::Error(400, "bad")).contains("hint"));
}

TEST(ApiErrors, ErrorFromResponseReadsTheBody) {
  vg::Error error = ErrorFromResponse(404, {{"error", "no service x"}, {"hint", "h"}});
  EXPECT_EQ(error.code, ErrorCode::kNotFound);
  EXPECT_EQ(error.message, "no service x");
  EXPECT_EQ(error.hint, "h");
  EXPECT_EQ(ErrorFromResponse(409, nullptr).code, ErrorCode::kRefused);
  EXPECT_EQ(ErrorFromResponse(422, nullptr).code,
            ErrorCode::kInvalidArgument);  // reload: bad config
  EXPECT_EQ(ErrorFromResponse(502, "junk").message, "HTTP 502");
}

TEST(ApiErrors, JsonResponseSurvivesInvalidUtf8) {
  HttpResponse response = HttpResponse::Json(200, {{"line", std::string("bad \xff byte")}});
  EXPECT_EQ(response.status, 200);
  EXPECT_FALSE(response.body.empty());
}

}  // namespace
}  // namespace vg
