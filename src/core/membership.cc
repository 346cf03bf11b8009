#include "core/membership.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace vg {

std::vector<pid_t> ServiceMembers(const MembershipInput& input) {
  std::unordered_map<pid_t, const ProcessInfo*> by_pid;
  std::unordered_multimap<pid_t, pid_t> children;  // ppid → pid
  for (const ProcessInfo& p : input.processes) {
    by_pid[p.pid] = &p;
    children.emplace(p.ppid, p.pid);
  }
  const auto excluded = [&](pid_t pid) { return pid <= 1 || pid == input.daemon_pid; };

  std::vector<pid_t> frontier;
  if (by_pid.contains(input.main_pid)) frontier.push_back(input.main_pid);
  if (!input.tag.empty()) {
    for (const ProcessInfo& p : input.processes) {
      if (p.instance_tag == input.tag) frontier.push_back(p.pid);
    }
  }
  frontier.insert(frontier.end(), input.cgroup_members.begin(), input.cgroup_members.end());

  // Breadth-first over the ppid links; never through the daemon or init, whose children are
  // other services and the rest of the system.
  std::unordered_set<pid_t> seen;
  std::vector<pid_t> members;
  while (!frontier.empty()) {
    const pid_t pid = frontier.back();
    frontier.pop_back();
    if (excluded(pid) || !seen.insert(pid).second) continue;
    const auto it = by_pid.find(pid);
    if (it == by_pid.end() || !it->second->IsZombie()) members.push_back(pid);
    const auto [first, last] = children.equal_range(pid);
    for (auto c = first; c != last; ++c) frontier.push_back(c->second);
  }
  std::sort(members.begin(), members.end());
  return members;
}

}  // namespace vg
