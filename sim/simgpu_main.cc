// vg-simgpu: creates simulated GPUs and runs simulated CUDA processes on them.
//
//   vg-simgpu create [--dir D] [--gpus N] [--total SIZE] [--name NAME] [--overhead SIZE]
//                    [--reserved SIZE]
//   vg-simgpu run [--dir D] [--gpu K] [--alloc SIZE] [--fork-worker] [--ignore-term]
//                 [--term-delay DUR] [--exit-after DUR | --crash-after DUR] [--ready-file FILE]
//                 [--new-session]
//   vg-simgpu state [--dir D]
//
// --dir defaults to $VRAMGUARD_FAKE_GPU_DIR. Exit status: 0 success, 1 failure, 2 bad usage,
// 3 the allocation did not fit. `run` prints one line when ready,
//   vg-simgpu: pid P holds SIZE on GPU K[, worker pid W]
// and writes "P\n" or "P W\n" to --ready-file atomically (temporary file + rename).
// docs/simulated-gpu.md describes the state directory and every option.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim_state.h"
#include "util/error.h"
#include "util/units.h"

namespace {
namespace fs = std::filesystem;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitOutOfMemory = 3;

constexpr const char* kUsage =
    "usage: vg-simgpu create [--dir D] [--gpus N] [--total SIZE] [--name NAME] [--overhead SIZE] "
    "[--reserved SIZE]\n"
    "       vg-simgpu run [--dir D] [--gpu K] [--alloc SIZE] [--fork-worker] [--ignore-term] "
    "[--term-delay DUR] [--exit-after DUR | --crash-after DUR] [--ready-file FILE] "
    "[--new-session]\n"
    "       vg-simgpu state [--dir D]\n";

// A usage error: one line on stderr, exit 2.
struct UsageError {
  std::string message;
};

// Flags of one subcommand: options that take a value and switches that do not.
struct Args {
  std::map<std::string, std::string> values;
  std::set<std::string> switches;

  std::optional<std::string> Get(const std::string& name) const {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
  bool Has(const std::string& name) const { return switches.contains(name); }
};

std::optional<UsageError> ParseArgs(int argc, char** argv, int first,
                                    const std::set<std::string>& value_flags,
                                    const std::set<std::string>& switch_flags, Args* out) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_inline = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline = true;
    }
    if (value_flags.contains(arg)) {
      if (!has_inline) {
        if (i + 1 >= argc) return UsageError{arg + " needs a value"};
        value = argv[++i];
      }
      if (out->values.contains(arg)) return UsageError{arg + " given twice"};
      out->values[arg] = value;
    } else if (switch_flags.contains(arg) && !has_inline) {
      out->switches.insert(arg);
    } else {
      return UsageError{"unknown argument '" + std::string(argv[i]) + "'"};
    }
  }
  return std::nullopt;
}

int Fail(const std::string& message, int status = kExitFailure) {
  std::fprintf(stderr, "vg-simgpu: %s\n", message.c_str());
  return status;
}

int FailWith(const vg::Error& error, int status = kExitFailure) {
  std::string line = error.message;
  if (!error.hint.empty()) line += " (" + error.hint + ")";
  return Fail(line, status);
}

// --dir, or $VRAMGUARD_FAKE_GPU_DIR.
std::optional<fs::path> DirOf(const Args& args) {
  if (auto d = args.Get("--dir")) return fs::path(*d);
  auto env = vg::sim::DirFromEnv();
  if (!env) return std::nullopt;
  return *env;
}

constexpr const char* kNoDir = "no state directory: pass --dir or set VRAMGUARD_FAKE_GPU_DIR";

std::optional<unsigned> ParseCount(const std::string& text) {
  if (text.empty() || text.size() > 6) return std::nullopt;
  unsigned v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v;
}

int Create(int argc, char** argv) {
  Args args;
  if (auto e = ParseArgs(argc, argv, 2,
                         {"--dir", "--gpus", "--total", "--name", "--overhead", "--reserved"}, {},
                         &args)) {
    return Fail(e->message, kExitUsage);
  }
  auto dir = DirOf(args);
  if (!dir) return Fail(kNoDir, kExitUsage);
  vg::sim::CreateOptions options;
  if (auto v = args.Get("--gpus")) {
    auto n = ParseCount(*v);
    if (!n || *n > 64)
      return Fail("--gpus wants a number from 0 to 64, not '" + *v + "'", kExitUsage);
    options.count = *n;
  }
  for (auto [flag, target] :
       {std::pair{"--total", &options.total}, std::pair{"--overhead", &options.overhead},
        std::pair{"--reserved", &options.reserved}}) {
    if (auto v = args.Get(flag)) {
      auto b = vg::ParseBytes(*v);
      if (!b) return Fail(std::string(flag) + ": " + b.error().message, kExitUsage);
      *target = *b;
    }
  }
  if (auto v = args.Get("--name")) options.name = *v;
  if (auto r = vg::sim::CreateGpus(*dir, options); !r) {
    return FailWith(r.error(),
                    r.error().code == vg::ErrorCode::kInvalidArgument ? kExitUsage : kExitFailure);
  }
  return 0;
}

int State(int argc, char** argv) {
  Args args;
  if (auto e = ParseArgs(argc, argv, 2, {"--dir"}, {}, &args)) return Fail(e->message, kExitUsage);
  auto dir = DirOf(args);
  if (!dir) return Fail(kNoDir, kExitUsage);
  auto devices = vg::sim::ReadDevices(*dir);
  if (!devices) return FailWith(devices.error());
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& dev : *devices) {
    auto contexts = vg::sim::ListLiveContexts(*dir, dev.index);
    if (!contexts) return FailWith(contexts.error());
    vg::sim::Usage usage = vg::sim::ComputeUsage(dev, *contexts);
    nlohmann::json ctxs = nlohmann::json::array();
    for (const auto& c : *contexts) {
      ctxs.push_back({{"pid", c.pid},
                      {"allocated_bytes", c.allocated_bytes},
                      {"used_bytes", c.allocated_bytes + dev.context_overhead_bytes}});
    }
    gpus.push_back({{"index", dev.index},
                    {"name", dev.name},
                    {"uuid", dev.uuid},
                    {"minor", dev.minor},
                    {"total_bytes", usage.total_bytes},
                    {"reserved_bytes", usage.reserved_bytes},
                    {"used_bytes", usage.used_bytes},
                    {"free_bytes", usage.free_bytes},
                    {"contexts", ctxs}});
  }
  std::cout << nlohmann::json{{"gpus", gpus}}.dump(2) << std::endl;
  return 0;
}

void SleepFor(std::chrono::milliseconds d) {
  timespec ts{static_cast<time_t>(d.count() / 1000), static_cast<long>(d.count() % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// The forked worker: no "CUDA calls", it only holds what it inherited (descriptors, mapping)
// until it is killed. It never returns.
[[noreturn]] void WorkerMain(bool ignore_term, int ready_fd) {
  prctl(PR_SET_NAME, "vg-sim-worker", 0, 0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGTERM, ignore_term ? SIG_IGN : SIG_DFL);
  char byte = 'r';
  (void)!write(ready_fd, &byte, 1);
  close(ready_fd);
  for (;;) pause();
}

bool WriteReadyFile(const fs::path& path, const std::string& content) {
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(getpid());
  FILE* f = std::fopen(tmp.c_str(), "we");
  if (f == nullptr) return false;
  bool ok = std::fputs(content.c_str(), f) >= 0;
  ok = (std::fclose(f) == 0) && ok;
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) ok = false;
  if (!ok) std::remove(tmp.c_str());
  return ok;
}

int Run(int argc, char** argv) {
  Args args;
  if (auto e = ParseArgs(argc, argv, 2,
                         {"--dir", "--gpu", "--alloc", "--term-delay", "--exit-after",
                          "--crash-after", "--ready-file"},
                         {"--fork-worker", "--ignore-term", "--new-session"}, &args)) {
    return Fail(e->message, kExitUsage);
  }
  auto dir = DirOf(args);
  if (!dir) return Fail(kNoDir, kExitUsage);
  unsigned gpu = 0;
  if (auto v = args.Get("--gpu")) {
    auto n = ParseCount(*v);
    if (!n) return Fail("--gpu wants a GPU index, not '" + *v + "'", kExitUsage);
    gpu = *n;
  }
  vg::Bytes alloc;
  if (auto v = args.Get("--alloc")) {
    auto b = vg::ParseBytes(*v);
    if (!b) return Fail("--alloc: " + b.error().message, kExitUsage);
    alloc = *b;
  }
  auto duration = [&](const char* flag) -> std::optional<std::optional<vg::Millis>> {
    auto v = args.Get(flag);
    if (!v) return std::optional<vg::Millis>{};
    auto d = vg::ParseDuration(*v);
    if (!d) return std::nullopt;
    return std::optional<vg::Millis>{*d};
  };
  auto term_delay = duration("--term-delay");
  auto exit_after = duration("--exit-after");
  auto crash_after = duration("--crash-after");
  if (!term_delay || !exit_after || !crash_after) {
    return Fail("invalid duration: write it like 10s, 500ms or 2m", kExitUsage);
  }
  if (*exit_after && *crash_after) {
    return Fail("--exit-after and --crash-after exclude each other", kExitUsage);
  }
  bool ignore_term = args.Has("--ignore-term");
  if (ignore_term && *term_delay) {
    return Fail("--ignore-term and --term-delay exclude each other", kExitUsage);
  }
  bool fork_worker = args.Has("--fork-worker");
  auto ready_file = args.Get("--ready-file");

  if (args.Has("--new-session") && setsid() < 0) {
    return Fail(std::string("setsid failed: ") + std::strerror(errno) +
                    " (already a process group leader: start it from a script or with setsid(1))",
                kExitFailure);
  }
  if (ignore_term) signal(SIGTERM, SIG_IGN);
  sigset_t term_set;
  sigemptyset(&term_set);
  sigaddset(&term_set, SIGTERM);
  if (*term_delay) sigprocmask(SIG_BLOCK, &term_set, nullptr);  // taken by sigtimedwait below

  auto context = vg::sim::SimContext::Open(*dir, gpu);
  if (!context) return FailWith(context.error());
  if (alloc.count() > 0) {
    if (auto r = context->Allocate(alloc); !r) {
      return FailWith(r.error(),
                      r.error().code == vg::ErrorCode::kRefused ? kExitOutOfMemory : kExitFailure);
    }
  }

  pid_t worker = 0;
  if (fork_worker) {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return Fail(std::string("pipe: ") + std::strerror(errno));
    std::fflush(nullptr);
    worker = fork();
    if (worker < 0) return Fail(std::string("fork: ") + std::strerror(errno));
    if (worker == 0) {
      close(pipe_fds[0]);
      WorkerMain(ignore_term, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    char byte;
    while (read(pipe_fds[0], &byte, 1) < 0 && errno == EINTR) {
    }
    close(pipe_fds[0]);
  }

  pid_t self = getpid();
  std::string line = "vg-simgpu: pid " + std::to_string(self) + " holds " +
                     vg::FormatBytes(context->allocated()) + " on GPU " + std::to_string(gpu);
  std::string ready = std::to_string(self);
  if (worker > 0) {
    line += ", worker pid " + std::to_string(worker);
    ready += " " + std::to_string(worker);
  }
  // The ready file first: whoever saw the line can read the file.
  if (ready_file && !WriteReadyFile(*ready_file, ready + "\n")) {
    return Fail("cannot write ready file " + *ready_file + ": " + std::strerror(errno));
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);

  std::optional<vg::Millis> limit = *exit_after ? *exit_after : *crash_after;
  auto deadline = std::chrono::steady_clock::now() + limit.value_or(vg::Millis(0));
  for (;;) {
    std::optional<vg::Millis> left;
    if (limit) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      left = std::chrono::ceil<vg::Millis>(deadline - now);
    }
    if (*term_delay) {
      timespec ts{};
      if (left) ts = {static_cast<time_t>(left->count() / 1000), (left->count() % 1000) * 1000000};
      int sig = left ? sigtimedwait(&term_set, nullptr, &ts) : sigwaitinfo(&term_set, nullptr);
      if (sig == SIGTERM) {
        SleepFor(**term_delay);  // the slow graceful shutdown
        return 0;
      }
    } else if (left) {
      SleepFor(*left);
    } else {
      pause();
    }
  }
  if (*crash_after) {
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "create") return Create(argc, argv);
  if (command == "run") return Run(argc, argv);
  if (command == "state") return State(argc, argv);
  return Fail("unknown command '" + command + "' (want create, run or state)", kExitUsage);
}
