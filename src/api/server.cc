// ApiServer: Beast parses requests (limits enforced by its parser); responses, chunked streams
// and SSE events are serialised here by hand into one ordered write queue per connection.
#include "api/server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include "api/access.h"
#include "util/json_limits.h"
#include "util/strings.h"

namespace vg {
namespace net = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using Socket = net::generic::stream_protocol::socket;
using Acceptor = net::basic_socket_acceptor<net::generic::stream_protocol>;

namespace {
constexpr auto kLingerTime = std::chrono::seconds(1);  // draining an unread body before close
constexpr std::size_t kMaxBufferedWhileStreaming = 64 * 1024;
constexpr std::size_t kMaxWriteBuffers = 64;  // pieces one gathering write sends
class Connection;
}  // namespace

namespace api_internal {

struct ServerState {
  const Router* router = nullptr;
  ApiServerOptions options;
  std::map<Connection*, std::weak_ptr<Connection>> connections;
  std::size_t streams = 0;  // connections in a streaming response now
  bool stopped = false;
};

struct Listener {
  explicit Listener(net::io_context& io) : acceptor(io), retry(io) {}
  Acceptor acceptor;
  net::steady_timer retry;  // after a failed accept (EMFILE), so the loop does not spin
  bool tcp = false;
  bool loopback = false;  // a TCP listener on a loopback address
};

}  // namespace api_internal

namespace {
using api_internal::Listener;
using api_internal::ServerState;

// Header names and values come from handlers; never let them split the response.
std::string HeaderSafe(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  return out;
}

// One event: a `data:` line per line of the chunk, then a blank line. SSE ends lines at CR, LF or
// CRLF, so a lone CR (progress bars) starts a new data line too rather than corrupting the event.
std::string FormatSse(std::string_view chunk, std::string_view id) {
  if (chunk.ends_with("\r\n")) {
    chunk.remove_suffix(2);
  } else if (chunk.ends_with('\n') || chunk.ends_with('\r')) {
    chunk.remove_suffix(1);
  }
  std::string out;
  out.reserve(chunk.size() + id.size() + 24);
  if (!id.empty()) {
    out += "id: ";
    for (char c : id) {
      if (c != '\r' && c != '\n' && c != '\0') out.push_back(c);
    }
    out += '\n';
  }
  while (true) {
    std::size_t eol = chunk.find_first_of("\r\n");
    out += "data: ";
    out += chunk.substr(0, eol);
    out += '\n';
    if (eol == std::string_view::npos) break;
    bool crlf = chunk[eol] == '\r' && eol + 1 < chunk.size() && chunk[eol + 1] == '\n';
    chunk.remove_prefix(eol + (crlf ? 2 : 1));
  }
  out += '\n';
  return out;
}

std::string StatusLine(int status) {
  std::string_view reason =
      http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
}

// A response as bytes on the wire (Content-Length framing; a 304 has no body, so neither).
std::string Serialise(const HttpResponse& response, bool keep_alive) {
  std::string out = StatusLine(response.status);
  if (response.status != 304) {
    out += "Content-Type: " + HeaderSafe(response.content_type) + "\r\n";
    out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  }
  for (const auto& [name, value] : response.headers) {
    out += HeaderSafe(name) + ": " + HeaderSafe(value) + "\r\n";
  }
  out += keep_alive ? "" : "Connection: close\r\n";
  out += "\r\n";
  if (response.status != 304) out += response.body;
  return out;
}

// One connection: requests are read and dispatched in order, up to kMaxPipelineDepth ahead of
// the responses on the wire (pipelining), and the responses are written in request order, a
// later answer waiting for every earlier one.
//
//  - answers_ holds, in request order, the answers not yet moved to the write queue: ready ones
//    (a response, or a stream to start) and ones a DeferredResponse's Responder will fill.
//    Advance() moves the ready ones at the front to queue_, which is written in order.
//  - open_requests_ counts requests read whose response is not fully written; no request is read
//    while it is kMaxPipelineDepth, so a client that sends without reading holds at most that
//    many responses in the daemon's memory (and buffer_ at most the message being read plus one
//    socket read).
//  - Reading stops (stop_reading_) after a request whose answer closes the connection (every
//    error that does, and `Connection: close`) or starts a stream: nothing after it is read until
//    that answer is out (a close: never; a stream: once it ended). A stream starts only once
//    every response before it is on the wire.
//  - Requests already in buffer_ are parsed without a trip through the event loop, so a
//    pipelined batch reaches its handlers in one turn (and the job API's group commit sees it
//    whole). in_dispatch_ marks that a request is being read or dispatched: nothing else is read
//    until its handler has returned, so handlers see requests in order.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<ServerState> state, Socket socket, bool tcp, bool tcp_loopback)
      : state_(std::move(state)),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        tcp_(tcp),
        tcp_loopback_(tcp_loopback),
        tokens_(state_->options.request_burst) {}

  void Start() {
    state_->connections[this] = weak_from_this();
    ReadMore();
  }

  // Closes the socket; pending operations complete with errors and release the connection.
  void Close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    socket_.shutdown(net::socket_base::shutdown_both, ignored);
    socket_.close(ignored);
    timer_.cancel();
    queue_.clear();
    queued_bytes_ = 0;
    answers_.clear();
    ReleaseStreamSlot();
    state_->connections.erase(this);
  }

  // ResponseStream operations (StreamHandle forwards here).
  bool StreamWrite(std::string_view chunk, std::string_view id) {
    if (closed_ || phase_ != Phase::kStreaming) return false;
    if (chunk.empty() && !stream_sse_) return true;  // an empty chunk would end the body
    std::string payload = stream_sse_ ? FormatSse(chunk, id) : std::string(chunk);
    if (stream_chunked_) {
      char size[20];
      auto [end, ec] = std::to_chars(size, size + sizeof size, payload.size(), 16);
      payload = std::string(size, end) + "\r\n" + payload + "\r\n";
    }
    Queue(std::move(payload));
    if (queued_bytes_ > kMaxStreamQueue) {
      Close();  // a client that does not read must not grow the daemon's memory
      return false;
    }
    return true;
  }

  void StreamClose() {
    if (closed_ || phase_ != Phase::kStreaming) return;
    phase_ = Phase::kStreamEnding;
    ReleaseStreamSlot();
    if (stream_chunked_) {
      Queue("0\r\n\r\n");
    } else {
      close_after_stream_ = true;
    }
    if (!writing_) OnDrained();
  }

  bool StreamClosed() const { return closed_ || phase_ != Phase::kStreaming; }

 private:
  // kOpen: requests and their responses (pipelined); kStreaming, kStreamEnding: a streaming
  // response has the connection; kLingering: the last response is out, the connection closes.
  enum class Phase { kOpen, kStreaming, kStreamEnding, kLingering };

  // A stream a handler returned, started when its turn comes.
  struct PendingStream {
    StreamStarter starter;
    bool sse = false;
    bool chunked = false;
    bool keep_alive = false;
    std::string where;
  };

  // One request's answer, in request order (or an interim 100 Continue before one).
  struct Answer {
    bool ready = false;
    bool final = true;  // false: a 100 Continue (the request's own answer follows)
    bool keep_alive = true;
    std::string bytes;  // the serialised response, once ready
    std::optional<PendingStream> stream;
  };

  // What the write queue holds: bytes, and whether they end a request's response.
  struct Chunk {
    std::string bytes;
    bool ends_response = false;
  };

  void ReleaseStreamSlot() {
    if (!holds_stream_slot_) return;
    holds_stream_slot_ = false;
    --state_->streams;
  }

  // A token bucket: options.request_burst requests at once, options.max_requests_per_second
  // sustained (0: no limit).
  bool TakeRequestToken() {
    const ApiServerOptions& o = state_->options;
    if (o.max_requests_per_second <= 0) return true;
    const auto now = std::chrono::steady_clock::now();
    const std::chrono::duration<double> elapsed = now - tokens_at_;
    tokens_at_ = now;
    tokens_ = std::min(o.request_burst, tokens_ + elapsed.count() * o.max_requests_per_second);
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

  void ArmTimer(std::chrono::milliseconds after) {
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->closed_) return;
      // A wait that completed just before a re-arm is stale: only a passed expiry closes.
      if (self->timer_.expiry() <= std::chrono::steady_clock::now()) self->Close();
    });
  }

  bool CanRead() const {
    return !closed_ && phase_ == Phase::kOpen && !reading_ && !stop_reading_ &&
           open_requests_ < kMaxPipelineDepth;
  }

  // Reads the next requests while the pipeline allows. Each ReadHeader either dispatches a
  // buffered request at once or starts an asynchronous read (reading_), so the loop ends after
  // at most kMaxPipelineDepth dispatches. Called during a dispatch, it returns: the loop around
  // that dispatch goes on afterwards.
  void ReadMore() {
    if (in_dispatch_) return;
    in_dispatch_ = true;
    while (CanRead()) ReadHeader();
    in_dispatch_ = false;
  }

  // An asynchronous read's completion: reading and dispatching, then read on.
  template <class F>
  void Resume(F step) {
    in_dispatch_ = true;
    step();
    in_dispatch_ = false;
    ReadMore();
  }

  void ReadHeader() {
    reading_ = true;
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(state_->options.body_limit);
    ArmTimer(state_->options.idle_timeout);
    error_code ec;
    if (ParseBuffered(/*header_only=*/true, ec) || ec) return OnHeader(ec);
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = shared_from_this()](error_code read_ec, std::size_t) {
                              if (self->closed_) return;
                              self->Resume([&] { self->OnHeader(read_ec); });
                            });
  }

  // Feeds the parser what is already in buffer_: true once the header (header_only) or the whole
  // message is parsed; false when more bytes are needed, or on a parse error (set in ec).
  bool ParseBuffered(bool header_only, error_code& ec) {
    auto done = [&] { return header_only ? parser_->is_header_done() : parser_->is_done(); };
    parser_->eager(!header_only);
    while (!done() && buffer_.size() > 0) {
      std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        return false;
      }
      if (ec || used == 0) return false;
    }
    return done();
  }

  void OnHeader(error_code ec) {
    if (ec) return OnReadError(ec);
    const auto& request = parser_->get();
    if (std::distance(request.begin(), request.end()) >
        static_cast<std::ptrdiff_t>(kMaxHeaderFields)) {
      return Respond(
          HttpResponse::Error(
              431, "more than " + std::to_string(kMaxHeaderFields) + " request header fields",
              "send fewer headers"),
          false);
    }
    if (!TakeRequestToken()) {
      HttpResponse response = HttpResponse::Error(
          429,
          "more than " + std::to_string(static_cast<int>(state_->options.max_requests_per_second)) +
              " requests per second on one connection",
          "slow down, or spread requests over connections");
      response.headers["Retry-After"] = "1";
      return Respond(response, false);
    }
    {
      auto field = [&](std::string_view name) {
        auto value = request[boost::beast::string_view(name.data(), name.size())];
        return std::string_view(value.data(), value.size());
      };
      auto target = request.target();
      std::string_view path(target.data(), target.size());
      path = path.substr(0, path.find('?'));
      auto method = request.method_string();
      const RequestHead head{.method = std::string_view(method.data(), method.size()),
                             .path = path,
                             .host = field("Host"),
                             .origin = field("Origin"),
                             .sec_fetch_site = field("Sec-Fetch-Site"),
                             .authorization = field("Authorization")};
      const TcpAccessPolicy policy{.token = state_->options.token,
                                   .public_read = state_->options.public_read,
                                   .loopback_listener = tcp_loopback_};
      // The Unix socket is the owner's, and an open read-only listener (metrics) serves anyone:
      // only the CSRF check there (a browser can reach the socket through a tunnel); the API's
      // TCP listener gets every rule.
      const bool every_rule = tcp_ && !state_->options.open_read_only;
      if (std::optional<AccessRefusal> refused =
              every_rule ? CheckTcpAccess(head, policy) : CheckCrossSite(head)) {
        HttpResponse response = HttpResponse::Error(refused->status, refused->error, refused->hint);
        if (refused->status == 401) response.headers["WWW-Authenticate"] = "Bearer";
        return Respond(response, /*keep_alive=*/false);
      }
    }
    if (parser_->is_done() || ParseBuffered(/*header_only=*/false, ec)) return OnRequest();
    if (ec) return OnReadError(ec);
    auto expect = request[http::field::expect];
    if (AsciiLower(std::string_view(expect.data(), expect.size())) == "100-continue") {
      if (answers_.empty()) {
        Queue("HTTP/1.1 100 Continue\r\n\r\n");  // after every earlier response already queued
      } else {
        auto interim = std::make_shared<Answer>();
        interim->ready = true;
        interim->final = false;
        interim->bytes = "HTTP/1.1 100 Continue\r\n\r\n";
        answers_.push_back(std::move(interim));
      }
    }
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](error_code read_ec, std::size_t) {
                       if (self->closed_) return;
                       self->Resume([&] {
                         if (read_ec) return self->OnReadError(read_ec);
                         self->OnRequest();
                       });
                     });
  }

  void OnReadError(error_code ec) {
    if (ec == http::error::body_limit) {
      return Respond(HttpResponse::Error(413,
                                         "request body larger than " +
                                             std::to_string(state_->options.body_limit) + " bytes",
                                         "send a smaller request"),
                     false);
    }
    if (ec == http::error::header_limit) {
      return Respond(HttpResponse::Error(431, "request headers larger than " +
                                                  std::to_string(kMaxHeaderBytes) + " bytes"),
                     false);
    }
    bool parse_error = ec.category() == http::make_error_code(http::error::bad_method).category();
    if (parse_error && ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return Respond(HttpResponse::Error(400, "malformed HTTP request", "speak HTTP/1.1"), false);
    }
    reading_ = false;
    parser_.reset();
    if (ec == http::error::end_of_stream && (!answers_.empty() || writing_)) {
      // The client finished sending (a half-close after its last request): answer what it
      // asked, then close (Advance).
      peer_done_ = true;
      stop_reading_ = true;
      return;
    }
    Close();  // the peer went away, the idle timer fired, or the server stopped
  }

  void OnRequest() {
    auto message = parser_->release();
    parser_.reset();
    bool keep_alive = message.keep_alive();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.trusted_transport = !tcp_;
    for (const auto& field : message) {
      std::string name =
          AsciiLower(std::string_view(field.name_string().data(), field.name_string().size()));
      std::string value(field.value());
      auto [it, inserted] = request.headers.emplace(name, value);
      if (!inserted) it->second += ", " + value;
    }
    request.body = std::move(message.body());
    if (!SplitTarget(request.target, request.path, request.query)) {
      return Respond(HttpResponse::Error(400, "malformed percent-encoding in the request target"),
                     keep_alive);
    }

    HandlerResult result;
    try {
      result = state_->router->Dispatch(request);
    } catch (const std::exception& e) {  // Dispatch itself catches handlers; this is bad_alloc
      state_->router->ReportException(request.path, e.what());
      result = HttpResponse::Error(500, "internal error");
    }
    if (auto* response = std::get_if<HttpResponse>(&result)) return Respond(*response, keep_alive);
    if (auto* deferred = std::get_if<DeferredResponse>(&result)) {
      return Defer(deferred->start, keep_alive, request.path);
    }
    auto answer = std::make_shared<Answer>();
    answer->ready = true;
    answer->keep_alive = keep_alive;
    answer->stream = PendingStream{
        .starter = std::get<StreamStarter>(std::move(result)),
        .sse = request.Header("accept").find("text/event-stream") != std::string_view::npos,
        .chunked = message.version() >= 11,
        .keep_alive = keep_alive,
        .where = request.path};
    Enqueue(std::move(answer));
  }

  // Takes the answer to the request just read, in its place in the order of answers.
  void Enqueue(std::shared_ptr<Answer> answer) {
    reading_ = false;
    ++open_requests_;
    if (!answer->keep_alive || answer->stream) stop_reading_ = true;
    answers_.push_back(std::move(answer));
    Advance();
  }

  // Answers the request just read.
  void Respond(const HttpResponse& response, bool keep_alive) {
    parser_.reset();
    auto answer = std::make_shared<Answer>();
    answer->ready = true;
    answer->keep_alive = keep_alive;
    answer->bytes = Serialise(response, keep_alive);
    Enqueue(std::move(answer));
  }

  void StartStream(const StreamStarter& starter, bool sse, bool chunked, bool keep_alive,
                   const std::string& where);

  // The handler answers later through a Responder (DeferredResponse); meanwhile the connection
  // reads and dispatches the next requests (up to kMaxPipelineDepth), and this answer's place in
  // the order of responses is kept: later answers wait for it.
  void Defer(const std::function<void(Responder)>& start, bool keep_alive,
             const std::string& where) {
    auto answer = std::make_shared<Answer>();
    answer->keep_alive = keep_alive;
    Enqueue(answer);
    Responder respond = [self = shared_from_this(), answer](const HttpResponse& r) {
      if (answer->ready || self->closed_) return;
      answer->bytes = Serialise(r, answer->keep_alive);
      answer->ready = true;
      self->Advance();
    };
    try {
      if (!start) throw std::runtime_error("empty deferred response");
      start(respond);
    } catch (const std::exception& e) {
      state_->router->ReportException(where, e.what());
      respond(HttpResponse::Error(500, "internal error"));
    }
  }

  // Moves the answers that are ready, in request order, to the write queue; starts a stream
  // whose turn came; ends the connection once its last answer is out. Reads nothing: more can
  // be read only once a write finished (OnDrained), and a Responder answering must not run
  // another request's handler inside its caller.
  void Advance() {
    if (closed_ || phase_ != Phase::kOpen) return;
    bool queued = false;
    while (!answers_.empty() && answers_.front()->ready) {
      Answer& answer = *answers_.front();
      if (answer.stream && state_->streams >= state_->options.max_streams) {
        answer.stream.reset();
        answer.keep_alive = false;
        answer.bytes = Serialise(
            HttpResponse::Error(503,
                                "more than " + std::to_string(state_->options.max_streams) +
                                    " streams (follows) open",
                                "close another follow, or poll instead"),
            false);
      }
      if (answer.stream) {
        if (writing_ || !queue_.empty()) return;  // its head follows every earlier response
        PendingStream stream = std::move(*answer.stream);
        answers_.pop_front();
        --open_requests_;
        return StartStream(stream.starter, stream.sse, stream.chunked, stream.keep_alive,
                           stream.where);
      }
      const bool closes = !answer.keep_alive;
      const bool final = answer.final;
      std::string bytes = std::move(answer.bytes);
      answers_.pop_front();
      Queue(std::move(bytes), final);
      queued = true;
      if (closes) {
        closing_ = true;  // nothing after it was read
        answers_.clear();
        break;
      }
    }
    if (queued) ArmTimer(state_->options.idle_timeout);  // a client that does not take them
    if (answers_.empty() && queue_.empty() && !writing_) {
      if (closing_) return Linger();
      if (peer_done_) return Close();
    }
  }

  // While streaming, a pending read notices the client leaving (EOF or reset). Bytes it reads
  // (a pipelined request) stay in buffer_ for the parser.
  void Watch() {
    watching_ = true;
    socket_.async_read_some(
        buffer_.prepare(4096), [self = shared_from_this()](error_code ec, std::size_t n) {
          self->watching_ = false;
          if (self->closed_) return;
          if (!ec) {
            self->buffer_.commit(n);
            if (self->buffer_.size() > kMaxBufferedWhileStreaming) {
              return self->Close();
            }
            if (self->phase_ == Phase::kStreaming) return self->Watch();
            if (!self->writing_) return self->OnDrained();
            return;
          }
          if (ec == net::error::operation_aborted && self->phase_ == Phase::kStreamEnding) {
            if (!self->writing_) self->OnDrained();
            return;
          }
          self->Close();  // the client is gone
        });
  }

  void Queue(std::string bytes, bool ends_response = false) {
    queued_bytes_ += bytes.size();
    queue_.push_back(Chunk{.bytes = std::move(bytes), .ends_response = ends_response});
    if (!writing_) WriteNext();
  }

  // Writes everything queued (up to kMaxWriteBuffers pieces) with one gathering write.
  void WriteNext() {
    writing_ = true;
    write_buffers_.clear();
    for (const Chunk& chunk : queue_) {
      if (write_buffers_.size() == kMaxWriteBuffers) break;
      write_buffers_.push_back(net::buffer(chunk.bytes));
    }
    net::async_write(socket_, write_buffers_,
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       self->writing_ = false;
                       if (self->closed_) return;
                       if (ec) return self->Close();
                       for (std::size_t i = 0; i < self->write_buffers_.size(); ++i) {
                         Chunk& written = self->queue_.front();
                         self->queued_bytes_ -= written.bytes.size();
                         if (written.ends_response) --self->open_requests_;
                         self->queue_.pop_front();
                       }
                       if (!self->queue_.empty()) self->WriteNext();
                       if (self->phase_ == Phase::kOpen || !self->writing_) self->OnDrained();
                     });
  }

  // A write finished (kOpen), or everything queued is on the wire: go on with the requests, or
  // finish a stream.
  void OnDrained() {
    if (phase_ == Phase::kStreamEnding) {
      if (watching_) {
        socket_.cancel();  // the watch completes with operation_aborted and comes back here
        return;
      }
      if (close_after_stream_) return Close();
      phase_ = Phase::kOpen;
      stop_reading_ = false;  // nothing was read after the stream's request
    }
    Advance();
    ReadMore();
  }

  // Before closing after an error, drain what the client is still sending for a moment, so it
  // gets to read our response instead of a connection reset.
  void Linger() {
    phase_ = Phase::kLingering;
    error_code ignored;
    socket_.shutdown(net::socket_base::shutdown_send, ignored);
    ArmTimer(std::min<std::chrono::milliseconds>(kLingerTime, state_->options.idle_timeout));
    Drain();
  }

  void Drain() {
    drain_buffer_.resize(16 * 1024);
    socket_.async_read_some(net::buffer(drain_buffer_),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              if (self->closed_) return;
                              self->drained_ += n;
                              if (ec || self->drained_ > 4 * self->state_->options.body_limit) {
                                return self->Close();
                              }
                              self->Drain();
                            });
  }

  std::shared_ptr<ServerState> state_;
  Socket socket_;
  net::steady_timer timer_;
  bool tcp_;
  bool tcp_loopback_;  // a TCP connection accepted on a loopback address
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Phase phase_ = Phase::kOpen;
  bool closed_ = false;
  // The pipeline (see the class comment).
  std::deque<std::shared_ptr<Answer>> answers_;
  std::size_t open_requests_ = 0;
  bool reading_ = false;       // a request is being read
  bool in_dispatch_ = false;   // a request is being read or dispatched on this call stack
  bool stop_reading_ = false;  // after a closing or streaming answer, or the client's EOF
  bool closing_ = false;       // a response that closes the connection is queued
  bool peer_done_ = false;     // the client half-closed: close once every answer is out
  // The write queue.
  std::deque<Chunk> queue_;
  std::size_t queued_bytes_ = 0;
  std::vector<net::const_buffer> write_buffers_;  // what the write in flight sends
  bool writing_ = false;
  // Streams.
  bool watching_ = false;
  bool stream_sse_ = false;
  bool stream_chunked_ = false;
  bool close_after_stream_ = false;
  bool holds_stream_slot_ = false;
  std::vector<char> drain_buffer_;
  std::size_t drained_ = 0;
  double tokens_;  // the rate limit's bucket
  std::chrono::steady_clock::time_point tokens_at_ = std::chrono::steady_clock::now();
};

class StreamHandle final : public ResponseStream {
 public:
  explicit StreamHandle(std::shared_ptr<Connection> connection)
      : connection_(std::move(connection)) {}
  ~StreamHandle() override { connection_->StreamClose(); }
  bool Write(std::string_view chunk) override { return connection_->StreamWrite(chunk, {}); }
  bool WriteEvent(std::string_view id, std::string_view chunk) override {
    return connection_->StreamWrite(chunk, id);
  }
  void Close() override { connection_->StreamClose(); }
  bool closed() const override { return connection_->StreamClosed(); }

 private:
  std::shared_ptr<Connection> connection_;
};

void Connection::StartStream(const StreamStarter& starter, bool sse, bool chunked, bool keep_alive,
                             const std::string& where) {
  phase_ = Phase::kStreaming;
  holds_stream_slot_ = true;
  ++state_->streams;
  stream_sse_ = sse;
  stream_chunked_ = chunked;
  close_after_stream_ = !keep_alive || !chunked;
  // Streams are long-lived; the queue limit bounds a client that stalls. (An expiry of max,
  // not cancel(): a wait that already completed must not see a passed expiry.)
  timer_.expires_at(std::chrono::steady_clock::time_point::max());
  std::string head = StatusLine(200);
  head += sse ? "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
              : "Content-Type: text/plain; charset=utf-8\r\n";
  head += chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n";
  head += "\r\n";
  Queue(std::move(head));
  Watch();
  try {
    starter(std::make_shared<StreamHandle>(shared_from_this()));
  } catch (const std::exception& e) {
    state_->router->ReportException(where, e.what());
    Close();  // the headers may be out already: all that can be said is a broken response
  } catch (...) {
    state_->router->ReportException(where, "unknown exception");
    Close();
  }
}

// A connection over the limit gets a short 503 (it fits any socket buffer: the write does not
// wait on the client) and is closed.
void RefuseBusy(Socket socket, std::size_t limit) {
  auto held = std::make_shared<Socket>(std::move(socket));
  HttpResponse r = HttpResponse::Error(
      503, "more than " + std::to_string(limit) + " connections open", "try again shortly");
  auto text = std::make_shared<std::string>(
      StatusLine(503) + "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(r.body.size()) + "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + r.body);
  net::async_write(*held, net::buffer(*text), [held, text](error_code, std::size_t) {
    error_code ignored;
    held->shutdown(net::socket_base::shutdown_both, ignored);
    held->close(ignored);
  });
}

void Accept(const std::shared_ptr<ServerState>& state, const std::shared_ptr<Listener>& listener) {
  listener->acceptor.async_accept([state, listener](error_code ec, Socket socket) {
    if (state->stopped || ec == net::error::operation_aborted) return;
    if (ec) {  // EMFILE and friends: try again shortly instead of spinning
      listener->retry.expires_after(std::chrono::milliseconds(100));
      listener->retry.async_wait([state, listener](error_code wait_ec) {
        if (!wait_ec && !state->stopped) Accept(state, listener);
      });
      return;
    }
    if (state->connections.size() >= state->options.max_connections) {
      RefuseBusy(std::move(socket), state->options.max_connections);
    } else {
      std::make_shared<Connection>(state, std::move(socket), listener->tcp, listener->loopback)
          ->Start();
    }
    Accept(state, listener);
  });
}

}  // namespace

ApiServer::ApiServer(net::io_context& io, const Router& router, ApiServerOptions options)
    : io_(io), state_(std::make_shared<ServerState>()) {
  state_->router = &router;
  state_->options = std::move(options);
}

ApiServer::~ApiServer() { Stop(); }

Result<void> ApiServer::ListenUnix(const std::string& path) {
  if (!unix_path_.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "already listening on " + unix_path_);
  }
  // Bound under a temporary name first: it must fit sun_path too.
  std::string temporary = path + "." + std::to_string(::getpid()) + ".new";
  if (path.empty() || temporary.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Fail(
        ErrorCode::kInvalidArgument,
        "socket path \"" + path + "\" is empty or too long (Unix sockets allow " +
            std::to_string(sizeof(sockaddr_un{}.sun_path) - 1 - (temporary.size() - path.size())) +
            " bytes here)",
        "choose a shorter path with VRAMGUARD_SOCKET");
  }
  if (Result<void> ready = PrepareUnixSocketPath(path); !ready) return ready;
  struct stat st {};
  if (::lstat(temporary.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(temporary.c_str());

  auto listener = std::make_shared<Listener>(io_);
  net::generic::stream_protocol::endpoint endpoint{
      net::local::stream_protocol::endpoint(temporary)};
  error_code ec;
  listener->acceptor.open(endpoint.protocol(), ec);
  if (!ec) listener->acceptor.bind(endpoint, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot bind " + temporary + ": " + ec.message());
  auto fail = [&](const std::string& what, int err) -> Result<void> {
    ::unlink(temporary.c_str());
    return std::unexpected(ErrnoError(what, err));
  };
  if (::chmod(temporary.c_str(), 0600) != 0) return fail("chmod " + temporary, errno);
  listener->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on " + temporary, ec.value());
  // rename() replaces a stale socket atomically; connections follow the inode.
  if (::rename(temporary.c_str(), path.c_str()) != 0) return fail("rename to " + path, errno);
  if (::stat(path.c_str(), &st) == 0) {
    unix_dev_ = st.st_dev;
    unix_ino_ = st.st_ino;
  }
  unix_path_ = path;
  state_->stopped = false;
  listeners_.push_back(listener);
  Accept(state_, listener);
  return {};
}

Result<void> ApiServer::ListenTcp(const std::string& host_port) {
  Result<HostPort> split = ParseHostPort(host_port);
  if (!split) return std::unexpected(split.error());
  error_code ec;
  net::ip::address address = net::ip::make_address(split->host, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidArgument, "\"" + split->host + "\" is not an IP address",
                "listen on 127.0.0.1, ::1, or an address of this machine");
  }
  if (!address.is_loopback() && state_->options.token.empty() && !state_->options.open_read_only) {
    return Fail(ErrorCode::kRefused, "refusing to listen on " + host_port + " without an API token",
                "set an API token in the daemon's config, or listen on 127.0.0.1");
  }
  auto listener = std::make_shared<Listener>(io_);
  listener->tcp = true;
  listener->loopback = address.is_loopback();
  net::generic::stream_protocol::endpoint endpoint{
      net::ip::tcp::endpoint(address, static_cast<unsigned short>(split->port))};
  listener->acceptor.open(endpoint.protocol(), ec);
  if (!ec) listener->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) listener->acceptor.bind(endpoint, ec);
  if (!ec) listener->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec == net::error::address_in_use) {
    return Fail(ErrorCode::kRefused, host_port + " is already in use",
                "stop what listens there, or choose another address");
  }
  if (ec) return Fail(ErrorCode::kIo, "cannot listen on " + host_port + ": " + ec.message());

  auto bound = listener->acceptor.local_endpoint(ec);
  if (!ec && !tcp_port_) {
    const sockaddr* sa = bound.data();
    if (sa->sa_family == AF_INET) {
      tcp_port_ = ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
    } else if (sa->sa_family == AF_INET6) {
      tcp_port_ = ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
    }
  }
  state_->stopped = false;
  listeners_.push_back(listener);
  Accept(state_, listener);
  return {};
}

void ApiServer::Stop() {
  state_->stopped = true;
  for (const auto& listener : listeners_) {
    error_code ignored;
    listener->acceptor.close(ignored);
    listener->retry.cancel();
  }
  listeners_.clear();
  std::vector<std::weak_ptr<Connection>> open;
  for (const auto& [pointer, weak] : state_->connections) open.push_back(weak);
  for (const auto& weak : open) {
    if (auto connection = weak.lock()) connection->Close();
  }
  state_->connections.clear();
  if (!unix_path_.empty()) {
    struct stat st {};
    // Remove the socket only if it is still ours (not a successor daemon's).
    if (::lstat(unix_path_.c_str(), &st) == 0 && st.st_dev == unix_dev_ && st.st_ino == unix_ino_) {
      ::unlink(unix_path_.c_str());
    }
    unix_path_.clear();
  }
}

std::optional<int> ApiServer::tcp_port() const { return tcp_port_; }

std::size_t ApiServer::connection_count() const { return state_->connections.size(); }

}  // namespace vg
