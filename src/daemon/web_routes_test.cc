// The dashboard's files as the router serves them (web_routes.h): the embedded set, its headers,
// revalidation, and that the page and the embedded files name each other.
#include "daemon/web_routes.h"

#include <regex>
#include <set>

#include <gtest/gtest.h>

namespace vg {
namespace {

HttpResponse GetWeb(const Router& router, const std::string& path,
                    const std::string& if_none_match = "") {
  HttpRequest r;
  r.method = "GET";
  r.target = path;
  r.path = path;
  if (!if_none_match.empty()) r.headers["if-none-match"] = if_none_match;
  HandlerResult result = router.Dispatch(r);
  return std::get<HttpResponse>(result);
}

class WebRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override { AddWebRoutes(router_); }
  Router router_;
};

TEST_F(WebRoutesTest, ThePageComesWithItsSecurityHeaders) {
  HttpResponse page = GetWeb(router_, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(page.body.rfind("<!doctype html>", 0), 0u);
  const std::string csp = page.headers["Content-Security-Policy"];
  EXPECT_EQ(csp.rfind("default-src 'self';", 0), 0u) << csp;
  EXPECT_NE(csp.find("script-src 'self';"), std::string::npos);  // no inline script
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(page.headers["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(page.headers["X-Frame-Options"], "DENY");
  EXPECT_EQ(page.headers["Cache-Control"], "no-cache");
  EXPECT_EQ(page.headers["ETag"].size(), 18u);  // 16 hex digits, quoted
}

TEST_F(WebRoutesTest, AssetsHaveTheirContentTypes) {
  HttpResponse uplot = GetWeb(router_, "/assets/uPlot.iife.min.js");
  EXPECT_EQ(uplot.status, 200);
  EXPECT_EQ(uplot.content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(uplot.body.find("uPlot"), std::string::npos);
  EXPECT_EQ(GetWeb(router_, "/assets/uPlot.min.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(GetWeb(router_, "/assets/app.js").content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(GetWeb(router_, "/assets/style.css").headers["X-Content-Type-Options"], "nosniff");
}

TEST_F(WebRoutesTest, UnknownFilesAre404) {
  for (const char* path : {"/assets/nope.js", "/assets/index.html", "/assets/..%2Fsecret"}) {
    HttpResponse r = GetWeb(router_, path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_NE(r.body.find("no dashboard file"), std::string::npos) << r.body;
  }
}

TEST_F(WebRoutesTest, AKnownETagIsAnsweredNotModified) {
  const std::string etag = GetWeb(router_, "/assets/app.js").headers["ETag"];
  HttpResponse same = GetWeb(router_, "/assets/app.js", etag);
  EXPECT_EQ(same.status, 304);
  EXPECT_EQ(same.headers["ETag"], etag);
  EXPECT_EQ(GetWeb(router_, "/assets/app.js", "\"0000\", W/" + etag).status, 304);
  EXPECT_EQ(GetWeb(router_, "/assets/app.js", "\"0000000000000000\"").status, 200);
  EXPECT_NE(GetWeb(router_, "/").headers["ETag"], etag);  // one per file
}

// A file the page loads must be embedded, and every embedded file must be used by the page.
TEST_F(WebRoutesTest, ThePageAndTheEmbeddedFilesAgree) {
  const std::string page = GetWeb(router_, "/").body;
  std::set<std::string> referenced;
  const std::regex asset("\"/assets/([^\"?#]+)\"");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), asset);
       it != std::sregex_iterator(); ++it) {
    referenced.insert((*it)[1]);
  }
  std::set<std::string> embedded;
  for (const WebAsset& a : WebAssets()) {
    if (a.name != "index.html") embedded.insert(std::string(a.name));
  }
  EXPECT_EQ(referenced, embedded);
}

}  // namespace
}  // namespace vg
