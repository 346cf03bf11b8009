#include "cli/machine.h"

#include <unistd.h>

#include "clock/clock.h"
#include "proc/pidfd_signaller.h"

namespace vg {
namespace {

// Stands in for the driver when there is none: processes can still be reaped, not verified.
class UnavailableProbe final : public GpuProbe {
 public:
  explicit UnavailableProbe(Error e) : error_(std::move(e)) {}
  Result<GpuSnapshot> Snapshot() override { return std::unexpected(error_); }
  const Error& error() const { return error_; }

 private:
  Error error_;
};

}  // namespace

Machine::Machine()
    : opening_(std::async(std::launch::async, [] { return NvmlProbe::Open(NvmlOptions{}); })) {}

void Machine::Driver() {
  if (!opening_.valid()) return;
  auto probe = opening_.get();
  if (probe) {
    nvml = std::move(*probe);
  } else {
    nvml_error = probe.error();
  }
}

Result<MachineLook> Machine::Look(TableRows rows) {
  return Observe(
      [this] {
        Driver();
        return GpuAccess{nvml.get(), nvml_error};
      },
      procs, getpid(), rows);
}

Result<PlannedReap> PlanReapNow(Machine& m, const ReapRequest& request) {
  auto obs = m.Look();
  if (!obs) return std::unexpected(obs.error());
  Caller caller{getpid(), geteuid(), AncestorsOf(getpid(), obs->table)};
  auto plan = PlanReap(obs->view, obs->table, request, caller);
  if (!plan) return std::unexpected(plan.error());
  for (ReapTarget& t : plan->targets) {  // descendants were planned from the cheap table
    if (auto p = m.procs.Get(t.pid); p && p->start_time == t.start_time)
      t.command = p->CommandLine();
  }
  return PlannedReap{std::move(*plan), std::move(obs->snapshot)};
}

ReapOutcome ExecuteReap(Machine& m, PlannedReap& p, const ReapOptions& options,
                        const ReapProgress& say) {
  PidfdSignaller signaller;
  SystemClock clock;
  m.Driver();
  UnavailableProbe no_driver(m.nvml_error.value_or(Error{}));
  GpuProbe& gpu = m.nvml ? static_cast<GpuProbe&>(*m.nvml) : no_driver;
  if (!m.nvml) {
    p.plan.releases.clear();
    p.plan.notes.push_back("memory cannot be verified: " + no_driver.error().message);
  }
  Reaper reaper(signaller, gpu, clock);
  return reaper.Execute(p.plan, p.before, options, say);
}

}  // namespace vg
