// The incident watch and the policies by cause (docs/daemon.md, "Incidents"): a Classifier hung
// on each service's output turns lines into incidents; each becomes an event of its kind (oom,
// oom-probable, sticky, device-lost, port-clash) carrying the parsed incident, a VRAM snapshot
// taken at that moment, one explaining sentence and the action the policy took; the policy then
// acts (restart, wait for VRAM, ignore, stop as failed, reap our port holder). Also the
// log-silence watchdog (`stuck`). Private to src/daemon; single-threaded (daemon loop).
#pragma once

#include "daemon/supervisor_impl.h"

namespace vg {

// (Re)hangs the classifier on the service's LogTail with the service's and the global patterns.
void WatchIncidents(Supervisor::Impl& im, ServiceRt& s);
// After a config load or reload: receivers and patterns take effect.
void ApplyIncidentConfig(Supervisor::Impl& im);
// A new instance was spawned: the classifier starts afresh (an OOM of the new instance is never
// merged into the last instance's incident).
void NewInstanceForIncidents(Supervisor::Impl& im, ServiceRt& s);
// The log-silence watchdog of a ready instance (no-op unless the service has `watchdog`).
void StartWatchdog(Supervisor::Impl& im, ServiceRt& s, std::uint64_t gen);
// A kernel log incident (device-lost, gpu-error) about `gpu`: one event per service pinned to it
// (its `gpus` names it), with that service's policy (device-lost: stop, fail, no restart); one
// daemon-wide event when no service is pinned to it.
void OnKernelIncident(Supervisor::Impl& im, Incident inc, const KernelGpu& gpu);
// The kernel's OOM killer killed process `kill.pid` for host RAM (kernel log): a host-oom event
// on the service the process belonged to (its main process, a member now, or a main process it
// had within the last minute), so a death that looks like a crash says what it was; the exit
// itself is handled as any exit. Processes of no service: nothing.
void OnKernelOomKill(Supervisor::Impl& im, const KernelOomKill& kill, const std::string& line);
// The service's last incident for status: {kind, time, time_unix_ms, sentence, action,
// event_id}, or null.
nlohmann::json LastIncidentJson(Supervisor::Impl& im, ServiceRt& s);

}  // namespace vg
