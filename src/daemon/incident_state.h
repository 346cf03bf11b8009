// What the incident watch keeps per service (ServiceRt::incident): the classifier hung on the
// service's output, when it last wrote a line (the watchdog's clock), the last incident (status)
// and the extra VRAM an OOM asked for (on_oom = "wait-for-vram"). Single-threaded (daemon loop).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "clock/clock.h"
#include "core/classifier.h"
#include "util/units.h"

namespace vg {

class LogTail;

struct IncidentRt {
  std::unique_ptr<Classifier> classifier;
  LogTail* tail = nullptr;  // the LogTail the listener hangs on
  int listener = 0;
  SteadyTime last_output{};
  bool history_loaded = false;         // `last` was looked up in the store once
  std::optional<nlohmann::json> last;  // {kind, time, time_unix_ms, sentence, action, event_id}
  Bytes extra_vram;  // needed beyond `vram` at the next start (an OOM's request), then cleared
  // The last incident event of the current classifier: its Incident::seq and event id, so an
  // update (numbers on the lines after it) names the event it completes.
  std::uint64_t last_seq = 0;
  std::int64_t last_event_id = 0;
};

}  // namespace vg
