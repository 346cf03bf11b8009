#include "daemon/alerts.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "daemon/http_probe.h"
#include "proc/pidfd.h"
#include "util/unique_fd.h"

extern char** environ;

namespace vg {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct AlertDispatcher::Slot {
  AlertSpec spec;
  AlertDedup dedup;
  std::map<std::string, nlohmann::json> last;  // dedup key → the last event counted
  explicit Slot(AlertSpec s) : spec(std::move(s)), dedup(spec.dedup) {}
  std::string Name() const {
    return spec.webhook.empty() ? "command " + spec.command.front() : "webhook " + spec.webhook;
  }
};

namespace {

std::string DedupKey(const EventRecord& e) {
  std::string signature;
  if (e.data.is_object() && e.data.contains("incident") && e.data["incident"].is_object())
    signature = e.data["incident"].value("signature", "");
  return e.service + "\n" + e.kind + "\n" + signature;
}

// Starts `argv` without a shell, in its own session, with a pipe on stdin; default signal
// dispositions and an empty mask. Returns the pid and the pipe's write end.
Result<std::pair<pid_t, int>> SpawnWithStdin(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Fail(ErrorCode::kIo, "pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigfillset(&defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(fds[0]);
  if (rc != 0) {
    ::close(fds[1]);
    return Fail(ErrorCode::kIo, "cannot start '" + argv[0] + "': " + std::strerror(rc));
  }
  return std::make_pair(pid, fds[1]);
}

// One attempt with a command: "" on success, else what went wrong.
asio::awaitable<std::string> RunCommand(asio::io_context& io, std::vector<std::string> argv,
                                        std::string payload, Millis timeout, ChildWatch children) {
  auto started = SpawnWithStdin(argv);
  if (!started) co_return started.error().message;
  const pid_t pid = started->first;
  children.watch(pid);
  // Shared with the deadline's handler, which may run after this frame is gone.
  struct Shared {
    UniqueFd pidfd;
    bool timed_out = false;
    std::unique_ptr<asio::posix::stream_descriptor> in;
  };
  auto sh = std::make_shared<Shared>();
  sh->pidfd = UniqueFd(PidfdOpen(pid));
  sh->in = std::make_unique<asio::posix::stream_descriptor>(io, started->second);
  asio::steady_timer deadline(io, timeout);
  deadline.async_wait([sh](const boost::system::error_code& e) {
    if (e || !sh->pidfd.ok()) return;
    sh->timed_out = true;
    boost::system::error_code ignored;
    sh->in->close(ignored);
    PidfdSendSignal(sh->pidfd.get(), SIGKILL);
  });
  boost::system::error_code ec;
  co_await asio::async_write(*sh->in, asio::buffer(payload),
                             asio::redirect_error(asio::use_awaitable, ec));
  boost::system::error_code ignored;
  sh->in->close(ignored);  // EOF: the command has read everything (or did not want it)
  asio::steady_timer poll(io);
  while (sh->pidfd.ok() && !PidfdExited(sh->pidfd.get()) && !sh->timed_out) {
    poll.expires_after(5ms);
    co_await poll.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  // Killed at the deadline: wait (bounded) for the exit so that the status is collected.
  for (int i = 0; i < 200 && sh->timed_out && !PidfdExited(sh->pidfd.get()); ++i) {
    poll.expires_after(5ms);
    co_await poll.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  deadline.cancel();
  sh->pidfd.Reset();
  int status = -1;
  int st = 0;
  if (::waitpid(pid, &st, WNOHANG) == pid) {
    status = st;
  } else {
    for (int i = 0; i < 100; ++i) {  // the SIGCHLD handler runs on this loop: let it
      if (auto s = children.take(pid)) {
        status = *s;
        break;
      }
      poll.expires_after(2ms);
      co_await poll.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }
  (void)children.take(pid);
  if (sh->timed_out) co_return "no exit within " + FormatSeconds(timeout) + "; killed";
  if (status < 0) co_return "exit status unknown";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) co_return "";
  if (WIFEXITED(status)) co_return "exited with status " + std::to_string(WEXITSTATUS(status));
  co_return "killed by signal " + std::to_string(WTERMSIG(status));
}

}  // namespace

AlertDispatcher::AlertDispatcher(asio::io_context& io, EventHub& events, ChildWatch children)
    : io_(io),
      events_(events),
      children_(std::move(children)),
      timer_(io),
      alive_(std::make_shared<bool>(true)) {
  subscription_ = events_.Subscribe([this](const EventRecord& e) { OnEvent(e); });
}

AlertDispatcher::~AlertDispatcher() {
  *alive_ = false;
  events_.Unsubscribe(subscription_);
}

void AlertDispatcher::Configure(const std::vector<AlertSpec>& specs) {
  slots_.clear();
  for (const AlertSpec& s : specs) slots_.push_back(std::make_shared<Slot>(s));
  timer_.cancel();
}

void AlertDispatcher::OnEvent(const EventRecord& e) {
  const SteadyTime now = std::chrono::steady_clock::now();
  for (const auto& slot : slots_) {
    if (!AlertWants(slot->spec.kinds, slot->spec.services, e.service, e.kind)) continue;
    const std::string key = DedupKey(e);
    nlohmann::json payload = EventJson(e);
    if (slot->dedup.Offer(key, e.id, now)) {
      payload["count"] = 1;
      payload["alert"] = {{"summary", false}, {"dedup_s", ToSeconds(slot->spec.dedup)}};
      Send(slot, std::move(payload));
    } else {
      slot->last[key] = std::move(payload);
      ArmTimer();
    }
  }
}

void AlertDispatcher::ArmTimer() {
  std::optional<SteadyTime> next;
  for (const auto& slot : slots_) {
    auto n = slot->dedup.NextDue();
    if (n && (!next || *n < *next)) next = n;
  }
  if (!next) return;
  timer_.expires_at(*next);
  std::weak_ptr<bool> alive = alive_;
  timer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired() || !*alive.lock()) return;
    const SteadyTime now = std::chrono::steady_clock::now();
    for (const auto& slot : slots_) {
      for (const AlertDedup::Summary& s : slot->dedup.Due(now)) {
        auto it = slot->last.find(s.key);
        if (it == slot->last.end()) continue;
        nlohmann::json payload = std::move(it->second);
        slot->last.erase(it);
        payload["count"] = s.count;
        payload["alert"] = {{"summary", true}, {"dedup_s", ToSeconds(slot->spec.dedup)}};
        Send(slot, std::move(payload));
      }
    }
    ArmTimer();
  });
}

void AlertDispatcher::Send(std::shared_ptr<Slot> slot, nlohmann::json payload) {
  auto deliver = [](asio::io_context& io, EventHub& events, ChildWatch children,
                    std::shared_ptr<Slot> slot, nlohmann::json payload, std::shared_ptr<bool> alive,
                    std::shared_ptr<Totals> totals) -> asio::awaitable<void> {
    const std::string body = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string error;
    int attempts = 0;
    for (int attempt = 0; attempt <= slot->spec.retries; ++attempt) {
      if (attempt > 0) {
        asio::steady_timer wait(io, AlertRetryDelay(attempt));
        boost::system::error_code ec;
        co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!*alive) co_return;
      }
      ++attempts;
      if (!slot->spec.webhook.empty()) {
        HttpProbeResult r =
            co_await HttpRequestOnce(io, "POST", slot->spec.webhook, slot->spec.timeout, body);
        if (r.ok()) {
          ++totals->delivered;
          co_return;
        }
        error = r.status != 0 ? "answered " + std::to_string(r.status) : r.error;
      } else {
        error = co_await RunCommand(io, slot->spec.command, body, slot->spec.timeout, children);
        if (error.empty()) {
          ++totals->delivered;
          co_return;
        }
      }
      if (!*alive) co_return;
    }
    if (!*alive) co_return;
    ++totals->failed;
    nlohmann::json data = {{"receiver", slot->Name()},
                           {"config", slot->spec.where},
                           {"attempts", attempts},
                           {"error", error},
                           {"event_id", payload.value("id", 0)},
                           {"event_kind", payload.value("kind", "")},
                           {"count", payload.value("count", 1)}};
    events.Emit(payload.value("service", ""), payload.value("instance", ""), "alert-failed",
                "alert for " + payload.value("kind", std::string("event")) + " #" +
                    std::to_string(payload.value("id", 0)) + " not delivered to " + slot->Name() +
                    " after " + std::to_string(attempts) + " attempt(s): " + error,
                std::move(data));
  };
  asio::co_spawn(
      io_, deliver(io_, events_, children_, std::move(slot), std::move(payload), alive_, totals_),
      // Not `this`: the delivery may end after the dispatcher is gone.
      [alive = alive_, hub = &events_](const std::exception_ptr& e) {
        if (!e || !*alive) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          hub->Log(std::string("internal error delivering an alert: ") + ex.what());
        }
      });
}

}  // namespace vg
