#include "daemon/web_routes.h"

#include <string>

#include "util/json_limits.h"

namespace vg {
namespace {

constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

const WebAsset* FindAsset(std::string_view name) {
  for (const WebAsset& a : WebAssets()) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

// Whether an If-None-Match header lists `etag` (or is `*`).
bool EtagListed(std::string_view if_none_match, std::string_view etag) {
  if (if_none_match.empty()) return false;
  if (if_none_match == "*") return true;
  std::size_t at = 0;
  while (at < if_none_match.size()) {
    std::size_t comma = if_none_match.find(',', at);
    std::string_view one = if_none_match.substr(at, comma - at);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (one.starts_with("W/")) one.remove_prefix(2);
    if (one == etag) return true;
    if (comma == std::string_view::npos) break;
    at = comma + 1;
  }
  return false;
}

HttpResponse Serve(const HttpRequest& request, const WebAsset& asset) {
  HttpResponse r;
  r.headers["ETag"] = std::string(asset.etag);
  r.headers["Cache-Control"] = "no-cache";
  r.headers["Content-Security-Policy"] = std::string(kContentSecurityPolicy);
  r.headers["X-Content-Type-Options"] = "nosniff";
  r.headers["X-Frame-Options"] = "DENY";
  r.headers["Referrer-Policy"] = "no-referrer";
  if (EtagListed(request.Header("if-none-match"), asset.etag)) {
    r.status = 304;  // sent without a body (server.cc)
    return r;
  }
  r.status = 200;
  r.content_type = std::string(asset.content_type);
  r.body = std::string(asset.body);
  return r;
}

}  // namespace

void AddWebRoutes(Router& router) {
  router.Add("GET", "/", [](const HttpRequest& r, const PathParams&) -> HandlerResult {
    const WebAsset* page = FindAsset("index.html");
    if (page == nullptr) return HttpResponse::Error(500, "internal error");
    return Serve(r, *page);
  });
  router.Add("GET", "/assets/{name}",
             [](const HttpRequest& r, const PathParams& p) -> HandlerResult {
               const std::string& name = p.at("name");
               const WebAsset* asset = name == "index.html" ? nullptr : FindAsset(name);
               if (asset == nullptr) {
                 return HttpResponse::Error(404, "no dashboard file " + AbbreviateText(name),
                                            "open the dashboard at /");
               }
               return Serve(r, *asset);
             });
}

}  // namespace vg
