// KernelLogWatch: follows the kernel log ([daemon] kernel_log, default /dev/kmsg) for the NVIDIA
// driver's Xid messages and hands each one the catalogue recognises (device-lost: Xid 79 / "GPU
// has fallen off the bus"; gpu-error: Xid 48, 6x, 74, 9x, 119, 120 …) to the incident policies
// (daemon/incidents.h OnKernelIncident) with the GPU its PCI bus id names, and the kernel OOM
// killer's kills to OnKernelOomKill (a host-oom event for the service the process belonged to).
//
// Non-blocking on the daemon's io_context: /dev/kmsg and FIFOs are watched for readability
// (stream_descriptor::async_wait), a regular file is polled every 200 ms. Lost records (EPIPE:
// the kernel overwrote them) are skipped. When the log cannot be read (not root with
// kernel.dmesg_restrict = 1, no such file …) it says so once on stderr at start and does nothing
// else. The same cause for the same GPU within a minute (the driver logs "Xid 79" and then
// "GPU has fallen off the bus") is handled once.
//
// Bus ids come from the GPU probe (NVML busId), learnt at start and again when a message names a
// bus not known yet; a bus that matches no GPU applies to every GPU. Single-threaded (daemon
// loop); lives as long as the io_context runs it.
#pragma once

#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace vg {

class EventHub;
class GpuProbe;
class Supervisor;

class KernelLogWatch {
 public:
  // Starts following `path` ("" = off). `gpu` may be null (no driver: every GPU).
  KernelLogWatch(boost::asio::io_context& io, Supervisor& supervisor, GpuProbe* gpu,
                 EventHub& events, std::string path);
  ~KernelLogWatch();
  KernelLogWatch(const KernelLogWatch&) = delete;
  KernelLogWatch& operator=(const KernelLogWatch&) = delete;

  bool following() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vg
