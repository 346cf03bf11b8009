#include "testing/fakes.h"

#include <algorithm>
#include <csignal>

namespace vg::testing {

Result<GpuSnapshot> FakeGpuProbe::Snapshot() {
  ++calls_;
  if (fail_next_) {
    Error e = *fail_next_;
    fail_next_.reset();
    return std::unexpected(e);
  }
  for (auto it = removals_.begin(); it != removals_.end();) {
    if (it->second-- > 0) {
      ++it;
      continue;
    }
    for (GpuInfo& g : snapshot_.gpus) {
      if (g.index != it->first.first) continue;
      auto& list = g.processes;
      auto gone = std::find_if(list.begin(), list.end(), [&](const GpuProcess& p) {
        return static_cast<pid_t>(p.pid) == it->first.second;
      });
      if (gone != list.end()) {
        if (gone->used) {
          g.free += *gone->used;
          g.used = g.used - *gone->used;
        }
        list.erase(gone);
      }
    }
    it = removals_.erase(it);
  }
  return snapshot_;
}

std::optional<Error> FakeProcessSource::TakeFailure() {
  std::optional<Error> e = std::move(fail_next);
  fail_next.reset();
  return e;
}

Result<std::vector<ProcessInfo>> FakeProcessSource::List(Detail) {
  ++list_calls;
  if (std::optional<Error> e = TakeFailure()) return std::unexpected(std::move(*e));
  return processes;
}

Result<std::optional<DeviceHolder>> FakeProcessSource::HolderOf(pid_t pid) {
  ++holder_of_calls;
  for (const DeviceHolder& h : holders.holders) {
    if (h.pid == pid) return h;
  }
  return std::nullopt;
}

Result<HolderScan> FakeProcessSource::ScanDeviceHolders() {
  ++scan_calls;
  if (std::optional<Error> e = TakeFailure()) return std::unexpected(std::move(*e));
  return holders;
}

Result<TableAndHolders> FakeProcessSource::ListWithHolders(TableRows rows) {
  ++list_with_holders_calls;
  last_rows = rows;
  if (std::optional<Error> e = TakeFailure()) return std::unexpected(std::move(*e));
  if (rows == TableRows::kAll) return TableAndHolders{processes, holders};
  TableAndHolders out{{}, holders};
  for (const ProcessInfo& p : processes) {
    for (const DeviceHolder& h : holders.holders) {
      if (h.pid == p.pid) {
        out.table.push_back(p);
        break;
      }
    }
  }
  return out;
}

Result<ProcessInfo> FakeProcessSource::Get(pid_t pid) {
  ++get_calls;
  for (const ProcessInfo& p : processes) {
    if (p.pid == pid) return p;
  }
  return Fail(ErrorCode::kNotFound, "no process " + std::to_string(pid));
}

Result<std::vector<pid_t>> FakeProcessSource::Children(pid_t pid) {
  ++children_calls;
  bool exists = false;
  std::vector<pid_t> out;
  for (const ProcessInfo& p : processes) {
    if (p.pid == pid) exists = true;
    if (p.ppid == pid) out.push_back(p.pid);
  }
  if (!exists) return Fail(ErrorCode::kNotFound, "no process " + std::to_string(pid));
  std::sort(out.begin(), out.end());
  return out;
}

Result<void> FakeSignaller::Attach(pid_t pid, std::uint64_t start_time) {
  auto it = procs.find(pid);
  if (it == procs.end() || !it->second.alive) {
    return Fail(ErrorCode::kNotFound, "pid " + std::to_string(pid) + " is gone");
  }
  if (it->second.start_time != start_time) {
    return Fail(ErrorCode::kRefused, "pid " + std::to_string(pid) + " was recycled");
  }
  attached_.insert(pid);
  return {};
}

Result<void> FakeSignaller::Signal(pid_t pid, int sig) {
  if (!attached_.count(pid)) return Fail(ErrorCode::kInternal, "signal to unattached pid");
  sent.emplace_back(pid, sig);
  Proc& p = procs[pid];
  if (!p.alive) return {};
  bool dies = (sig == SIGKILL && !p.unkillable) || (sig == SIGTERM && !p.ignores_term);
  if (dies) {
    p.alive = false;
    if (on_exit) on_exit(pid);
  }
  return {};
}

std::vector<pid_t> FakeSignaller::WaitForExit(const std::vector<pid_t>& pids,
                                              std::chrono::nanoseconds timeout) {
  std::vector<pid_t> alive;
  for (pid_t pid : pids) {
    if (procs[pid].alive) alive.push_back(pid);
  }
  if (!alive.empty()) clock_.Advance(timeout);  // waited the whole timeout in vain
  return alive;
}

ProcessInfo MakeProcess(pid_t pid, pid_t ppid, const std::string& comm, uid_t uid) {
  ProcessInfo p;
  p.pid = pid;
  p.ppid = ppid;
  p.pgid = pid;
  p.sid = ppid > 1 ? ppid : pid;
  p.uid = uid;
  p.user = uid == 0 ? "root" : "user" + std::to_string(uid);
  p.start_time = 1000 + static_cast<std::uint64_t>(pid);
  p.state = 'S';
  p.comm = comm;
  p.argv = {comm};
  return p;
}

GpuInfo MakeGpu(unsigned index, Bytes total, std::vector<GpuProcess> processes) {
  GpuInfo g;
  g.index = index;
  g.name = "Test GPU";
  g.uuid = "GPU-test-" + std::to_string(index);
  g.minor = index;
  g.total = total;
  Bytes used;
  for (const GpuProcess& p : processes) used += p.used.value_or(Bytes());
  g.used = used;
  g.free = total - used;
  g.processes = std::move(processes);
  return g;
}

}  // namespace vg::testing
