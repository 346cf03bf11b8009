#include "core/alert_policy.h"

#include <algorithm>

namespace vg {

const std::vector<std::string>& DefaultAlertKinds() {
  static const std::vector<std::string> kinds = {"oom",   "oom-probable", "sticky", "device-lost",
                                                 "stuck", "failed",       "crashed"};
  return kinds;
}

bool AlertWants(const std::vector<std::string>& kinds, const std::vector<std::string>& services,
                const std::string& service, const std::string& kind) {
  if (kind == "alert-failed") return false;  // never alert about alerts: no loops
  const std::vector<std::string>& k = kinds.empty() ? DefaultAlertKinds() : kinds;
  if (std::find(k.begin(), k.end(), kind) == k.end()) return false;
  return services.empty() || std::find(services.begin(), services.end(), service) != services.end();
}

bool AlertDedup::Offer(const std::string& key, std::int64_t event_id, SteadyTime now) {
  if (window_.count() <= 0) return true;
  auto it = open_.find(key);
  if (it != open_.end() && now < it->second.closes) {
    ++it->second.count;
    it->second.last_event = event_id;
    return false;
  }
  open_[key] = Window{now + window_, 0, event_id};
  return true;
}

std::vector<AlertDedup::Summary> AlertDedup::Due(SteadyTime now) {
  std::vector<Summary> out;
  for (auto it = open_.begin(); it != open_.end();) {
    if (now < it->second.closes) {
      ++it;
      continue;
    }
    if (it->second.count > 0) out.push_back({it->first, it->second.count, it->second.last_event});
    it = open_.erase(it);
  }
  return out;
}

std::optional<SteadyTime> AlertDedup::NextDue() const {
  std::optional<SteadyTime> next;
  for (const auto& [key, w] : open_) {
    if (!next || w.closes < *next) next = w.closes;
  }
  return next;
}

Millis AlertRetryDelay(int attempt, Millis base, Millis max) {
  if (attempt <= 0) return Millis(0);
  Millis d = base;
  for (int i = 1; i < attempt && d < max; ++i) d *= 2;
  return std::min(d, max);
}

}  // namespace vg
