// Telemetry: the daemon's memory of the last hour — who held VRAM on each GPU, one sample per
// interval (`[daemon] history_interval`, default 2 s) — for the dashboard (`GET /v1/history`)
// and the metrics (`GET /metrics`, which read the latest sample and never the machine).
//
// Contract:
//  - A sample is Supervisor::SampleVram(): NVML plus the daemon's own processes, no machine scan
//    (ARCHITECTURE.md, "Who is ours"). Taken on the daemon's loop from Start(): every interval
//    while someone watches (Watch(): a history or metrics request within the last kWatchHold) or
//    while samples change; otherwise the gap doubles after each unchanged sample, up to
//    options.idle_max (an idle daemon nobody watches costs about two samples a minute). Watch()
//    after such a gap takes a sample at once and returns to the interval.
//  - The ring keeps the samples of the last `window` (default 1 h): window / interval samples at
//    most. Each sample keeps per GPU the used bytes and at most kMaxHoldersPerGpu holders, the
//    largest; the rest are summed into one `other` holder. Memory is therefore bounded by
//    samples × GPUs × (kMaxHoldersPerGpu + 1) holders (MemoryBytes() says what it is now).
//  - History(span) is the samples of the last `span`, oldest first, as JSON (docs/api.md).
//  - Not thread-safe: the daemon's loop only.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/supervisor.h"
#include "util/units.h"

namespace boost::asio {
class io_context;
}

namespace vg {

inline constexpr std::size_t kMaxHoldersPerGpu = 16;

class Telemetry {
 public:
  struct Options {
    Millis interval{2000};
    Millis window{3600 * 1000};
    std::function<std::int64_t()> now_ms;  // unset: the wall clock (UnixNowMs)
    Millis idle_max{30000};                // the longest gap between samples nobody watches
  };
  static constexpr Millis kWatchHold{60000};
  Telemetry(boost::asio::io_context& io, std::function<VramSample()> sample, Options options);
  ~Telemetry();
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  // Takes a sample now and then every interval until Stop() or destruction.
  void Start();
  void Stop();
  // One sample now (Start's timer calls it; tests call it directly). True when it differs from
  // the one before (GPU memory, holders or members).
  bool SampleNow();
  // Someone reads the figures (GET /v1/history, GET /metrics): keep sampling every interval.
  void Watch();
  // The gap before the next sample (the interval, or longer while idle and unwatched).
  Millis next_gap() const { return gap_; }

  // The latest sample whole (GPU details included); nullptr before the first.
  const VramSample* latest() const { return latest_ ? &*latest_ : nullptr; }
  std::int64_t latest_unix_ms() const { return latest_ms_; }
  // When the latest sample was taken and how long it took (the metrics report both).
  std::chrono::nanoseconds last_cost() const { return last_cost_; }
  Millis interval() const { return options_.interval; }

  nlohmann::json History(Millis span) const;
  std::size_t size() const { return ring_.size(); }
  std::size_t MemoryBytes() const;

 private:
  struct GpuPoint {
    unsigned index = 0;
    std::int64_t used = 0;
    std::vector<VramHolding> holders;
  };
  struct Point {
    std::int64_t t_ms = 0;
    std::vector<GpuPoint> gpus;
  };
  void Arm();
  Millis NextGap(bool changed) const;

  boost::asio::io_context& io_;
  std::function<VramSample()> sample_;
  Options options_;
  std::deque<Point> ring_;
  std::optional<VramSample> latest_;
  std::int64_t latest_ms_ = 0;
  std::chrono::nanoseconds last_cost_{0};
  std::int64_t last_watch_ms_ = 0;
  bool watched_ = false;
  Millis gap_{0};
  struct TimerBox;
  std::unique_ptr<TimerBox> timer_;
};

// A holder's display name: the service, "comm (pid N)" for a foreign process, "ghost pid N".
std::string HolderName(const VramHolding& h);
const char* HolderKindName(VramHolding::Kind k);

}  // namespace vg
