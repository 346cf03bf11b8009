#include "daemon/telemetry.h"

#include <algorithm>
#include <boost/asio.hpp>

#include "clock/clock.h"

namespace vg {

struct Telemetry::TimerBox {
  explicit TimerBox(boost::asio::io_context& io) : timer(io) {}
  boost::asio::steady_timer timer;
  bool running = false;
};

Telemetry::Telemetry(boost::asio::io_context& io, std::function<VramSample()> sample,
                     Options options)
    : io_(io),
      sample_(std::move(sample)),
      options_(std::move(options)),
      timer_(std::make_unique<TimerBox>(io)) {
  if (!options_.now_ms) options_.now_ms = [] { return UnixNowMs(); };
  options_.interval = std::max(options_.interval, Millis(1));
}

Telemetry::~Telemetry() { Stop(); }

void Telemetry::Start() {
  timer_->running = true;
  gap_ = options_.interval;
  SampleNow();
  Arm();
}

void Telemetry::Watch() {
  last_watch_ms_ = options_.now_ms();
  watched_ = true;
  if (!timer_->running || gap_ <= options_.interval) return;
  // Back from an idle gap: a fresh sample now, then the interval.
  if (last_watch_ms_ - latest_ms_ >= options_.interval.count()) SampleNow();
  gap_ = options_.interval;
  timer_->timer.cancel();  // the pending wait ends with operation_aborted and does nothing
  Arm();
}

Millis Telemetry::NextGap(bool changed) const {
  const bool watched = watched_ && options_.now_ms() - last_watch_ms_ < kWatchHold.count();
  if (changed || watched) return options_.interval;
  return std::min(std::max(gap_, options_.interval) * 2,
                  std::max(options_.idle_max, options_.interval));
}

void Telemetry::Stop() {
  timer_->running = false;
  timer_->timer.cancel();
}

void Telemetry::Arm() {
  if (!timer_->running) return;
  timer_->timer.expires_after(gap_);
  timer_->timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !timer_->running) return;
    gap_ = NextGap(SampleNow());
    Arm();
  });
}

namespace {

bool SameHolders(const std::vector<VramHolding>& a, const std::vector<VramHolding>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].kind != b[i].kind || a[i].pid != b[i].pid || a[i].bytes != b[i].bytes ||
        a[i].name != b[i].name)
      return false;
  }
  return true;
}

bool SameSample(const VramSample& a, const VramSample& b) {
  if (a.gpus.size() != b.gpus.size() || a.members != b.members || a.problem != b.problem)
    return false;
  for (std::size_t i = 0; i < a.gpus.size(); ++i) {
    const GpuInfo& x = a.gpus[i].gpu;
    const GpuInfo& y = b.gpus[i].gpu;
    if (x.index != y.index || x.used != y.used || x.free != y.free ||
        x.utilization_percent != y.utilization_percent || x.problem != y.problem ||
        !SameHolders(a.gpus[i].holders, b.gpus[i].holders))
      return false;
  }
  return true;
}

}  // namespace

bool Telemetry::SampleNow() {
  const auto t0 = std::chrono::steady_clock::now();
  VramSample s = sample_();
  const std::int64_t now = options_.now_ms();
  Point p;
  p.t_ms = now;
  for (const GpuHoldings& g : s.gpus) {
    GpuPoint gp;
    gp.index = g.gpu.index;
    gp.used = static_cast<std::int64_t>(g.gpu.used.count());
    gp.holders = g.holders;
    std::stable_sort(gp.holders.begin(), gp.holders.end(),
                     [](const VramHolding& a, const VramHolding& b) { return a.bytes > b.bytes; });
    if (gp.holders.size() > kMaxHoldersPerGpu) {
      VramHolding other{VramHolding::Kind::kForeign, "other", -1, Bytes(0)};
      for (std::size_t i = kMaxHoldersPerGpu; i < gp.holders.size(); ++i)
        other.bytes += gp.holders[i].bytes;
      gp.holders.resize(kMaxHoldersPerGpu);
      gp.holders.push_back(std::move(other));
    }
    gp.holders.shrink_to_fit();
    p.gpus.push_back(std::move(gp));
  }
  ring_.push_back(std::move(p));
  const std::size_t cap = static_cast<std::size_t>(
      std::max<std::int64_t>(1, options_.window.count() / options_.interval.count()));
  while (ring_.size() > cap ||
         (ring_.size() > 1 && ring_.front().t_ms < now - options_.window.count()))
    ring_.pop_front();
  const bool changed = !latest_ || !SameSample(*latest_, s);
  latest_ = std::move(s);
  latest_ms_ = now;
  last_cost_ = std::chrono::steady_clock::now() - t0;
  return changed;
}

const char* HolderKindName(VramHolding::Kind k) {
  switch (k) {
    case VramHolding::Kind::kService:
      return "service";
    case VramHolding::Kind::kGhost:
      return "ghost";
    case VramHolding::Kind::kForeign:
      break;
  }
  return "foreign";
}

std::string HolderName(const VramHolding& h) {
  switch (h.kind) {
    case VramHolding::Kind::kService:
      return h.name;
    case VramHolding::Kind::kGhost:
      return "ghost pid " + std::to_string(h.pid);
    case VramHolding::Kind::kForeign:
      break;
  }
  if (h.pid < 0) return h.name;  // the summed rest
  return (h.name.empty() ? std::string("pid") : h.name) + " (pid " + std::to_string(h.pid) + ")";
}

nlohmann::json Telemetry::History(Millis span) const {
  nlohmann::json gpus = nlohmann::json::array();
  if (latest_) {
    for (const GpuHoldings& g : latest_->gpus) {
      gpus.push_back({{"index", g.gpu.index},
                      {"uuid", g.gpu.uuid},
                      {"name", g.gpu.name},
                      {"total_bytes", g.gpu.total.count()}});
    }
  }
  nlohmann::json samples = nlohmann::json::array();
  const std::int64_t from = options_.now_ms() - span.count();
  for (const Point& p : ring_) {
    if (p.t_ms < from) continue;
    nlohmann::json gs = nlohmann::json::array();
    for (const GpuPoint& g : p.gpus) {
      nlohmann::json hs = nlohmann::json::array();
      for (const VramHolding& h : g.holders) {
        hs.push_back({{"name", HolderName(h)},
                      {"kind", h.pid < 0 ? "other" : HolderKindName(h.kind)},
                      {"bytes", h.bytes.count()}});
      }
      gs.push_back({{"index", g.index}, {"used_bytes", g.used}, {"holders", std::move(hs)}});
    }
    samples.push_back({{"t_ms", p.t_ms}, {"gpus", std::move(gs)}});
  }
  nlohmann::json out = {{"interval_ms", options_.interval.count()},
                        {"gpus", std::move(gpus)},
                        {"samples", std::move(samples)}};
  if (latest_ && !latest_->problem.empty()) out["problem"] = latest_->problem;
  return out;
}

std::size_t Telemetry::MemoryBytes() const {
  std::size_t n = sizeof(*this);
  for (const Point& p : ring_) {
    n += sizeof(Point) + p.gpus.capacity() * sizeof(GpuPoint);
    for (const GpuPoint& g : p.gpus) {
      n += g.holders.capacity() * sizeof(VramHolding);
      for (const VramHolding& h : g.holders)
        if (h.name.capacity() > 15) n += h.name.capacity() + 1;  // beyond the inline buffer
    }
  }
  return n;
}

}  // namespace vg
