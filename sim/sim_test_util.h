// Helpers for the simulated GPU's tests: a temporary state directory, child processes that are
// always killed and reaped, and polling. The test process becomes a child subreaper so forked
// grandchildren (a ghost's holders) are reparented to it and can be reaped too.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace vg::sim::testing {

inline constexpr std::uint64_t kGiB = 1ull << 30;
inline constexpr std::uint64_t kMiB = 1ull << 20;

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "vg-sim-test.XXXXXX").string();
    char* made = ::mkdtemp(templ.data());
    if (made != nullptr) path_ = made;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Processes a test started, directly or as grandchildren: SIGKILLed and reaped on destruction.
class Children {
 public:
  Children() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }
  Children(const Children&) = delete;
  Children& operator=(const Children&) = delete;
  ~Children() { KillAll(); }

  void Add(pid_t pid) {
    if (pid > 0) pids_.push_back(pid);
  }
  // SIGKILL and reap one; returns once it is gone.
  void Kill(pid_t pid) {
    ::kill(pid, SIGKILL);
    Reap(pid);
  }
  // Waits for `pid` and returns its wait status, or nullopt when it is not our child.
  std::optional<int> Reap(pid_t pid) {
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    std::erase(pids_, pid);
    if (r != pid) return std::nullopt;
    return status;
  }
  // Kills every process the test started and, since this process is a subreaper, every
  // descendant that was reparented to it (a worker whose parent died), even ones never added.
  void KillAll() {
    for (pid_t pid : std::vector<pid_t>(pids_)) Kill(pid);
    for (int round = 0; round < 100; ++round) {
      std::vector<pid_t> orphans = OwnChildren();
      if (orphans.empty()) break;
      for (pid_t pid : orphans) Kill(pid);
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }

 private:
  // Children of this process, from /proc/<pid>/stat field 4.
  static std::vector<pid_t> OwnChildren() {
    std::vector<pid_t> out;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return out;
    while (dirent* e = ::readdir(proc)) {
      std::string name = e->d_name;
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      // Plain read(): the process may vanish meanwhile (ESRCH), which must not throw.
      int fd = ::open(("/proc/" + name + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      char buf[1024];
      ssize_t n = ::read(fd, buf, sizeof buf - 1);
      ::close(fd);
      if (n <= 0) continue;
      buf[n] = '\0';
      const char* paren = std::strrchr(buf, ')');
      char state = 0;
      int ppid = 0;
      if (paren != nullptr && std::sscanf(paren + 1, " %c %d", &state, &ppid) == 2 &&
          ppid == ::getpid()) {
        out.push_back(static_cast<pid_t>(std::stoi(name)));
      }
    }
    ::closedir(proc);
    return out;
  }

  std::vector<pid_t> pids_;
};

// Polls `done` every millisecond for up to `limit`.
inline bool PollUntil(const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

inline std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace vg::sim::testing
