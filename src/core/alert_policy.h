// Alert decisions: which events become alerts, de-duplication and retry backoff.
//
// Pure: no I/O, no clock (times come in as steady-clock points). Not thread-safe.
//
// De-duplication rule (docs/daemon.md, "Alerts"): events with the same key (service, kind and
// incident signature) within `window` of the first one become one alert. The first is sent at
// once (count 1); later ones inside the window are only counted; when the window closes and any
// were counted, one summary alert carries the count of the events after the first and the last
// of them. The next event after the window opens a new window. A zero window sends every event.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "clock/clock.h"
#include "util/units.h"

namespace vg {

// The kinds an [[alert]] without `kinds` sends.
const std::vector<std::string>& DefaultAlertKinds();

// Whether an event of this service and kind goes to an alert with these filters (empty: all
// services; `kinds` empty: DefaultAlertKinds). `alert-failed` never does.
bool AlertWants(const std::vector<std::string>& kinds, const std::vector<std::string>& services,
                const std::string& service, const std::string& kind);

class AlertDedup {
 public:
  explicit AlertDedup(Millis window) : window_(window) {}

  // An event with `key` at `now`: true when it is to be sent at once (the first in its window).
  bool Offer(const std::string& key, std::int64_t event_id, SteadyTime now);

  struct Summary {
    std::string key;
    int count = 0;                // events after the first within the window
    std::int64_t last_event = 0;  // the id of the last of them
  };
  // Windows that closed by `now`; each with count > 0 becomes one summary alert. Closed windows
  // are forgotten.
  std::vector<Summary> Due(SteadyTime now);
  // When the next window closes (nullopt: none open).
  std::optional<SteadyTime> NextDue() const;

 private:
  struct Window {
    SteadyTime closes{};
    int count = 0;
    std::int64_t last_event = 0;
  };
  Millis window_;
  std::map<std::string, Window> open_;
};

// The wait before retry `attempt` (1 = the first retry): base, 2×base, 4×base, … capped at max.
Millis AlertRetryDelay(int attempt, Millis base = Millis(1000), Millis max = Millis(60000));

}  // namespace vg
