#include "cli/top.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include <fmt/format.h>

#include "cli/daemon_client.h"
#include "cli/machine.h"
#include "cli/top_view.h"
#include "util/units.h"

namespace vg {
namespace {

using nlohmann::json;
using Steady = std::chrono::steady_clock;

constexpr auto kRefresh = std::chrono::milliseconds(1000);
constexpr int kJobsWithEta = 5;  // queued jobs whose ETA top asks for, each refresh

volatile std::sig_atomic_t g_top_quit = 0;
volatile std::sig_atomic_t g_top_resized = 0;
volatile std::sig_atomic_t g_top_suspend = 0;

void OnTopSignal(int sig) {
  if (sig == SIGWINCH) {
    g_top_resized = 1;
  } else if (sig == SIGTSTP) {
    g_top_suspend = 1;
  } else {
    g_top_quit = 1;
  }
}

void WriteAll(const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(STDOUT_FILENO, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

// Raw mode and the alternate screen for as long as it lives; the terminal as it was afterwards,
// whatever way the command ends (a key, a signal, an error, an exception), and while it is
// stopped (Ctrl-Z: Restore, stop, Enter again).
class RawTerminal {
 public:
  RawTerminal() = default;
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  ~RawTerminal() { Restore(); }

  Result<void> Enter() {
    if (tcgetattr(STDIN_FILENO, &saved_) != 0)
      return Fail(ErrorCode::kIo, "cannot read the terminal's settings",
                  "run top in a terminal, or use --once");
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);  // keys at once, not echoed; ISIG stays
    raw.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    struct sigaction sa {};
    sa.sa_handler = OnTopSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: poll() returns at once with EINTR
    for (int i = 0; i < kSignals; ++i) sigaction(kSignal[i], &sa, &old_[i]);
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0) {
      for (int i = 0; i < kSignals; ++i) sigaction(kSignal[i], &old_[i], nullptr);
      return Fail(ErrorCode::kIo, "cannot put the terminal in raw mode",
                  "run top in a terminal, or use --once");
    }
    active_ = true;
    WriteAll("\033[?1049h\033[?25l\033[H\033[2J");  // alternate screen, cursor hidden
    return {};
  }

  void Restore() {
    if (!active_) return;
    active_ = false;
    WriteAll("\033[0m\033[?25h\033[?1049l");
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
    for (int i = 0; i < kSignals; ++i) sigaction(kSignal[i], &old_[i], nullptr);
  }

 private:
  static constexpr int kSignals = 5;
  static constexpr int kSignal[kSignals] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP};
  termios saved_{};
  struct sigaction old_[kSignals] {};
  bool active_ = false;
};

std::string Clock() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

// The local view (`ps`'s path) and what the daemon says, if one answers.
Result<TopData> Collect(Machine& m) {
  auto look = m.Look(TableRows::kHolders);
  if (!look) return std::unexpected(look.error());
  TopData d;
  d.view = std::move(look->view);
  d.clock = Clock();
  auto found = DaemonApi();
  if (!found) {
    d.daemon_note = found.error().message + " (services appear under `vramguard up`)";
    return d;
  }
  ApiClient& api = *found;
  auto st = api.Request("GET", "/v1/status", std::nullopt, std::chrono::seconds(2));
  if (st && st->status == 200) {
    d.status = st->json;
    auto jobs = api.Request("GET", "/v1/jobs?state=queued,starting,running&limit=50", std::nullopt,
                            std::chrono::seconds(2));
    if (jobs && jobs->status == 200 && jobs->json.contains("jobs")) d.jobs = jobs->json["jobs"];
    // The first queued jobs in full: their ETA is computed by GET /v1/jobs/{id} alone.
    int detailed = 0;
    for (json& j : d.jobs) {
      if (j.value("state", "") != "queued" || detailed++ >= kJobsWithEta) continue;
      auto one = api.Request("GET", "/v1/jobs/" + std::to_string(j.value("id", 0LL)), std::nullopt,
                             std::chrono::seconds(2));
      if (one && one->status == 200) j = one->json;
    }
  } else {
    d.daemon_note = "the daemon did not answer: " +
                    (st ? "HTTP " + std::to_string(st->status) : st.error().message);
  }
  return d;
}

bool ColorWanted() {
  const char* no = std::getenv("NO_COLOR");
  if (no && *no) return false;
  const char* term = std::getenv("TERM");
  return !(term && std::string(term) == "dumb");
}

struct TermSize {
  unsigned width = 80, height = 24;
};

TermSize SizeOf(int fd) {
  TermSize s;
  winsize ws{};
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
    s.width = ws.ws_col;
    s.height = ws.ws_row;
  }
  return s;
}

class TopSession {
 public:
  explicit TopSession(Machine& m) : m_(m) {}

  Result<int> Run() {
    RawTerminal term;
    if (auto r = term.Enter(); !r) return std::unexpected(r.error());
    g_top_quit = 0;
    g_top_resized = 0;
    g_top_suspend = 0;
    size_ = SizeOf(STDOUT_FILENO);
    auto next = Steady::now();
    while (!g_top_quit && !quit_) {
      if (g_top_suspend) {  // Ctrl-Z: the terminal as it was while stopped, raw again after fg
        g_top_suspend = 0;
        term.Restore();
        std::raise(SIGTSTP);  // the default action now: stopped here until SIGCONT
        if (auto r = term.Enter(); !r) return std::unexpected(r.error());
        size_ = SizeOf(STDOUT_FILENO);
      }
      if (Steady::now() >= next) {
        Refresh();
        next = Steady::now() + kRefresh;
      }
      if (g_top_resized) {
        g_top_resized = 0;
        size_ = SizeOf(STDOUT_FILENO);
      }
      Draw();
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - Steady::now());
      pollfd p{STDIN_FILENO, POLLIN, 0};
      const int n = ::poll(&p, 1, static_cast<int>(std::max<long long>(0, wait.count())));
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (n == 0) continue;
      if (p.revents & (POLLHUP | POLLERR)) break;
      char buf[64];
      const ssize_t got = ::read(STDIN_FILENO, buf, sizeof buf);
      if (got == 0) break;  // the terminal went away
      if (got < 0) continue;
      Keys(std::string_view(buf, static_cast<std::size_t>(got)));
    }
    term.Restore();
    return 0;
  }

 private:
  void Refresh() {
    auto d = Collect(m_);
    if (!d) {
      message_ = "cannot read the machine: " + d.error().message;
      return;
    }
    data_ = std::move(*d);
    rows_ = TopRows(data_);
    if (rows_.empty()) {
      index_ = 0;
      selected_.clear();
      return;
    }
    auto it = std::find_if(rows_.begin(), rows_.end(),
                           [&](const TopRow& r) { return r.key == selected_; });
    if (it != rows_.end()) {
      index_ = static_cast<std::size_t>(it - rows_.begin());
    } else {
      index_ = std::min(index_, rows_.size() - 1);
      selected_ = rows_[index_].key;
    }
  }

  void Draw() {
    TopLayout l;
    l.width = size_.width;
    l.height = size_.height;
    l.color = color_;
    l.selected = selected_;
    l.message = message_;
    l.help = help_;
    std::string out = "\033[H";
    const std::vector<std::string> lines = RenderTop(data_, l);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      out += lines[i] + "\033[K";
      if (i + 1 < lines.size()) out += "\r\n";
    }
    out += "\033[J";
    WriteAll(out);
  }

  void Move(int by) {
    if (rows_.empty()) return;
    const long n = static_cast<long>(rows_.size());
    const long i = std::clamp(static_cast<long>(index_) + by, 0L, n - 1);
    index_ = static_cast<std::size_t>(i);
    selected_ = rows_[index_].key;
  }

  const TopRow* Selected() const {
    return rows_.empty() || index_ >= rows_.size() ? nullptr : &rows_[index_];
  }

  void Keys(std::string_view in) {
    for (std::size_t i = 0; i < in.size(); ++i) {
      char c = in[i];
      if (c == '\033' && i + 2 < in.size() && in[i + 1] == '[') {
        const char code = in[i + 2];
        i += 2;
        if (confirm_) {
          Cancel();
          continue;
        }
        if (code == 'A') Move(-1);
        if (code == 'B') Move(1);
        continue;
      }
      Key(c);
    }
  }

  void Cancel() {
    confirm_ = false;
    message_ = "not reaped";
  }

  void Key(char c) {
    if (confirm_) {
      if (c == 'y' || c == 'Y') {
        confirm_ = false;
        Reap();
      } else {
        Cancel();
      }
      return;
    }
    if (help_) {
      help_ = false;
      if (c != 'q' && c != 3) return;
    }
    switch (c) {
      case 'q':
      case 3:  // Ctrl-C where the terminal does not send SIGINT
        quit_ = true;
        break;
      case 'j':
        Move(1);
        break;
      case 'k':
        Move(-1);
        break;
      case '?':
        help_ = true;
        break;
      case 'r':
      case 's':
        ServiceOp(c == 'r' ? "restart" : "stop");
        break;
      case 'K':
        AskReap();
        break;
      default:
        break;
    }
  }

  void ServiceOp(const std::string& op) {
    const TopRow* r = Selected();
    if (!r || r->service.empty()) {
      message_ = op + ": select a service (or one of its processes) first";
      return;
    }
    if (!data_.status) {
      message_ = op + ": no daemon answers; services need `vramguard up`";
      return;
    }
    auto a = CallDaemon("POST", "/v1/services/" + r->service + "/" + op);
    message_ = a ? op + " " + r->service + ": requested (the daemon carries it out)"
                 : op + " " + r->service + " failed: " + a.error().message;
    Refresh();
  }

  void AskReap() {
    const TopRow* r = Selected();
    if (!r || !r->ghost) {
      message_ = "K reaps a ghost's holders: select a GHOST row first";
      return;
    }
    if (r->holders.empty()) {
      message_ = fmt::format("no live process holds ghost {}'s memory: nothing to reap", r->pid);
      return;
    }
    reap_pid_ = r->pid;
    reap_holders_ = r->holders;
    std::string who;
    for (pid_t h : r->holders) who += (who.empty() ? "" : " ") + std::to_string(h);
    message_ = fmt::format("reap {} (holding ghost {}'s {} on GPU {})? y/n", who, r->pid,
                           r->bytes ? FormatBytes(*r->bytes) : std::string("memory"), r->gpu);
    confirm_ = true;
  }

  // The same plan and executor as `vramguard reap --pid HOLDER…`.
  void Reap() {
    ReapRequest request;
    request.mode = ReapMode::kPids;
    request.pids = reap_holders_;
    message_ = "reaping…";
    Draw();
    auto planned = PlanReapNow(m_, request);
    if (!planned) {
      message_ = "reap refused: " + planned.error().message;
      return;
    }
    if (planned->plan.targets.empty()) {
      message_ = "nothing to reap" +
                 (planned->plan.notes.empty() ? std::string() : ": " + planned->plan.notes[0]);
      return;
    }
    ReapOptions options;
    options.on_wait = [&](const ReapWait& w) {
      message_ = w.killed ? "SIGKILL sent; waiting for the exit"
                          : fmt::format("SIGTERM sent, {}s left before SIGKILL",
                                        std::chrono::ceil<std::chrono::seconds>(w.left).count());
      Draw();
    };
    ReapOutcome out = ExecuteReap(m_, *planned, options, {});
    std::string what;
    for (const GpuRelease& g : out.gpus) {
      what += fmt::format("; GPU {}: {} {}", g.gpu, FormatBytes(g.freed),
                          g.verified ? "back, verified by the driver" : "NOT back");
    }
    message_ = fmt::format("reaped ghost {}'s holders ({} exited){}", reap_pid_,
                           out.terminated.size() + out.killed.size() + out.gone.size(), what);
    if (!out.survivors.empty()) message_ += "; some survived SIGKILL";
    Refresh();
  }

  Machine& m_;
  TopData data_;
  std::vector<TopRow> rows_;
  std::size_t index_ = 0;
  std::string selected_;
  std::string message_ = "? for help";
  bool help_ = false;
  bool confirm_ = false;
  bool quit_ = false;
  bool color_ = ColorWanted();
  pid_t reap_pid_ = 0;
  std::vector<pid_t> reap_holders_;
  TermSize size_;
};

}  // namespace

Result<int> RunTop(const TopOptions& o) {
  if (o.json && !o.once)
    return Fail(ErrorCode::kInvalidArgument, "--json needs --once",
                "`vramguard top --once --json` prints the data once as one JSON document");
  if (!o.once && !(isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)))
    return Fail(ErrorCode::kInvalidArgument, "top needs a terminal (stdin and stdout)",
                "use `vramguard top --once` for one frame, or --once --json for the data");
  Machine m;
  if (o.once) {
    auto d = Collect(m);
    if (!d) return std::unexpected(d.error());
    if (o.json) {
      std::cout << TopJson(*d).dump(2) << "\n";
      return 0;
    }
    TopLayout l;
    const bool tty = isatty(STDOUT_FILENO);
    l.width = tty ? SizeOf(STDOUT_FILENO).width : 0;
    l.color = tty && ColorWanted();
    l.message = "";
    std::vector<std::string> lines = RenderTop(*d, l);
    lines.resize(lines.size() - 2);  // no key line, no message line in a single frame
    for (const std::string& line : lines) std::cout << line << "\n";
    return 0;
  }
  TopSession session(m);
  return session.Run();
}

}  // namespace vg
