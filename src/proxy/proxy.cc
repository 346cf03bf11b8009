// ReverseProxy: Beast parses both directions (request_parser / response_parser over buffer_body,
// so bodies move in pieces) and serialises what is forwarded; each client connection is one
// coroutine on the io_context. Contract in proxy.h; limits in docs/proxy.md.
#include "proxy/proxy.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "api/access.h"
#include "api/server.h"
#include "util/strings.h"
#include "util/unique_fd.h"

namespace vg {
namespace proxy_internal {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
using Awaitable = net::awaitable<void>;
using ProxyClock = std::chrono::steady_clock;

constexpr auto kProxyLinger = std::chrono::seconds(1);  // draining an unread body before close
constexpr std::size_t kProxyLingerBytes = std::size_t{1} << 20;
constexpr std::string_view kViaToken = "1.1 vramguard";
// Beast reads as much as a buffer's free capacity (at least 512 bytes): heads are read into this
// much, bodies into kProxyChunkBytes; an idle connection's buffers go back to this size.
constexpr std::size_t kProxyHeadReserve = 8 * 1024;
// Response bodies of a known length from this size on move by splice(2) (kProxySplicePipe bytes
// of pipe between the sockets); smaller ones are copied in kProxyChunkBytes pieces, as are
// chunked and watched ones.
constexpr std::uint64_t kProxySpliceFrom = 256 * 1024;
constexpr std::size_t kProxySplicePipe = 1024 * 1024;

// An empty buffer that grew for a body back to kProxyHeadReserve.
void ProxyTrimBuffer(boost::beast::flat_buffer& buffer) {
  if (buffer.size() != 0 || buffer.capacity() <= kProxyHeadReserve) return;
  buffer.shrink_to_fit();
  buffer.reserve(kProxyHeadReserve);
}

class ProxySession;

// A kept-alive upstream connection, or the one a request is using.
struct UpstreamConn {
  explicit UpstreamConn(const net::any_io_executor& ex)
      : socket(ex), buffer(kMaxHeaderBytes + kProxyChunkBytes) {
    buffer.reserve(kProxyHeadReserve);
  }
  tcp::socket socket;
  boost::beast::flat_buffer buffer;
};

// One idle upstream connection in the pool: it leaves the pool when taken, when the service
// closes it (or sends anything unasked), or after options.upstream_keepalive.
struct IdleUpstream {
  explicit IdleUpstream(std::unique_ptr<UpstreamConn> c)
      : conn(std::move(c)), expiry(conn->socket.get_executor()) {}
  std::unique_ptr<UpstreamConn> conn;
  net::steady_timer expiry;
  bool gone = false;  // taken or dropped: the pending waits find nothing to do
};

struct ProxyState {
  explicit ProxyState(net::io_context& context) : io(context) {}
  net::io_context& io;
  ProxyOptions options;
  std::shared_ptr<ProxyPolicy> policy;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<net::steady_timer> retry;  // after a failed accept (EMFILE)
  std::map<ProxySession*, std::weak_ptr<ProxySession>> sessions;
  std::vector<std::shared_ptr<IdleUpstream>> idle;  // newest last
  tcp::endpoint upstream;
  std::optional<int> port;
  std::uint64_t next_id = 1;
  bool stopped = false;

  void DropIdle(const std::shared_ptr<IdleUpstream>& entry) {
    if (entry->gone) return;
    entry->gone = true;
    error_code ignored;
    entry->conn->socket.close(ignored);
    entry->expiry.cancel();
    std::erase(idle, entry);
  }

  // Not closed by the service meanwhile (EOF), and holding no bytes nobody asked for.
  static bool StillOpen(UpstreamConn& conn) {
    char byte;
    ssize_t n = ::recv(conn.socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  // An idle connection the service has not closed, or null.
  std::unique_ptr<UpstreamConn> TakeIdle() {
    while (!idle.empty()) {
      std::shared_ptr<IdleUpstream> entry = idle.back();
      idle.pop_back();
      entry->gone = true;
      entry->expiry.cancel();
      error_code ignored;
      entry->conn->socket.cancel(ignored);  // its readability wait
      if (StillOpen(*entry->conn)) return std::move(entry->conn);
      entry->conn->socket.close(ignored);
    }
    return nullptr;
  }

  void KeepIdle(std::unique_ptr<UpstreamConn> conn) {
    if (stopped || options.max_idle_upstream == 0) return;
    if (idle.size() >= options.max_idle_upstream) DropIdle(idle.front());
    ProxyTrimBuffer(conn->buffer);
    auto entry = std::make_shared<IdleUpstream>(std::move(conn));
    idle.push_back(entry);
    entry->conn->socket.async_wait(tcp::socket::wait_read, [this, entry](error_code) {
      if (!entry->gone) DropIdle(entry);  // EOF, a reset, or unasked bytes
    });
    entry->expiry.expires_after(options.upstream_keepalive);
    entry->expiry.async_wait([this, entry](error_code ec) {
      if (!ec && !entry->gone) DropIdle(entry);
    });
  }
};

namespace {

// A deadline for one side of a connection, re-armed per operation without a timer call each
// time: the timer wakes at the deadline it was set for and sleeps again when the deadline moved.
class ProxyDeadline {
 public:
  ProxyDeadline(const net::any_io_executor& ex, std::function<void()> on_expiry)
      : inner_(std::make_shared<Inner>(ex, std::move(on_expiry))) {}
  ~ProxyDeadline() { Cancel(); }

  void Arm(std::chrono::milliseconds after) {
    Inner& in = *inner_;
    in.deadline = ProxyClock::now() + after;
    in.armed = true;
    in.fired = false;
    if (!in.waiting) {
      Wait(inner_);
    } else if (in.deadline < in.timer.expiry()) {
      in.timer.expires_at(in.deadline);  // the pending wait ends early and waits again
    }
  }
  void Disarm() { inner_->armed = false; }
  void Cancel() {
    inner_->armed = false;
    inner_->on_expiry = nullptr;
    inner_->timer.cancel();
  }
  bool fired() const { return inner_->fired; }

 private:
  struct Inner {
    Inner(const net::any_io_executor& ex, std::function<void()> f)
        : timer(ex), on_expiry(std::move(f)) {}
    net::steady_timer timer;
    std::function<void()> on_expiry;
    ProxyClock::time_point deadline;
    bool armed = false;
    bool waiting = false;
    bool fired = false;
  };

  static void Wait(const std::shared_ptr<Inner>& in) {
    in->waiting = true;
    in->timer.expires_at(in->deadline);
    in->timer.async_wait([in](error_code) {
      in->waiting = false;
      if (!in->armed || !in->on_expiry) return;
      if (ProxyClock::now() < in->deadline) return Wait(in);
      in->armed = false;
      in->fired = true;
      std::function<void()> expire = in->on_expiry;  // the call may Cancel() (clear it)
      expire();
    });
  }

  std::shared_ptr<Inner> inner_;
};

bool ProxyIEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view ProxySv(boost::beast::string_view s) { return {s.data(), s.size()}; }

// The field names listed in every Connection header, lower-case.
std::vector<std::string> ConnectionTokens(const http::fields& fields) {
  std::vector<std::string> tokens;
  for (const auto& field : fields) {
    if (field.name() != http::field::connection) continue;
    std::string_view value = ProxySv(field.value());
    while (!value.empty()) {
      std::size_t comma = value.find(',');
      std::string_view token = TrimSpace(value.substr(0, comma));
      if (!token.empty()) tokens.push_back(AsciiLower(token));
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  return tokens;
}

// Drops the hop-by-hop fields (RFC 9110 §7.6.1). The fields that frame the body (Content-Length,
// Transfer-Encoding) stay: the serializer frames what is forwarded by them, so a Connection
// header naming them cannot unframe a message.
void DropHopByHop(http::fields& fields) {
  for (const std::string& token : ConnectionTokens(fields)) {
    if (token == "content-length" || token == "transfer-encoding" || token == "host") continue;
    fields.erase(token);
  }
  fields.erase(http::field::connection);
  fields.erase("Proxy-Connection");
  fields.erase(http::field::keep_alive);
  fields.erase(http::field::te);
  fields.erase(http::field::upgrade);
}

void AppendVia(http::fields& fields) {
  std::string via(ProxySv(fields[http::field::via]));
  fields.set(http::field::via,
             via.empty() ? std::string(kViaToken) : via + ", " + std::string(kViaToken));
}

bool IdempotentMethod(http::verb v) {
  return v == http::verb::get || v == http::verb::head || v == http::verb::options ||
         v == http::verb::put || v == http::verb::delete_ || v == http::verb::trace;
}

std::string ProxyDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 != 0) return std::to_string(d.count()) + " ms";
  return std::to_string(d.count() / 1000) + " s";
}

auto Redirect(error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

bool IsParseError(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message &&
         ec != http::error::need_buffer;
}

}  // namespace

// One client connection: requests one at a time (proxy.h).
class ProxySession : public std::enable_shared_from_this<ProxySession> {
 public:
  ProxySession(std::shared_ptr<ProxyState> state, tcp::socket client)
      : state_(std::move(state)),
        client_(std::move(client)),
        client_buf_(kMaxHeaderBytes + kProxyChunkBytes),
        wake_(client_.get_executor()),
        client_deadline_(client_.get_executor(), [this] { Close(); }),
        upstream_deadline_(client_.get_executor(), [this] {
          error_code ignored;
          if (up_) up_->socket.close(ignored);
        }) {}

  void Start() {
    state_->sessions[this] = weak_from_this();
    client_buf_.reserve(kProxyHeadReserve);
    error_code ec;
    client_.set_option(tcp::no_delay(true), ec);
    auto endpoint = client_.remote_endpoint(ec);
    if (!ec) client_ip_ = endpoint.address().to_string();
    net::co_spawn(client_.get_executor(), Run(shared_from_this()), net::detached);
  }

  // Closes both sides; the coroutine's pending operations end with errors and it returns.
  void Close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    client_.shutdown(tcp::socket::shutdown_both, ignored);
    client_.close(ignored);
    if (up_ && up_between_requests_) {
      state_->KeepIdle(std::move(up_));  // for other clients (dropped when stopped)
    } else if (up_) {
      up_->socket.close(ignored);
    }
    client_deadline_.Cancel();
    upstream_deadline_.Cancel();
    wake_.cancel();
    End(closing_reason_.empty() ? "the connection closed" : closing_reason_);
    state_->sessions.erase(this);
  }

  void Stopping() {
    closing_reason_ = "the proxy stopped";
    Close();
  }

 private:
  // A request's state between its head and its end.
  struct Held {
    bool released = false;
    std::optional<std::optional<HttpResponse>> result;
  };

  Awaitable Run([[maybe_unused]] std::shared_ptr<ProxySession> self) {
    try {
      while (!closed_) {
        const bool more = co_await ServeOne();
        if (!more) break;
      }
    } catch (const std::exception& e) {
      closing_reason_ = std::string("internal error: ") + e.what();
    }
    Close();
  }

  // Reads one request and answers it; true: the connection carries another.
  net::awaitable<bool> ServeOne() {
    ProxyTrimBuffer(client_buf_);
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    // Bodies stream, nothing is held whole: no limit. (Not boost::none: Boost 1.74 compares a
    // Content-Length with the optional, and every length is "above" an empty one.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    client_deadline_.Arm(state_->options.idle_timeout);
    error_code ec;
    co_await http::async_read_header(client_, client_buf_, *parser_, Redirect(ec));
    client_deadline_.Disarm();
    if (closed_) co_return false;
    // (Answers are built before a co_await, never inside one: GCC 12 has destroyed temporaries
    // of a co_await's operand twice.)
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      HttpResponse error = HttpResponse::Error(
          431, "request headers larger than " + std::to_string(kMaxHeaderBytes) + " bytes");
      co_return co_await AnswerUnread(error);
    }
    if (ec && IsParseError(ec)) {
      HttpResponse error = HttpResponse::Error(400, "malformed HTTP request", "speak HTTP/1.1");
      co_return co_await AnswerUnread(error);
    }
    if (ec) co_return false;  // the client left, or went idle
    auto& request = parser_->get();
    if (std::distance(request.begin(), request.end()) >
        static_cast<std::ptrdiff_t>(kMaxHeaderFields)) {
      HttpResponse error = HttpResponse::Error(
          431, "more than " + std::to_string(kMaxHeaderFields) + " request header fields",
          "send fewer headers");
      co_return co_await AnswerUnread(error);
    }

    head_ = ProxyRequestHead{};
    head_.id = state_->next_id++;
    head_.method = std::string(ProxySv(request.method_string()));
    head_.target = std::string(ProxySv(request.target()));
    for (const auto& field : request) {
      head_.headers.emplace_back(std::string(ProxySv(field.name_string())),
                                 std::string(ProxySv(field.value())));
    }
    head_.client = client_ip_;
    head_.upgrade = parser_->upgrade();
    head_.has_body = !parser_->is_done();
    end_ = ProxyRequestEnd{};
    in_request_ = true;
    client_keep_alive_ = parser_->keep_alive();
    client_version_ = request.version();
    state_->policy->OnRequestStart(head_);
    if (head_.has_body && !head_.upgrade) {
      const std::size_t limit = state_->policy->InspectBody(head_);
      if (limit > 0) {
        std::optional<HttpResponse> refused = co_await ReadWholeBody(limit);
        if (closed_) co_return false;
        if (refused) {
          co_await WriteAnswer(*refused, false);
          co_return false;
        }
      }
    }

    std::optional<HttpResponse> answer;
    const bool decided = co_await Decide(&answer);
    if (!decided) co_return false;
    bool keep = false;
    if (answer) {
      keep = co_await AnswerLocal(*answer);
    } else {
      keep = co_await Forward();
    }
    End("");
    co_return keep && !closed_;
  }

  // Asks the policy; a held request waits for its release. False: the connection ended.
  net::awaitable<bool> Decide(std::optional<HttpResponse>* answer) {
    auto held = std::make_shared<Held>();
    held_ = held;
    std::weak_ptr<ProxySession> weak = weak_from_this();
    ProxyRelease release = [weak, held](std::optional<HttpResponse> response) {
      if (held->released) return;
      held->released = true;
      held->result = std::move(response);
      if (auto self = weak.lock()) self->wake_.cancel();
    };
    ProxyVerdict verdict;
    try {
      verdict = state_->policy->Decide(head_, release);
    } catch (const std::exception&) {
      verdict = ProxyVerdict::Answer(HttpResponse::Error(500, "internal error"));
    }
    if (verdict.kind == ProxyVerdict::Kind::kAnswer) {
      held->released = true;
      *answer = std::move(verdict.answer);
      co_return true;
    }
    if (verdict.kind == ProxyVerdict::Kind::kForward) {
      held->released = true;
      co_return true;
    }
    WatchWhileHeld(held);
    while (!held->result && !closed_) {
      wake_.expires_at(ProxyClock::time_point::max());
      error_code ec;
      co_await wake_.async_wait(Redirect(ec));
    }
    held->released = true;
    if (!closed_) {
      error_code ignored;
      client_.cancel(ignored);  // the watch (WatchWhileHeld): nothing else waits on it now
    }
    if (closed_ || !held->result) co_return false;
    *answer = std::move(*held->result);
    co_return true;
  }

  // Reads the request's body whole into head_.body (InspectBody). An answer for the client when
  // it is larger than `limit`; nullopt when read (or the connection ended: closed_).
  net::awaitable<std::optional<HttpResponse>> ReadWholeBody(std::size_t limit) {
    auto& request = parser_->get();
    const auto too_large = [&] {
      return HttpResponse::Error(413,
                                 "the request body is larger than " + std::to_string(limit) +
                                     " bytes, the most this route's requests may carry",
                                 "send a smaller request, or raise the service's jobs.max_payload");
    };
    if (auto length = parser_->content_length(); length && *length > limit) co_return too_large();
    error_code ec;
    if (AsciiLower(ProxySv(request[http::field::expect])) == "100-continue") {
      request.erase(http::field::expect);  // answered here: the service never sees it
      if (client_version_ >= 11) {
        client_deadline_.Arm(state_->options.idle_timeout);
        co_await net::async_write(client_, net::buffer("HTTP/1.1 100 Continue\r\n\r\n", 25),
                                  Redirect(ec));
        client_deadline_.Disarm();
        if (ec || closed_) {
          Close();
          co_return std::nullopt;
        }
      }
    }
    while (!parser_->is_done()) {
      const std::optional<std::size_t> n = co_await ReadBodyPiece(ec);
      if (!n) {
        closing_reason_ = "the client stopped sending its body (" + ec.message() + ")";
        Close();
        co_return std::nullopt;
      }
      if (head_.body.size() + *n > limit) co_return too_large();
      head_.body.append(chunk_.get(), *n);
    }
    head_.body_read = true;
    co_return std::nullopt;
  }

  // While a request is held nothing is read from its client, but a client that leaves must not
  // stay queued (its request would run for no one): the socket is watched, and its end (EOF or
  // an error; a peek sees it) closes the connection, which ends the request. Bytes the client
  // sends meanwhile (a pipelined request) stop the watch: they are read after the release.
  void WatchWhileHeld(const std::shared_ptr<Held>& held) {
    std::weak_ptr<ProxySession> weak = weak_from_this();
    client_.async_wait(tcp::socket::wait_read, [weak, held](const error_code& ec) {
      auto self = weak.lock();
      if (!self || self->closed_ || held->released) return;
      if (!ec) {
        char byte = 0;
        const ssize_t n = ::recv(self->client_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) {
          if (n < 0) self->WatchWhileHeld(held);  // woken without data: watch on
          return;
        }
      } else if (ec == net::error::operation_aborted) {
        return;
      }
      self->closing_reason_ = "the client left while its request was held";
      self->Close();
    });
  }

  // Reports the request's end to the policy, once.
  void End(const std::string& error) {
    if (!in_request_) return;
    in_request_ = false;
    if (held_) held_->released = true;
    held_.reset();
    if (end_.error.empty()) end_.error = error;
    if (tap_) {
      std::shared_ptr<ProxyTunnelTap> tap = std::move(tap_);
      tap_.reset();
      tap->Closed();
    }
    state_->policy->OnRequestEnd(head_, end_);
  }

  // An answer of the proxy's own. The connection stays open only when the request had no body
  // left to read and the client wants it.
  net::awaitable<bool> AnswerLocal(const HttpResponse& response) {
    const bool keep = client_keep_alive_ && parser_->is_done();
    co_return co_await WriteAnswer(response, keep);
  }

  // An error about a request head that was not read whole: always closes.
  net::awaitable<bool> AnswerUnread(const HttpResponse& response) {
    co_await WriteAnswer(response, false);
    co_return false;
  }

  net::awaitable<bool> WriteAnswer(const HttpResponse& response, bool keep) {
    http::response<http::string_body> res{
        http::int_to_status(static_cast<unsigned>(response.status)), 11};
    res.set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) res.set(name, value);
    res.set(http::field::via, kViaToken);
    res.body() = response.body;
    res.prepare_payload();
    if (!keep) res.set(http::field::connection, "close");
    if (keep && client_version_ < 11) res.set(http::field::connection, "keep-alive");
    end_.status = response.status;
    client_deadline_.Arm(state_->options.idle_timeout);
    error_code ec;
    co_await http::async_write(client_, res, Redirect(ec));
    client_deadline_.Disarm();
    if (ec || closed_) co_return false;
    if (!keep) {
      End("");
      co_await Linger();
    }
    co_return keep;
  }

  // Before closing after an answer, read what the client still sends for a moment, so it reads
  // the answer instead of a connection reset.
  Awaitable Linger() {
    error_code ec;
    client_.shutdown(tcp::socket::shutdown_send, ec);
    client_deadline_.Arm(
        std::min<std::chrono::milliseconds>(kProxyLinger, state_->options.idle_timeout));
    std::size_t drained = client_buf_.size();
    client_buf_.consume(client_buf_.size());
    std::vector<char> sink(16 * 1024);
    while (!closed_ && drained < kProxyLingerBytes) {
      std::size_t n = co_await client_.async_read_some(net::buffer(sink), Redirect(ec));
      if (ec) break;
      drained += n;
    }
    client_deadline_.Disarm();
  }

  HttpResponse UpstreamError(int status, const std::string& what) const {
    const std::string& name = state_->options.service;
    return HttpResponse::Error(status, "the service '" + name + "' " + what,
                               "it may be stopped or still starting: `vramguard status " + name +
                                   "` shows its state, `vramguard start " + name + "` starts it");
  }

  std::string UpstreamAddress() const {
    return state_->options.upstream_host + ":" + std::to_string(state_->options.upstream_port);
  }

  // A fresh connection to the service in up_; an answer for the client when there is none.
  net::awaitable<std::optional<HttpResponse>> Connect() {
    up_ = std::make_unique<UpstreamConn>(client_.get_executor());
    upstream_deadline_.Arm(state_->options.connect_timeout);
    error_code ec;
    co_await up_->socket.async_connect(state_->upstream, Redirect(ec));
    upstream_deadline_.Disarm();
    if (!ec) {
      up_->socket.set_option(tcp::no_delay(true), ec);
      co_return std::nullopt;
    }
    up_.reset();
    if (upstream_deadline_.fired()) {
      co_return UpstreamError(502, "did not accept a connection on " + UpstreamAddress() +
                                       " within " + ProxyDuration(state_->options.connect_timeout));
    }
    co_return UpstreamError(502,
                            "is not answering on " + UpstreamAddress() + " (" + ec.message() + ")");
  }

  void DropUpstream() {
    if (!up_) return;
    error_code ignored;
    up_->socket.close(ignored);
    up_.reset();
  }

  // The request head as it goes to the service.
  void PrepareRequest(http::request<http::buffer_body>& request) {
    std::string upgrade(ProxySv(request[http::field::upgrade]));
    expect_continue_ = AsciiLower(ProxySv(request[http::field::expect])) == "100-continue";
    if (expect_continue_) request.erase(http::field::expect);
    DropHopByHop(request);
    if (head_.upgrade) {
      request.set(http::field::connection, "upgrade");
      request.set(http::field::upgrade, upgrade);
      // A tapped tunnel's frames must stay readable: no compression is negotiated.
      if (tap_) request.erase(http::field::sec_websocket_extensions);
    }
    std::string forwarded(ProxySv(request["X-Forwarded-For"]));
    request.set("X-Forwarded-For", forwarded.empty() ? client_ip_ : forwarded + ", " + client_ip_);
    if (request.find("X-Forwarded-Proto") == request.end())
      request.set("X-Forwarded-Proto", "http");
    AppendVia(request);
    if (head_.body_read) {  // sent whole (SendBody), framed by its length
      request.chunked(false);
      request.content_length(head_.body.size());
    }
    request.version(11);
  }

  // Forwards the request and relays the answer; true: the client connection goes on.
  net::awaitable<bool> Forward() {
    auto& request = parser_->get();
    if (head_.upgrade) tap_ = state_->policy->TapTunnel(head_);
    PrepareRequest(request);
    const bool retryable = !head_.has_body && !head_.upgrade && IdempotentMethod(request.method());
    for (int attempt = 0;; ++attempt) {
      // This connection's own from its last request, else one from the pool (an upgrade gets
      // a fresh one, never kept: the kept one goes back to the pool).
      bool reused = false;
      if (up_ && up_between_requests_ && !head_.upgrade && ProxyState::StillOpen(*up_)) {
        reused = true;
      } else if (up_ && up_between_requests_ && head_.upgrade) {
        state_->KeepIdle(std::move(up_));
      } else {
        DropUpstream();
      }
      up_between_requests_ = false;
      if (!reused && !head_.upgrade) {
        up_ = state_->TakeIdle();
        reused = up_ != nullptr;
      }
      if (!up_) {
        const std::optional<HttpResponse> error = co_await Connect();
        if (error) co_return co_await AnswerLocal(*error);
      }
      end_.forwarded = true;
      const bool may_retry = reused && retryable && attempt == 0;
      http::request_serializer<http::buffer_body> serializer(request);
      error_code ec;
      // The head goes alone when no body byte is here yet; else with the first piece (one write).
      if (!head_.has_body || client_buf_.size() == 0 || expect_continue_) {
        upstream_deadline_.Arm(state_->options.upstream_timeout);
        co_await http::async_write_header(up_->socket, serializer, Redirect(ec));
        upstream_deadline_.Disarm();
      }
      if (closed_) co_return false;
      // A kept-alive connection the service closed just now: once more on a fresh one.
      if (ec && may_retry) {
        DropUpstream();
        continue;
      }
      if (!ec && expect_continue_ && head_.has_body && client_version_ >= 11) {
        client_deadline_.Arm(state_->options.idle_timeout);
        co_await net::async_write(client_, net::buffer("HTTP/1.1 100 Continue\r\n\r\n", 25),
                                  Redirect(ec));
        client_deadline_.Disarm();
        if (ec || closed_) co_return false;
      }
      // The body; when the service stops taking it, its answer may still say why.
      if (!ec) {
        const BodySent sent = co_await SendBody(serializer);
        if (sent == BodySent::kClientFailed) co_return false;
      }
      if (closed_) co_return false;
      std::optional<bool> done = co_await RelayResponse(may_retry);
      if (done) co_return *done;
      DropUpstream();
    }
  }

  enum class BodySent { kAll, kClientFailed, kUpstreamFailed };

  // Streams the request body to the service, a piece at a time.
  net::awaitable<BodySent> SendBody(http::request_serializer<http::buffer_body>& serializer) {
    auto& request = parser_->get();
    error_code ec;
    if (head_.body_read) {
      request.body().data = head_.body.data();
      request.body().size = head_.body.size();
      request.body().more = false;
      upstream_deadline_.Arm(state_->options.upstream_timeout);
      co_await http::async_write(up_->socket, serializer, Redirect(ec));
      upstream_deadline_.Disarm();
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return BodySent::kUpstreamFailed;
      end_.bytes_up += head_.body.size();
      co_return BodySent::kAll;
    }
    if (!parser_->is_done()) client_buf_.reserve(kProxyChunkBytes);  // reads of a whole piece
    while (!parser_->is_done()) {
      const std::optional<std::size_t> piece = co_await ReadBodyPiece(ec);
      if (!piece) {
        end_.error = "the client stopped sending its body (" + ec.message() + ")";
        co_return BodySent::kClientFailed;
      }
      const std::size_t n = *piece;
      if (n == 0 && !parser_->is_done()) continue;  // framing only (a chunk header): read on
      request.body().data = chunk_.get();
      request.body().size = n;
      request.body().more = !parser_->is_done();
      upstream_deadline_.Arm(state_->options.upstream_timeout);
      co_await http::async_write(up_->socket, serializer, Redirect(ec));
      upstream_deadline_.Disarm();
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return BodySent::kUpstreamFailed;
      end_.bytes_up += n;
    }
    if (!serializer.is_done()) {
      request.body().data = nullptr;
      request.body().size = 0;
      request.body().more = false;
      upstream_deadline_.Arm(state_->options.upstream_timeout);
      co_await http::async_write(up_->socket, serializer, Redirect(ec));
      upstream_deadline_.Disarm();
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return BodySent::kUpstreamFailed;
    }
    co_return BodySent::kAll;
  }

  // Reads the next piece of the client's request body into chunk_ (bounded by the idle
  // timeout): its size (0: only framing was read), or nullopt when the client failed or the
  // connection closed (`ec` says why).
  net::awaitable<std::optional<std::size_t>> ReadBodyPiece(error_code& ec) {
    auto& request = parser_->get();
    EnsureChunk();
    request.body().data = chunk_.get();
    request.body().size = kProxyChunkBytes;
    client_deadline_.Arm(state_->options.idle_timeout);
    co_await http::async_read_some(client_, client_buf_, *parser_, Redirect(ec));
    client_deadline_.Disarm();
    if (ec == http::error::need_buffer) ec = {};
    if (ec || closed_) co_return std::nullopt;
    co_return kProxyChunkBytes - request.body().size;
  }

  void EnsureChunk() {
    if (!chunk_) chunk_.reset(new char[kProxyChunkBytes]);  // not zeroed: only written into
  }

  // Reads the service's answer and streams it to the client. nullopt: nothing came back on a
  // reused connection and `may_retry`: send the request again. Else whether the client
  // connection goes on.
  net::awaitable<std::optional<bool>> RelayResponse(bool may_retry) {
    const bool head_request = parser_->get().method() == http::verb::head;
    error_code ec;
    while (true) {
      response_.emplace();
      response_->header_limit(kMaxHeaderBytes);
      response_->body_limit(std::numeric_limits<std::uint64_t>::max());
      if (head_request) response_->skip(true);
      upstream_deadline_.Arm(state_->options.upstream_timeout);
      co_await http::async_read_header(up_->socket, up_->buffer, *response_, Redirect(ec));
      upstream_deadline_.Disarm();
      if (closed_) co_return false;
      if (ec) {
        if (may_retry && !upstream_deadline_.fired() && up_->buffer.size() == 0 &&
            (ec == http::error::end_of_stream || ec == net::error::connection_reset ||
             ec == net::error::eof)) {
          co_return std::nullopt;
        }
        std::string what;
        int status = 502;
        if (upstream_deadline_.fired()) {
          status = 504;
          what = "sent no answer within " + ProxyDuration(state_->options.upstream_timeout);
        } else if (ec == http::error::header_limit) {
          what = "answered with headers larger than " + std::to_string(kMaxHeaderBytes) + " bytes";
        } else if (IsParseError(ec)) {
          what = "sent a malformed HTTP answer (" + ec.message() + ")";
        } else {
          what = "closed the connection without answering (" + ec.message() + ")";
        }
        DropUpstream();
        HttpResponse error = UpstreamError(status, what);
        co_return co_await AnswerLocal(error);
      }
      const unsigned status = response_->get().result_int();
      if (status >= 100 && status < 200 && status != 101) {  // interim: pass on, read the next
        if (client_version_ >= 11) {
          auto& interim = response_->get();
          DropHopByHop(interim);
          http::response_serializer<http::buffer_body> serializer(interim);
          client_deadline_.Arm(state_->options.idle_timeout);
          co_await http::async_write_header(client_, serializer, Redirect(ec));
          client_deadline_.Disarm();
          if (ec || closed_) co_return false;
        }
        continue;
      }
      break;
    }
    co_return co_await RelayResponseBody(head_request);
  }

  net::awaitable<bool> RelayResponseBody(bool head_request) {
    auto& response = response_->get();
    const unsigned status = response.result_int();
    end_.status = static_cast<int>(status);
    const bool upgraded = head_.upgrade && status == 101;
    const bool no_body = head_request || status == 204 || status == 304 || upgraded;
    // The policy's view of the body, ended exactly once however this function returns.
    struct SinkEnd {
      ProxyBodySink sink;
      ~SinkEnd() {
        if (sink) sink({}, true);
      }
    } watch{upgraded ? nullptr : state_->policy->WatchResponse(head_, static_cast<int>(status))};
    bool upstream_reusable = response_->keep_alive() && !head_.upgrade;
    bool client_keep = client_keep_alive_ && parser_->is_done() && !upgraded;
    std::string upgrade(ProxySv(response[http::field::upgrade]));
    DropHopByHop(response);
    if (upgraded) {
      response.set(http::field::connection, "upgrade");
      response.set(http::field::upgrade, upgrade);
    }
    if (!no_body && response_->chunked() && client_version_ < 11) {
      // An HTTP/1.0 client knows no chunked coding: the body as it is, ended by closing.
      response.chunked(false);
      client_keep = false;
    } else if (!no_body && !response_->chunked() && !response_->content_length()) {
      // Delimited by the service closing: chunked to an HTTP/1.1 client, else closed too.
      upstream_reusable = false;
      if (client_version_ >= 11 && !response_->is_done()) {
        response.chunked(true);
      } else if (!response_->is_done()) {
        client_keep = false;
      } else {
        response.content_length(0);
      }
    }
    AppendVia(response);
    for (auto& [name, value] : state_->policy->ResponseHeaders(head_)) response.set(name, value);
    response.version(11);
    if (!client_keep && !upgraded) response.set(http::field::connection, "close");
    if (client_keep && client_version_ < 11) response.set(http::field::connection, "keep-alive");

    http::response_serializer<http::buffer_body> serializer(response);
    error_code ec;
    // The head goes at once unless body bytes came with it: then both in one write, so that a
    // small answer is one segment (an event stream's head is never held back for its events).
    if (no_body || response_->is_done() || up_->buffer.size() == 0) {
      client_deadline_.Arm(state_->options.idle_timeout);
      co_await http::async_write_header(client_, serializer, Redirect(ec));
      client_deadline_.Disarm();
      if (ec || closed_) co_return false;
    }
    if (upgraded) {
      co_await Tunnel();
      co_return false;
    }
    // A large body of a known length that nobody watches moves socket to socket inside the
    // kernel (splice(2) through a pipe), never copied through this process.
    const bool spliced = !no_body && !watch.sink && !response_->is_done() &&
                         !response_->chunked() && response_->content_length() &&
                         *response_->content_length() >= kProxySpliceFrom;
    if (spliced) {
      if (!co_await SpliceResponseBody(serializer, *response_->content_length())) co_return false;
    }
    if (!spliced && !no_body && !response_->is_done()) up_->buffer.reserve(kProxyChunkBytes);
    while (!spliced && !no_body && !response_->is_done()) {
      EnsureChunk();
      response.body().data = chunk_.get();
      response.body().size = kProxyChunkBytes;
      upstream_deadline_.Arm(state_->options.upstream_timeout);
      co_await http::async_read_some(up_->socket, up_->buffer, *response_, Redirect(ec));
      upstream_deadline_.Disarm();
      if (ec == http::error::need_buffer) ec = {};
      if (closed_) co_return false;
      if (ec && !serializer.is_header_done()) {  // nothing sent yet: the client can be told
        HttpResponse error =
            upstream_deadline_.fired()
                ? UpstreamError(504, "sent nothing for " +
                                         ProxyDuration(state_->options.upstream_timeout) +
                                         " after its answer's head")
                : UpstreamError(502, "sent a malformed answer (" + ec.message() + ")");
        DropUpstream();
        co_return co_await AnswerLocal(error);
      }
      if (ec) {
        end_.error = upstream_deadline_.fired()
                         ? "the service sent nothing for " +
                               ProxyDuration(state_->options.upstream_timeout) +
                               " in the middle of its answer"
                         : "the service's answer broke off: " + ec.message();
        co_return false;
      }
      std::size_t n = kProxyChunkBytes - response.body().size;
      // Framing only (a chunk header): an empty piece would end a chunked body.
      if (n == 0 && !response_->is_done()) continue;
      response.body().data = chunk_.get();
      response.body().size = n;
      response.body().more = !response_->is_done();
      client_deadline_.Arm(state_->options.idle_timeout);
      co_await http::async_write(client_, serializer, Redirect(ec));
      client_deadline_.Disarm();
      if (ec == http::error::need_buffer) ec = {};
      if (ec || closed_) co_return false;
      end_.bytes_down += n;
      if (watch.sink && n > 0) watch.sink(std::string_view(chunk_.get(), n), false);
    }
    if (!spliced && !no_body && !serializer.is_done()) {
      response.body().data = nullptr;
      response.body().size = 0;
      response.body().more = false;
      client_deadline_.Arm(state_->options.idle_timeout);
      co_await http::async_write(client_, serializer, Redirect(ec));
      client_deadline_.Disarm();
      if (ec == http::error::need_buffer) ec = {};
      if (ec || closed_) co_return false;
    }
    chunk_.reset();
    // The service's connection is reused only after a complete exchange with nothing left over:
    // by this client's next request (it goes to the pool when this connection ends), or by
    // others when this connection ends now.
    if (upstream_reusable && parser_->is_done() && up_->buffer.size() == 0) {
      ProxyTrimBuffer(up_->buffer);
      if (client_keep) {
        up_between_requests_ = true;
      } else {
        state_->KeepIdle(std::move(up_));
      }
    } else {
      DropUpstream();
    }
    co_return client_keep;
  }

  // The rest of a response body of `length` bytes, the service's socket to the client's: what
  // came with the head first, then splice(2) through a pipe (pages move; no copy here). False: the
  // client connection is done (either side failed; end_.error says which).
  net::awaitable<bool> SpliceResponseBody(http::response_serializer<http::buffer_body>& serializer,
                                          std::uint64_t length) {
    error_code ec;
    if (!serializer.is_header_done()) {
      client_deadline_.Arm(state_->options.idle_timeout);
      co_await http::async_write_header(client_, serializer, Redirect(ec));
      client_deadline_.Disarm();
      if (ec || closed_) co_return false;
    }
    const std::size_t early =
        static_cast<std::size_t>(std::min<std::uint64_t>(up_->buffer.size(), length));
    if (early > 0) {
      client_deadline_.Arm(state_->options.idle_timeout);
      co_await net::async_write(client_, net::buffer(up_->buffer.data().data(), early),
                                Redirect(ec));
      client_deadline_.Disarm();
      if (ec || closed_) co_return false;
      up_->buffer.consume(early);
      end_.bytes_down += early;
    }
    std::uint64_t left = length - early;
    int pipe_fds[2] = {-1, -1};
    if (left > 0 && ::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      end_.error = "no pipe for the body: " + std::string(std::strerror(errno));
      co_return false;
    }
    UniqueFd pipe_out(left > 0 ? pipe_fds[0] : -1);
    UniqueFd pipe_in(left > 0 ? pipe_fds[1] : -1);
    if (left > 0) ::fcntl(pipe_in.get(), F_SETPIPE_SZ, static_cast<int>(kProxySplicePipe));
    up_->socket.non_blocking(true, ec);
    client_.non_blocking(true, ec);
    std::size_t in_pipe = 0;
    while ((left > 0 || in_pipe > 0) && !closed_) {
      bool moved = false;
      if (left > 0 && in_pipe < kProxySplicePipe) {
        const ssize_t n = ::splice(
            up_->socket.native_handle(), nullptr, pipe_in.get(), nullptr,
            static_cast<std::size_t>(std::min<std::uint64_t>(left, kProxySplicePipe - in_pipe)),
            SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n == 0) {
          end_.error = "the service's answer broke off: it closed the connection";
          co_return false;
        }
        if (n > 0) {
          left -= static_cast<std::uint64_t>(n);
          in_pipe += static_cast<std::size_t>(n);
          moved = true;
        } else if (errno != EAGAIN && errno != EINTR) {
          end_.error = "the service's answer broke off: " + std::string(std::strerror(errno));
          co_return false;
        }
      }
      if (in_pipe > 0) {
        const ssize_t n = ::splice(pipe_out.get(), nullptr, client_.native_handle(), nullptr,
                                   in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
          in_pipe -= static_cast<std::size_t>(n);
          end_.bytes_down += static_cast<std::uint64_t>(n);
          moved = true;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          co_return false;  // the client left
        }
      }
      if (moved) continue;
      // Nothing moved: wait for the side that holds things up (bounded like the copying path).
      if (in_pipe > 0) {
        client_deadline_.Arm(state_->options.idle_timeout);
        co_await client_.async_wait(tcp::socket::wait_write, Redirect(ec));
        client_deadline_.Disarm();
      } else {
        upstream_deadline_.Arm(state_->options.upstream_timeout);
        co_await up_->socket.async_wait(tcp::socket::wait_read, Redirect(ec));
        upstream_deadline_.Disarm();
        if (upstream_deadline_.fired()) {
          end_.error = "the service sent nothing for " +
                       ProxyDuration(state_->options.upstream_timeout) +
                       " in the middle of its answer";
        }
      }
      if (ec) co_return false;
    }
    co_return !closed_;
  }

  // After a 101: bytes both ways until either side closes (or neither sends for
  // tunnel_idle_timeout). What either side sent after its head goes first.
  Awaitable Tunnel() {
    end_.upgraded = true;
    client_deadline_.Arm(state_->options.tunnel_idle_timeout);
    error_code ec;
    if (tap_) {
      // What either side sent after the heads goes through the tap in TappedTunnel.
      tap_up_.idle = std::make_unique<net::steady_timer>(client_.get_executor());
      tap_down_.idle = std::make_unique<net::steady_timer>(client_.get_executor());
    } else if (client_buf_.size() > 0) {
      const std::size_t n =
          co_await net::async_write(up_->socket, client_buf_.data(), Redirect(ec));
      end_.bytes_up += n;
      client_buf_.consume(client_buf_.size());
    }
    if (!ec && !tap_ && up_->buffer.size() > 0) {
      const std::size_t n = co_await net::async_write(client_, up_->buffer.data(), Redirect(ec));
      end_.bytes_down += n;
      up_->buffer.consume(up_->buffer.size());
    }
    if (ec || closed_) co_return;
    chunk_.reset();
    tunnel_pending_ = 2;
    if (tap_) {
      co_await TappedTunnel();
      co_return;
    }
    net::co_spawn(client_.get_executor(),
                  Pump(shared_from_this(), &up_->socket, &client_, &end_.bytes_down),
                  net::detached);
    co_await Pump(shared_from_this(), &client_, &up_->socket, &end_.bytes_up);
    while (tunnel_pending_ > 0 && !closed_) {
      wake_.expires_at(ProxyClock::time_point::max());
      co_await wake_.async_wait(Redirect(ec));
    }
  }

  // One direction of a tunnel: EOF is passed on as a half-close; an error closes both.
  Awaitable Pump([[maybe_unused]] std::shared_ptr<ProxySession> self, tcp::socket* from,
                 tcp::socket* to, std::uint64_t* count) {
    std::vector<char> buffer(kProxyChunkBytes);
    error_code ec;
    while (!closed_) {
      std::size_t n = co_await from->async_read_some(net::buffer(buffer), Redirect(ec));
      if (ec) break;
      client_deadline_.Arm(state_->options.tunnel_idle_timeout);
      co_await net::async_write(*to, net::buffer(buffer.data(), n), Redirect(ec));
      if (ec) break;
      *count += n;
    }
    if (ec == net::error::eof && !closed_) {
      to->shutdown(tcp::socket::shutdown_send, ec);
    } else {
      Close();
    }
    if (--tunnel_pending_ == 0) {
      End("");  // both sides closed: the tunnel's normal end
      Close();
    }
    wake_.cancel();
  }

  // A tunnel a tap looks into: both directions read as in Pump, every piece given to the tap,
  // what it returns written by TapSend (each side's writes in order, one at a time).
  Awaitable TappedTunnel() {
    std::weak_ptr<ProxySession> weak = shared_from_this();
    const auto executor = client_.get_executor();
    ProxyTunnelControl control;
    control.send = [weak, executor](std::string to_service, std::string to_client) {
      net::post(executor, [weak, up = std::move(to_service), down = std::move(to_client)] {
        auto self = weak.lock();
        if (!self || self->closed_ || !self->tap_) return;
        if (!up.empty()) self->TapSend(false, up);
        if (!down.empty()) self->TapSend(true, down);
      });
    };
    control.close = [weak, executor] {
      net::post(executor, [weak] {
        auto self = weak.lock();
        if (!self || self->closed_ || !self->tap_) return;
        self->tap_close_ = true;
        if (!self->tap_down_.busy) self->Close();
      });
    };
    std::shared_ptr<ProxyTunnelTap> tap = tap_;
    tap->Start(std::move(control));
    if (client_buf_.size() > 0) {
      const auto data = client_buf_.data();
      TapSend(false, tap->FromClient(
                         std::string_view(static_cast<const char*>(data.data()), data.size())));
      client_buf_.consume(client_buf_.size());
    }
    if (up_->buffer.size() > 0) {
      const auto data = up_->buffer.data();
      TapSend(true, tap->FromService(
                        std::string_view(static_cast<const char*>(data.data()), data.size())));
      up_->buffer.consume(up_->buffer.size());
    }
    net::co_spawn(executor, TapPump(shared_from_this(), false), net::detached);
    co_await TapPump(shared_from_this(), true);
    error_code ec;
    while (tunnel_pending_ > 0 && !closed_) {
      wake_.expires_at(ProxyClock::time_point::max());
      co_await wake_.async_wait(Redirect(ec));
    }
  }

  // One side's writes from a tapped tunnel.
  struct TapOut {
    std::string pending;
    bool busy = false;                        // a TapFlush runs
    std::unique_ptr<net::steady_timer> idle;  // woken when it ends
  };

  void TapSend(bool to_client, std::string_view bytes) {
    TapOut& out = to_client ? tap_down_ : tap_up_;
    out.pending.append(bytes);
    if (out.busy || out.pending.empty() || closed_) return;
    out.busy = true;
    net::co_spawn(client_.get_executor(), TapFlush(shared_from_this(), to_client), net::detached);
  }

  Awaitable TapFlush([[maybe_unused]] std::shared_ptr<ProxySession> self, bool to_client) {
    TapOut& out = to_client ? tap_down_ : tap_up_;
    std::uint64_t& count = to_client ? end_.bytes_down : end_.bytes_up;
    error_code ec;
    while (!out.pending.empty() && !closed_) {
      std::string now = std::move(out.pending);
      out.pending.clear();
      tcp::socket& socket = to_client ? client_ : up_->socket;
      co_await net::async_write(socket, net::buffer(now), Redirect(ec));
      if (ec) break;
      count += now.size();
    }
    out.busy = false;
    out.idle->cancel();
    if (!closed_ && (ec || (to_client && tap_close_))) Close();
  }

  // Until what the tap sent to that side was written.
  Awaitable TapDrained(TapOut& out) {
    error_code ec;
    while (out.busy && !closed_) {
      out.idle->expires_at(ProxyClock::time_point::max());
      co_await out.idle->async_wait(Redirect(ec));
    }
  }

  // One direction of a tapped tunnel, as Pump.
  Awaitable TapPump([[maybe_unused]] std::shared_ptr<ProxySession> self, bool from_client) {
    std::vector<char> buffer(kProxyChunkBytes);
    error_code ec;
    TapOut& to = from_client ? tap_up_ : tap_down_;
    while (!closed_) {
      tcp::socket& from = from_client ? client_ : up_->socket;
      std::size_t n = co_await from.async_read_some(net::buffer(buffer), Redirect(ec));
      if (ec || closed_ || !tap_) break;
      client_deadline_.Arm(state_->options.tunnel_idle_timeout);
      std::shared_ptr<ProxyTunnelTap> tap = tap_;
      const std::string_view piece(buffer.data(), n);
      TapSend(!from_client, from_client ? tap->FromClient(piece) : tap->FromService(piece));
      co_await TapDrained(to);
    }
    if (ec == net::error::eof && !closed_) {
      co_await TapDrained(to);
      if (!closed_) (from_client ? up_->socket : client_).shutdown(tcp::socket::shutdown_send, ec);
    } else {
      Close();
    }
    if (--tunnel_pending_ == 0) {
      End("");
      Close();
    }
    wake_.cancel();
  }

  std::shared_ptr<ProxyState> state_;
  tcp::socket client_;
  boost::beast::flat_buffer client_buf_;
  net::steady_timer wake_;  // a held request's release; the end of a tunnel's other direction
  ProxyDeadline client_deadline_;
  ProxyDeadline upstream_deadline_;
  std::unique_ptr<UpstreamConn> up_;
  std::optional<http::request_parser<http::buffer_body>> parser_;
  std::optional<http::response_parser<http::buffer_body>> response_;
  std::unique_ptr<char[]> chunk_;  // kProxyChunkBytes while a body moves
  std::string client_ip_;
  std::string closing_reason_;
  ProxyRequestHead head_;
  ProxyRequestEnd end_;
  std::shared_ptr<Held> held_;
  unsigned client_version_ = 11;
  int tunnel_pending_ = 0;
  std::shared_ptr<ProxyTunnelTap> tap_;  // an upgrade's, when the policy looks into its tunnel
  TapOut tap_up_;
  TapOut tap_down_;
  bool tap_close_ = false;  // close once what goes to the client was written
  bool client_keep_alive_ = false;
  bool expect_continue_ = false;
  bool in_request_ = false;
  bool up_between_requests_ = false;  // up_ finished an exchange and may serve the next one
  bool closed_ = false;
};

namespace {

// A connection over the limit gets a short 503 (it fits any socket buffer) and is closed.
void ProxyRefuseBusy(tcp::socket socket, std::size_t limit) {
  auto held = std::make_shared<tcp::socket>(std::move(socket));
  HttpResponse r = HttpResponse::Error(
      503, "more than " + std::to_string(limit) + " connections open", "try again shortly");
  auto text = std::make_shared<std::string>(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(r.body.size()) + "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + r.body);
  net::async_write(*held, net::buffer(*text), [held, text](error_code, std::size_t) {
    error_code ignored;
    held->shutdown(tcp::socket::shutdown_both, ignored);
    held->close(ignored);
  });
}

void ProxyAccept(const std::shared_ptr<ProxyState>& state) {
  if (!state->acceptor) return;
  state->acceptor->async_accept([state](error_code ec, tcp::socket socket) {
    if (state->stopped || ec == net::error::operation_aborted) return;
    if (ec) {  // EMFILE and friends: try again shortly instead of spinning
      state->retry->expires_after(std::chrono::milliseconds(100));
      state->retry->async_wait([state](error_code wait_ec) {
        if (!wait_ec && !state->stopped) ProxyAccept(state);
      });
      return;
    }
    if (state->sessions.size() >= state->options.max_connections) {
      ProxyRefuseBusy(std::move(socket), state->options.max_connections);
    } else {
      std::make_shared<ProxySession>(state, std::move(socket))->Start();
    }
    ProxyAccept(state);
  });
}

}  // namespace
}  // namespace proxy_internal

using proxy_internal::ProxyState;
namespace net = boost::asio;

std::string_view ProxyRequestHead::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (proxy_internal::ProxyIEquals(key, name)) return value;
  }
  return {};
}

ReverseProxy::ReverseProxy(net::io_context& io, ProxyOptions options,
                           std::shared_ptr<ProxyPolicy> policy)
    : state_(std::make_shared<ProxyState>(io)) {
  state_->options = std::move(options);
  state_->policy = policy ? std::move(policy) : std::make_shared<PassThroughPolicy>();
  boost::system::error_code ec;
  auto address = net::ip::make_address(state_->options.upstream_host, ec);
  if (ec) address = net::ip::make_address_v4("127.0.0.1");
  state_->upstream =
      net::ip::tcp::endpoint(address, static_cast<unsigned short>(state_->options.upstream_port));
}

ReverseProxy::~ReverseProxy() { Stop(); }

Result<void> ReverseProxy::Listen(const std::string& host_port) {
  if (state_->acceptor) return Fail(ErrorCode::kInvalidArgument, "the proxy listens already");
  Result<HostPort> split = ParseHostPort(host_port);
  if (!split) return std::unexpected(split.error());
  boost::system::error_code ec;
  net::ip::address address = net::ip::make_address(split->host, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidArgument, "\"" + split->host + "\" is not an IP address",
                "listen on 0.0.0.0, 127.0.0.1, [::] or an address of this machine");
  }
  auto acceptor = std::make_unique<net::ip::tcp::acceptor>(state_->io);
  net::ip::tcp::endpoint endpoint(address, static_cast<unsigned short>(split->port));
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec == net::error::address_in_use) {
    return Fail(ErrorCode::kRefused,
                "the proxy of '" + state_->options.service + "' cannot listen on " + host_port +
                    ": the address is in use",
                "stop what listens there (the service itself must listen on its own, internal "
                "port), or choose another proxy.listen");
  }
  if (ec) {
    return Fail(ErrorCode::kIo, "the proxy of '" + state_->options.service + "' cannot listen on " +
                                    host_port + ": " + ec.message());
  }
  state_->port = acceptor->local_endpoint(ec).port();
  state_->acceptor = std::move(acceptor);
  state_->retry = std::make_unique<net::steady_timer>(state_->io);
  state_->stopped = false;
  proxy_internal::ProxyAccept(state_);
  return {};
}

void ReverseProxy::Stop() {
  state_->stopped = true;
  boost::system::error_code ignored;
  if (state_->acceptor) state_->acceptor->close(ignored);
  if (state_->retry) state_->retry->cancel();
  std::vector<std::weak_ptr<proxy_internal::ProxySession>> open;
  for (const auto& [pointer, weak] : state_->sessions) open.push_back(weak);
  for (const auto& weak : open) {
    if (auto session = weak.lock()) session->Stopping();
  }
  state_->sessions.clear();
  while (!state_->idle.empty()) state_->DropIdle(state_->idle.front());
}

std::optional<int> ReverseProxy::port() const { return state_->port; }

std::size_t ReverseProxy::connection_count() const { return state_->sessions.size(); }

std::size_t ReverseProxy::idle_upstream_count() const { return state_->idle.size(); }

}  // namespace vg
