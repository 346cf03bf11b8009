// The reverse proxy in front of a service ([service.proxy], docs/proxy.md): clients connect to
// `listen`, every request goes to the service on 127.0.0.1:<upstream_port>, on the daemon's one
// io_context.
//
// Contract:
//  - HTTP/1.1 with keep-alive on both sides. After a complete exchange the service's connection
//    stays with the client connection for its next request; when the client connection ends it
//    goes to a pool shared by all clients (at most options.max_idle_upstream, each closed once
//    the service closes it or after options.upstream_keepalive). Before a kept connection is
//    used it is checked (a non-blocking peek: closed or holding unasked bytes → a new one).
//  - Bodies stream both ways in pieces of at most kProxyChunkBytes: an upload or an endless event
//    stream is never held whole. Each piece read from one side is written to the other before the
//    next read, so a chunked or SSE response reaches the client as the service sends it. A
//    response body of a known length from 256 KiB on that no policy watches moves by splice(2)
//    through a pipe (the same order and pacing, no copy through this process). Framing:
//    Content-Length and chunked bodies keep their framing; a response delimited by the service
//    closing its connection goes to an HTTP/1.1 client chunked. `Expect: 100-continue` is answered
//    by the proxy (the service never sees it).
//  - Headers: the hop-by-hop fields (RFC 9110 §7.6.1: Connection and the fields it names,
//    Proxy-Connection, Keep-Alive, TE, Upgrade) are dropped both ways; X-Forwarded-For gets the
//    client's address appended, X-Forwarded-Proto is set to "http" when absent, and `Via: 1.1
//    vramguard` is appended both ways. Host is passed unchanged.
//  - Upgrades (`Connection: upgrade` with `Upgrade:`, e.g. WebSocket): the request goes to the
//    service with those two fields; when it answers 101 the proxy copies bytes both ways until
//    either side closes (options.tunnel_idle_timeout without a byte either way closes both).
//  - Limits (docs/proxy.md "Limits"), answered with a one-line JSON error (`{"error", "hint"}`,
//    api/http.h) and the connection closed (the 502 and 504 about the service keep it open
//    when the request had no body): request headers kMaxHeaderBytes in all or more than
//    kMaxHeaderFields fields (431), malformed HTTP (400), more than options.max_connections
//    client connections (503 on the new one); the service refuses the connection or does not
//    accept it within options.connect_timeout (502, naming the service and what to do); the
//    service closes without a (complete) response head or sends a malformed one (502); no byte
//    of its answer for options.upstream_timeout (504 before the response head, else the
//    connection is closed). A client that sends nothing for options.idle_timeout (between
//    requests, inside a request head or body) or does not take what is written to it in that
//    time is disconnected. Response heads from the service are bounded like request heads.
//  - Requests are handled one at a time per client connection (pipelined requests wait in the
//    socket); the request body is sent before the response is read. A response that ends before
//    its request body was read whole closes the client connection.
//  - The seam (ProxyPolicy): every request head is shown to the policy before anything is sent
//    upstream: forward it now, answer it with a response of the policy's own (the service is not
//    contacted), or hold it and decide later through the ProxyRelease it was given. While held
//    the connection reads nothing and no idle timeout applies (the policy bounds its own wait).
//    OnRequestStart/OnRequestEnd bracket every request whose head was read (exactly one end per
//    start, also when the client left or the proxy stopped), for idle tracking.
//  - A policy may ask to see a request's body before deciding (InspectBody): the proxy then
//    reads it whole, bounded by the policy's limit (413 beyond it), answering `Expect:
//    100-continue` first, and sends it to the service with a Content-Length (chunked framing
//    from the client is dropped). Only such requests are buffered; every other body streams.
//  - A policy may watch a forwarded request's response body (WatchResponse): it is given each
//    payload piece after the piece was written to the client, and an end call before
//    OnRequestEnd; the stream is never slowed or buffered for it.
//  - A policy may look into an upgrade's tunnel (TapTunnel, asked before the request goes to the
//    service; the request then goes without Sec-WebSocket-Extensions, so no compression hides
//    the frames): once the service answered 101, every byte the client sends goes through the
//    tap, which says what goes to the service now (it may keep bytes back and send them later),
//    and every byte the service sends goes through it on its way to the client (it may add
//    bytes of its own). Writes to each side stay in order, one at a time; a side that does not
//    take them slows the reading of the other side, as in an untapped tunnel.
//  - Stop() closes the listener, every client and upstream connection; held requests end. The
//    destructor calls it. Call every method on the io_context's thread, or while it is not
//    running; policies are called on that thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"
#include "util/error.h"

namespace boost::asio {
class io_context;
}

namespace vg {

namespace proxy_internal {
struct ProxyState;
}

// The size of the pieces bodies are moved in (one buffer per direction and connection).
inline constexpr std::size_t kProxyChunkBytes = 64 * 1024;

struct ProxyOptions {
  std::string service;  // named in error answers
  int upstream_port = 0;
  std::string upstream_host = "127.0.0.1";
  // Milliseconds so tests can use short ones; assigning std::chrono::seconds works too.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(5);
  // Waiting for the service's answer (a long generation may answer late) or its next byte.
  std::chrono::milliseconds upstream_timeout = std::chrono::minutes(10);
  std::chrono::milliseconds tunnel_idle_timeout = std::chrono::hours(1);
  std::chrono::milliseconds upstream_keepalive = std::chrono::seconds(30);
  std::size_t max_connections = 1024;
  std::size_t max_idle_upstream = 32;
};

// A request head as the policy sees it.
struct ProxyRequestHead {
  std::uint64_t id = 0;  // unique per proxy, in arrival order
  std::string method;
  std::string target;                                        // as sent
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, in order
  std::string client;                                        // the client's IP address
  bool upgrade = false;                                      // asks for a protocol switch
  bool has_body = false;                                     // a body follows the head
  // The whole body, read before Decide when the policy asked for it (InspectBody); it goes to
  // the service as read, with a Content-Length.
  std::string body;
  bool body_read = false;

  // The first header of that name (case-insensitive), or "".
  std::string_view Header(std::string_view name) const;
};

// How a request ended (OnRequestEnd).
struct ProxyRequestEnd {
  int status = 0;                // the status sent to the client; 0: none (the client left first)
  bool forwarded = false;        // the service was contacted
  bool upgraded = false;         // became a tunnel (ends when the tunnel closes)
  std::uint64_t bytes_up = 0;    // request body bytes sent to the service (tunnel: all)
  std::uint64_t bytes_down = 0;  // response body bytes sent to the client (tunnel: all)
  std::string error;             // why it ended early, or ""
};

// The policy's answer for one request.
struct ProxyVerdict {
  enum class Kind { kForward, kAnswer, kHold };
  Kind kind = Kind::kForward;
  HttpResponse answer;  // kAnswer

  static ProxyVerdict Forward() { return {}; }
  static ProxyVerdict Answer(HttpResponse response) {
    return {.kind = Kind::kAnswer, .answer = std::move(response)};
  }
  static ProxyVerdict Hold() { return {.kind = Kind::kHold, .answer = {}}; }
};

// Sees a response body as it goes to the client (ProxyPolicy::WatchResponse): each piece of the
// payload (chunked framing removed) as it was written, then once with `end` set — also when the
// body broke off or the proxy stopped. It must not block and must not call into the proxy.
using ProxyBodySink = std::function<void(std::string_view piece, bool end)>;

// Continues a held request: nullopt forwards it, a response answers it without contacting the
// service. The first call counts; later calls, and calls after the request ended, do nothing.
// Call it on the io_context's thread (it never resumes the request inside the call).
using ProxyRelease = std::function<void(std::optional<HttpResponse>)>;

// What a tunnel's tap may do later (ProxyTunnelTap::Start): send bytes to either side (after what
// is already on its way there), and close the tunnel once what was sent reached the client. Call
// on the io_context's thread; after the tunnel ended, calls do nothing.
struct ProxyTunnelControl {
  std::function<void(std::string to_service, std::string to_client)> send;
  std::function<void()> close;
};

// A look into one tunnel (ProxyPolicy::TapTunnel). Called on the io_context's thread; it must
// not block. Exactly one Closed() per tap the proxy asked for, also when the service did not
// switch protocols (then no other call came).
class ProxyTunnelTap {
 public:
  virtual ~ProxyTunnelTap() = default;
  virtual void Start(ProxyTunnelControl control) = 0;
  // The client's next bytes: what goes to the service now.
  virtual std::string FromClient(std::string_view bytes) = 0;
  // The service's next bytes: what goes to the client now.
  virtual std::string FromService(std::string_view bytes) = 0;
  virtual void Closed() = 0;
};

class ProxyPolicy {
 public:
  virtual ~ProxyPolicy() = default;
  // Called once per request head, after OnRequestStart. `release` matters only for kHold.
  virtual ProxyVerdict Decide(const ProxyRequestHead& head, ProxyRelease release) = 0;
  virtual void OnRequestStart(const ProxyRequestHead& /*head*/) {}
  // Called after OnRequestStart for a request with a body (not an upgrade): above 0, the proxy
  // reads the whole body (at most that many bytes: more is answered 413 and the connection
  // closed, the service not contacted) before Decide, which finds it in head.body.
  virtual std::size_t InspectBody(const ProxyRequestHead& /*head*/) { return 0; }
  // Fields added to the head of the service's answer to this request (e.g. the job it was).
  virtual std::vector<std::pair<std::string, std::string>> ResponseHeaders(
      const ProxyRequestHead& /*head*/) {
    return {};
  }
  // Called when the service's answer head to a forwarded request arrives (not for an upgrade
  // that became a tunnel): a sink to see its body (nullptr: none, the usual case). The sink's
  // end call comes before OnRequestEnd.
  virtual ProxyBodySink WatchResponse(const ProxyRequestHead& /*head*/, int /*status*/) {
    return nullptr;
  }
  virtual void OnRequestEnd(const ProxyRequestHead& /*head*/, const ProxyRequestEnd& /*end*/) {}
  // Called for a forwarded upgrade before it goes to the service: a tap to look into the tunnel
  // it may become (nullptr: bytes are copied as they are, the usual case).
  virtual std::shared_ptr<ProxyTunnelTap> TapTunnel(const ProxyRequestHead& /*head*/) {
    return nullptr;
  }
};

// Forwards everything (the only policy for now; routes that are jobs come later).
class PassThroughPolicy final : public ProxyPolicy {
 public:
  ProxyVerdict Decide(const ProxyRequestHead&, ProxyRelease) override {
    return ProxyVerdict::Forward();
  }
};

class ReverseProxy {
 public:
  // `policy` null: PassThroughPolicy.
  ReverseProxy(boost::asio::io_context& io, ProxyOptions options,
               std::shared_ptr<ProxyPolicy> policy = nullptr);
  ~ReverseProxy();
  ReverseProxy(const ReverseProxy&) = delete;
  ReverseProxy& operator=(const ReverseProxy&) = delete;

  // "HOST:PORT" ("0.0.0.0:7860", "[::1]:7860", port 0 = ephemeral, see port()). Any address is
  // allowed: the proxy carries the service's own authentication, not the daemon's token.
  Result<void> Listen(const std::string& host_port);
  void Stop();

  std::optional<int> port() const;          // the bound port, once listening
  std::size_t connection_count() const;     // client connections open
  std::size_t idle_upstream_count() const;  // kept-alive upstream connections now

 private:
  std::shared_ptr<proxy_internal::ProxyState> state_;
};

}  // namespace vg
