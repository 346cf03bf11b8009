#include "proc/ports.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace vg {

std::vector<std::uint64_t> ParseListenInodes(std::string_view text, int port) {
  std::vector<std::uint64_t> out;
  std::istringstream in{std::string(text)};
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
    if (!(f >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >>
          inode)) {
      continue;
    }
    if (state != "0A") continue;
    auto colon = local.rfind(':');
    if (colon == std::string::npos) continue;
    long p = std::strtol(local.c_str() + colon + 1, nullptr, 16);
    if (p != port) continue;
    out.push_back(std::strtoull(inode.c_str(), nullptr, 10));
  }
  return out;
}

Result<std::vector<PortListener>> FindPortListeners(int port, const std::string& proc_root) {
  std::set<std::uint64_t> inodes;
  for (const char* file : {"/net/tcp", "/net/tcp6"}) {
    std::ifstream f(proc_root + file);
    if (!f) continue;
    std::stringstream ss;
    ss << f.rdbuf();
    for (std::uint64_t i : ParseListenInodes(ss.str(), port)) inodes.insert(i);
  }
  std::vector<PortListener> out;
  if (inodes.empty()) return out;
  std::set<std::uint64_t> found;
  DIR* proc = opendir(proc_root.c_str());
  if (!proc) return Fail(ErrorCode::kIo, "cannot read " + proc_root);
  while (dirent* d = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(d->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::string fd_dir = proc_root + "/" + d->d_name + "/fd";
    DIR* fds = opendir(fd_dir.c_str());
    if (!fds) continue;
    while (dirent* e = readdir(fds)) {
      if (e->d_name[0] == '.') continue;
      char buf[64];
      ssize_t n = readlinkat(dirfd(fds), e->d_name, buf, sizeof buf - 1);
      if (n <= 9) continue;
      buf[n] = '\0';
      std::string_view link(buf, static_cast<std::size_t>(n));
      if (link.substr(0, 8) != "socket:[") continue;
      std::uint64_t inode = std::strtoull(buf + 8, nullptr, 10);
      if (inodes.count(inode) && !found.count(inode)) {
        found.insert(inode);
        out.push_back({port, inode, static_cast<pid_t>(pid)});
      }
    }
    closedir(fds);
  }
  closedir(proc);
  for (std::uint64_t i : inodes) {
    if (!found.count(i)) out.push_back({port, i, 0});
  }
  return out;
}

}  // namespace vg
