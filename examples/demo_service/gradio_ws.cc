#include "gradio_ws.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

namespace vg::demo {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using Tcp = net::ip::tcp;
using Json = nlohmann::json;
using Message = nlohmann::ordered_json;  // keys in Gradio's order

// The request head as Beast's accept wants it (an upgrade's body is empty).
beast::http::request<beast::http::empty_body> BeastRequest(const HttpRequest& request) {
  beast::http::request<beast::http::empty_body> r;
  r.method_string(request.method);
  r.target(request.target);
  r.version(11);
  for (const auto& [name, value] : request.headers) r.insert(name, value);
  return r;
}

bool IsWebSocketUpgrade(const HttpRequest& request) {
  std::string upgrade(request.Header("upgrade"));
  std::transform(upgrade.begin(), upgrade.end(), upgrade.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return upgrade.find("websocket") != std::string::npos;
}

// The message of a failed job's answer: its "error", else the answer itself.
std::string ErrorOf(const Json& output) {
  if (output.is_object() && output.contains("error") && output["error"].is_string()) {
    return output["error"].get<std::string>();
  }
  if (output.is_string()) return output.get<std::string>();
  return output.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

struct GradioWsQueue::Slot {
  explicit Slot(GradioWsQueue* q) : queue(q) {}
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() {
    std::lock_guard lock(queue->mutex_);  // notified under the lock: the destructor may be waiting
    --queue->slots_;
    queue->released_.notify_all();
  }
  GradioWsQueue* queue;
};

// One connection: its WebSocket on an io_context run by the takeover's thread, with one read
// always pending (pings answered, a client that leaves noticed at once), writes one at a time
// from an outbox, and the job on a thread of its own.
class GradioWsQueue::Session {
 public:
  Session(GradioWsQueue& queue, std::uint64_t id)
      : queue_(queue), id_(id), ws_(ioc_), timer_(ioc_) {}

  // Speaks the protocol on `fd` (not owned) until the connection ends.
  void Run(int fd, const HttpRequest& request, const std::string& early) {
    beast::error_code ec;
    const int own = ::dup(fd);
    if (own < 0) return;
    ws_.next_layer().assign(Tcp::v4(), own, ec);
    if (ec) {
      ::close(own);
      return;
    }
    ws_.next_layer().set_option(Tcp::no_delay(true), ec);  // messages go out as they are sent
    ws_.read_message_max(queue_.options_.max_message);
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(5);  // the closing handshake, here
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    const auto head = BeastRequest(request);
    if (early.empty()) {
      ws_.accept(head, ec);
    } else {  // frames sent before our answer: Beast reads them after the head it parses
      std::ostringstream text;
      text << head;
      ws_.accept(net::buffer(text.str() + early), ec);
    }
    if (ec) return;  // Beast answered the bad upgrade
    Send({{"msg", "send_hash"}});
    Arm(queue_.options_.hash_timeout, State::kHash);
    Read();
    ioc_.run();
    if (job_.joinable()) job_.join();
    queue_.LeaveLine(id_);
  }

  // From any thread: a waiting event's connection closes with 1001.
  void GoAway() {
    net::post(ioc_, [this] {
      if (state_ == State::kRunning || state_ == State::kDone) return;
      End();
      Close(websocket::close_code::going_away);
    });
  }

 private:
  enum class State { kHash, kWaiting, kData, kRunning, kDone };

  void Read() {
    ws_.async_read(in_, [this](beast::error_code ec, std::size_t) {
      if (ec) return Gone();
      if (!ws_.got_text()) {
        Close(websocket::close_code::unknown_data);
      } else {
        OnMessage(Json::parse(beast::buffers_to_string(in_.data()), nullptr, false));
      }
      in_.consume(in_.size());
      Read();  // until the peer's close frame or the connection's end
    });
  }

  void OnMessage(const Json& m) {
    if (state_ == State::kHash) {
      if (!m.is_object() || !m.contains("session_hash") || !m["session_hash"].is_string()) {
        End();
        return Close(websocket::close_code::policy_error);
      }
      timer_.cancel();
      state_ = State::kWaiting;
      auto [rank, size] = queue_.JoinLine(id_, [this] { net::post(ioc_, [this] { OnTurn(); }); });
      Send({{"msg", "estimation"},
            {"rank", rank},
            {"queue_size", size},
            {"avg_event_process_time", nullptr},
            {"avg_event_concurrent_process_time", nullptr},
            {"rank_eta", nullptr},
            {"queue_eta", 0}});
    } else if (state_ == State::kData) {
      timer_.cancel();
      state_ = State::kRunning;
      Send({{"msg", "process_starts"}});
      std::optional<HttpRequest> generate;
      if (m.is_object() && m.contains("data")) generate = GradioJobRequest(m["data"]);
      if (!generate) {
        return OnJobDone(
            {false, Json{{"error", "expected \"data\": [resolution, frames, steps]"}}});
      }
      job_ = std::thread([this, work = net::make_work_guard(ioc_), generate = *generate] {
        GradioJobResult result = RunGradioJob(queue_.app_, generate);
        net::post(ioc_, [this, result = std::move(result)] { OnJobDone(result); });
      });
    }
    // Anything else is not read, as Gradio 3 reads nothing else.
  }

  void OnTurn() {
    if (state_ != State::kWaiting) return;
    state_ = State::kData;
    Send({{"msg", "send_data"}});
    Arm(queue_.options_.data_timeout, State::kData);
  }

  void OnJobDone(const GradioJobResult& result) {
    End();
    if (result.success) {
      Send({{"msg", "process_completed"},
            {"output", {{"data", Message::array({result.output})}, {"is_generating", false}}},
            {"success", true}});
    } else {
      Send({{"msg", "process_completed"},
            {"output", {{"error", ErrorOf(result.output)}}},
            {"success", false}});
    }
    Close(websocket::close_code::normal);
  }

  // After `after`, still in `state`: the client was too slow.
  void Arm(std::chrono::milliseconds after, State state) {
    timer_.expires_after(after);
    timer_.async_wait([this, state](beast::error_code ec) {
      if (ec || state_ != state) return;
      End();
      if (state == State::kData) {
        Send({{"msg", "process_completed"},
              {"output", {{"error", "Time out uploading data to server"}}},
              {"success", false}});
      }
      Close(websocket::close_code::normal);
    });
  }

  // The event is over: out of the line (the next one's turn), no timer.
  void End() {
    state_ = State::kDone;
    timer_.cancel();
    queue_.LeaveLine(id_);
  }

  // Reads failed: the client left (or the closing handshake ended). A running job goes on.
  void Gone() {
    gone_ = true;
    // Beast 1.74 leaves the closing handshake's timer waiting after the stream ended, which would
    // hold the io_context (and this thread) that long: the connection is over, turn it off.
    ws_.set_option(websocket::stream_base::timeout{websocket::stream_base::none(),
                                                   websocket::stream_base::none(), false});
    if (state_ != State::kRunning) End();
  }

  void Send(const Message& message) {
    if (close_ || gone_) return;
    outbox_.push_back(message.dump(-1, ' ', false, Message::error_handler_t::replace));
    Flush();
  }

  void Close(websocket::close_code code) {
    if (close_) return;
    close_ = code;
    Flush();
  }

  void Flush() {
    if (writing_ || gone_) return;
    if (outbox_.empty()) {
      if (close_ && !closing_) {
        closing_ = true;
        ws_.async_close(*close_, [](beast::error_code) {});
      }
      return;
    }
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(outbox_.front()), [this](beast::error_code ec, std::size_t) {
      writing_ = false;
      outbox_.pop_front();
      if (ec) return Gone();
      Flush();
    });
  }

  GradioWsQueue& queue_;
  const std::uint64_t id_;
  net::io_context ioc_;
  websocket::stream<Tcp::socket> ws_;
  net::steady_timer timer_;
  beast::flat_buffer in_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  std::optional<websocket::close_code> close_;  // asked for: sent once the outbox is empty
  bool closing_ = false;
  bool gone_ = false;
  State state_ = State::kHash;
  std::thread job_;
};

GradioWsQueue::GradioWsQueue(DemoApp& app, GradioWsOptions options)
    : app_(app), options_(options) {}

GradioWsQueue::~GradioWsQueue() {
  Stop();
  std::unique_lock lock(mutex_);
  released_.wait(lock, [&] { return slots_ == 0; });
}

bool GradioWsQueue::Handles(const HttpRequest& request) { return request.Path() == "/queue/join"; }

HttpResponse GradioWsQueue::Handle(const HttpRequest& request) {
  if (request.method != "GET") {
    HttpResponse r = ErrorResponse(405, "use GET /queue/join with a WebSocket upgrade");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  if (!IsWebSocketUpgrade(request)) {
    return ErrorResponse(400, "/queue/join is Gradio 3's WebSocket queue: send Upgrade: websocket");
  }
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return ErrorResponse(503, "shutting down");
    if (slots_ >= options_.max_connections) {
      return ErrorResponse(503, "the queue is full: try again later");
    }
    ++slots_;
    slot = std::make_shared<Slot>(this);
  }
  HttpResponse r;
  r.takeover = [this, slot, request](int fd, const std::string& early) {
    std::uint64_t id;
    std::optional<Session> session;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      id = next_++;
      session.emplace(*this, id);
      open_[id] = &*session;
    }
    session->Run(fd, request, early);
    std::lock_guard lock(mutex_);
    open_.erase(id);
  };
  return r;
}

void GradioWsQueue::Stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  for (const auto& [id, session] : open_) session->GoAway();
}

std::pair<std::size_t, std::size_t> GradioWsQueue::JoinLine(std::uint64_t id,
                                                            std::function<void()> turn) {
  std::lock_guard lock(mutex_);
  line_.push_back(Waiting{id, std::move(turn)});
  if (line_.size() == 1) {
    line_.front().turn();
    return {0, 1};
  }
  return {line_.size() - 2, line_.size() - 1};
}

void GradioWsQueue::LeaveLine(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(line_.begin(), line_.end(), [&](const Waiting& w) { return w.id == id; });
  if (it == line_.end()) return;
  const bool had_turn = it == line_.begin();
  line_.erase(it);
  if (had_turn && !line_.empty()) line_.front().turn();
}

}  // namespace vg::demo
