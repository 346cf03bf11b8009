// The web dashboard (docs/dashboard.md): plain files from web/ and uPlot from web/node_modules,
// embedded into the binary at build time (cmake/embed_web.cmake writes web_assets.cc), served by
// the control API's router on both listeners.
//
// Contract: GET `/` is index.html, GET `/assets/NAME` one embedded file (404 otherwise); each
// answer carries its Content-Type, an ETag (`If-None-Match` with it → 304), `Cache-Control:
// no-cache` (revalidated on every load, so a new daemon's files are never stale) and the security
// headers: a Content-Security-Policy allowing only this origin (no inline script or style, no
// framing), `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy:
// no-referrer`. The page holds no secret: the TCP listener serves these without the token
// (api/access.h).
#pragma once

#include <span>
#include <string_view>

#include "api/http.h"

namespace vg {

struct WebAsset {
  std::string_view name;          // "index.html", "app.js", "uPlot.iife.min.js", …
  std::string_view content_type;  // "text/html; charset=utf-8", …
  std::string_view etag;          // "\"<16 hex digits of the file's SHA-256>\""
  std::string_view body;
};

// Every embedded file (defined in the generated web_assets.cc).
std::span<const WebAsset> WebAssets();

void AddWebRoutes(Router& router);

}  // namespace vg
