#include "daemon/kernel_log_watch.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include <utility>  // before asio: Boost 1.74's awaitable.hpp needs std::exchange
#include "core/incident_kernel.h"

#include <boost/asio.hpp>

#include "clock/clock.h"
#include "daemon/event_hub.h"
#include "daemon/supervisor.h"
#include "gpu/gpu_probe.h"
#include "logs/kmsg.h"

namespace vg {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct KernelLogWatch::Impl {
  Impl(asio::io_context& io_, Supervisor& supervisor, GpuProbe* gpu_, EventHub& events_)
      : io(io_), sup(supervisor), gpu(gpu_), events(events_), timer(io_) {}

  asio::io_context& io;
  Supervisor& sup;
  GpuProbe* gpu;
  EventHub& events;
  std::string path;
  KernelLogType type = KernelLogType::kDevice;
  int fd = -1;  // owned by `stream` when there is one
  std::unique_ptr<asio::posix::stream_descriptor> stream;
  asio::steady_timer timer;
  KmsgSplitter split;
  std::vector<char> buf = std::vector<char>(16 * 1024 + 512);
  std::map<std::string, KernelGpu> by_bus;   // normalised bus id → GPU
  std::map<std::string, SteadyTime> recent;  // kind|bus → when it was last handled
  std::string recent_bus;                    // the bus the last NVRM records named (Handle)
  int recent_bus_left = 0;                   // records that may still use it
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  bool following = false;

  void Start(std::string p) {
    path = std::move(p);
    if (path.empty()) {
      events.Log(
          "note: device-lost detection from the kernel log is off ([daemon] kernel_log "
          "= \"\")");
      return;
    }
    auto opened = OpenKernelLog(path);
    if (!opened) {
      events.Log("note: device-lost detection from the kernel log is off (" +
                 opened.error().message +
                 (opened.error().hint.empty() ? "" : "; " + opened.error().hint) + ")");
      return;
    }
    fd = opened->fd;
    type = opened->type;
    if (type != KernelLogType::kFile) {
      boost::system::error_code ec;
      stream = std::make_unique<asio::posix::stream_descriptor>(io);
      stream->assign(fd, ec);
      if (ec) {
        ::close(fd);
        fd = -1;
        stream.reset();
        events.Log("note: device-lost detection from the kernel log is off (" + path +
                   " cannot be watched: " + ec.message() + ")");
        return;
      }
    }
    Learn();
    following = true;
    events.Log("kernel log: following " + path +
               " for NVIDIA Xid messages (device-lost, gpu-error); " +
               std::to_string(by_bus.size()) + " GPU bus id(s) known");
    if (type == KernelLogType::kFile) {
      Poll();
    } else {
      ReadSome();
    }
  }

  ~Impl() {
    *alive = false;
    if (!stream && fd >= 0) ::close(fd);
  }

  void Learn() {
    if (!gpu) return;
    auto snap = gpu->Snapshot();
    if (!snap) return;
    for (const GpuInfo& g : snap->gpus) {
      if (!g.pci_bus_id) continue;
      auto bus = NormalizePciBusId(*g.pci_bus_id);
      if (!bus) continue;
      by_bus[*bus] = KernelGpu{g.index, g.uuid, *bus};
    }
  }

  void WaitReadable() {
    std::weak_ptr<bool> guard = alive;
    stream->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this, guard](const boost::system::error_code& ec) {
                         if (guard.expired() || !*guard.lock() || ec) return;
                         ReadSome();
                       });
  }

  void Poll() {
    ReadAll();
    if (!following) return;
    std::weak_ptr<bool> guard = alive;
    timer.expires_after(200ms);
    timer.async_wait([this, guard](const boost::system::error_code& ec) {
      if (guard.expired() || !*guard.lock() || ec) return;
      Poll();
    });
  }

  // Reads what is there (at most 256 reads per turn, then yields to the loop and goes on).
  enum class Got { kDrained, kMore, kStop };
  Got ReadAll() {
    for (int i = 0; i < 256; ++i) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n > 0) {
        for (const KmsgRecord& r : split.Feed(std::string_view(buf.data(), n))) Handle(r);
        continue;
      }
      if (n == 0) return Got::kDrained;  // a file's end (a FIFO we also hold never ends)
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return Got::kDrained;
      if (errno == EPIPE) continue;  // records overwritten before we read them: go on
      following = false;
      events.Log("kernel log: reading " + path + " failed (" + std::strerror(errno) +
                 "); device-lost detection from the kernel log is off");
      return Got::kStop;
    }
    return Got::kMore;
  }

  void ReadSome() {
    switch (ReadAll()) {
      case Got::kDrained:
        WaitReadable();
        return;
      case Got::kMore: {
        std::weak_ptr<bool> guard = alive;
        asio::post(io, [this, guard] {
          if (!guard.expired() && *guard.lock()) ReadSome();
        });
        return;
      }
      case Got::kStop:
        return;
    }
  }

  void Handle(const KmsgRecord& r) {
    std::optional<Incident> inc = MatchKernelMessage(r.message);
    const bool nvrm = r.message.find("NVRM: ") != std::string::npos;
    if (!inc && !nvrm) {
      if (std::optional<KernelOomKill> kill = MatchKernelOomKill(r.message)) {
        sup.KernelOomKill(*kill, r.message);
        return;
      }
    }
    if (!inc) {
      // Recent drivers split "fallen off the bus" over three records, the bus on the first:
      // remember the bus an NVRM record names for the next two.
      if (nvrm) {
        IncidentFields f = ParseIncidentFields(r.message, IncidentKind::kDeviceLost);
        if (f.pci_bus) {
          recent_bus = *f.pci_bus;
          recent_bus_left = 3;
        } else if (recent_bus_left > 0) {
          --recent_bus_left;
        }
      } else {
        recent_bus_left = 0;
      }
      return;
    }
    if (!inc->fields.pci_bus && !inc->fields.gpu && recent_bus_left > 0) {
      inc->fields.pci_bus = recent_bus;
    }
    recent_bus_left = 0;
    KernelGpu target;
    std::optional<std::string> bus;
    if (inc->fields.pci_bus) {
      bus = NormalizePciBusId(*inc->fields.pci_bus);
      target.bus = bus ? *bus : *inc->fields.pci_bus;
    }
    // De-duplicate first: a flood of messages about a bus NVML does not list must not cost an
    // NVML snapshot (Learn) each.
    const std::string key = std::string(IncidentKindName(inc->kind)) + "|" + target.bus;
    const SteadyTime now = std::chrono::steady_clock::now();
    if (auto it = recent.find(key); it != recent.end() && now - it->second < 60s) return;
    recent[key] = now;
    if (bus) {
      if (!by_bus.count(*bus)) Learn();
      if (auto it = by_bus.find(*bus); it != by_bus.end()) target = it->second;
    }
    sup.KernelIncident(std::move(*inc), target);
  }
};

KernelLogWatch::KernelLogWatch(asio::io_context& io, Supervisor& supervisor, GpuProbe* gpu,
                               EventHub& events, std::string path)
    : impl_(std::make_unique<Impl>(io, supervisor, gpu, events)) {
  impl_->Start(std::move(path));
}

KernelLogWatch::~KernelLogWatch() = default;

bool KernelLogWatch::following() const { return impl_->following; }

}  // namespace vg
