// vg-demo-service: a stand-in for an image-to-video WebUI (I2VGen-XL behind Gradio) that really
// holds GPU memory — on the simulated GPU or, through the CUDA driver API, on a real one — so
// vramguard can be shown and tested supervising it. examples/README.md describes flags, endpoints
// and the memory model; demo_app.h the endpoints' contract.
//
// Exit status: 0 after SIGTERM/SIGINT, 1 when the GPU or the port fails (Gradio's message for a
// taken port), 2 for bad usage; killed by SIGSEGV with --crash-after.
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "comfy_prompt.h"
#include "cuda_memory.h"
#include "demo_app.h"
#include "device_select.h"
#include "flags.h"
#include "gradio_queue.h"
#include "gradio_ws.h"
#include "http_server.h"
#include "sim_memory.h"
#include "torch_oom.h"

namespace {

using vg::demo::DemoFlags;
using vg::demo::GpuMemory;

int Die(const vg::Error& error, int status = 1) {
  std::string line = "vg-demo-service: " + error.message;
  if (!error.hint.empty()) line += " (" + error.hint + ")";
  std::fprintf(stderr, "%s\n", line.c_str());
  return status;
}

// Blocks SIGINT and (unless ignored) SIGTERM and returns a signalfd that becomes readable when one
// arrives: every wait of the service polls it, so termination is noticed at once at any stage.
int TerminationSignals(bool ignore_term, sigset_t* blocked) {
  sigemptyset(blocked);
  sigaddset(blocked, SIGINT);
  if (ignore_term) {
    ::signal(SIGTERM, SIG_IGN);
  } else {
    sigaddset(blocked, SIGTERM);
  }
  ::sigprocmask(SIG_BLOCK, blocked, nullptr);
  return ::signalfd(-1, blocked, SFD_CLOEXEC);
}

// Waits `duration`; true when a termination signal came first.
bool SignalledWithin(int signal_fd, vg::Millis duration) {
  pollfd p{signal_fd, POLLIN, 0};
  auto deadline = std::chrono::steady_clock::now() + duration;
  for (;;) {
    auto left = std::chrono::ceil<vg::Millis>(deadline - std::chrono::steady_clock::now());
    int n = ::poll(&p, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

vg::Result<std::unique_ptr<GpuMemory>> OpenBackend(const DemoFlags& flags) {
  using vg::demo::Backend;
  if (vg::demo::ResolveBackend(flags.backend, std::getenv(vg::sim::kDirEnvVar)) == Backend::kCuda) {
    auto cuda = vg::demo::CudaMemory::Open(vg::demo::kCudaLibrary, flags.gpu);
    if (!cuda) return std::unexpected(cuda.error());
    return std::unique_ptr<GpuMemory>(std::move(*cuda));
  }
  auto dir = vg::sim::DirFromEnv();
  if (!dir) {
    return vg::Fail(vg::ErrorCode::kNoDriver, "--backend sim needs VRAMGUARD_FAKE_GPU_DIR",
                    "create a simulated GPU with vg-simgpu create and export its directory");
  }
  auto devices = vg::sim::ReadDevices(*dir);
  if (!devices) return std::unexpected(devices.error());
  auto visible = vg::demo::ParseVisibleDevices(std::getenv(vg::demo::kVisibleDevicesVar));
  auto sim_gpu = vg::demo::SelectSimGpu(visible, flags.gpu, *devices);
  if (!sim_gpu) return std::unexpected(sim_gpu.error());
  auto sim = vg::demo::SimMemory::Open(*dir, *sim_gpu, flags.gpu);
  if (!sim) return std::unexpected(sim.error());
  return std::unique_ptr<GpuMemory>(std::move(*sim));
}

// A DataLoader-style worker: forked after CUDA init, it makes no CUDA calls but inherits the
// device files and mappings, so it keeps the context alive if the service dies (the ghost).
pid_t ForkWorker(int signal_fd, const sigset_t& blocked) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::close(signal_fd);
  ::signal(SIGTERM, SIG_DFL);
  ::sigprocmask(SIG_UNBLOCK, &blocked, nullptr);
  ::prctl(PR_SET_NAME, "vg-demo-worker");
  for (;;) ::pause();
}

void StopWorker(pid_t worker) {
  if (worker <= 0) return;
  ::kill(worker, SIGKILL);
  while (::waitpid(worker, nullptr, 0) < 0 && errno == EINTR) {
  }
}

[[noreturn]] void Crash() {
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  std::fprintf(stderr, "vg-demo-service: crashing as asked (--crash-after)\n");
  // The default action, not a handler someone installed (ASan's would report and exit 1).
  ::signal(SIGSEGV, SIG_DFL);
  ::raise(SIGSEGV);
  std::abort();
}

}  // namespace

int main(int argc, char** argv) {
  // Lines reach a supervisor's log as they happen (Python's -u), and a reader that went away is
  // an error on write, not a death.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  ::signal(SIGPIPE, SIG_IGN);

  auto flags = vg::demo::ParseFlags(std::vector<std::string>(argv + 1, argv + argc));
  if (!flags) return Die(flags.error(), 2);
  if (flags->help) {
    std::printf("%s\n", vg::demo::kUsage);
    return 0;
  }

  // 1. Termination is noticed at every stage from here on: loading, serving, inside a job.
  sigset_t blocked;
  int signal_fd = TerminationSignals(flags->ignore_term, &blocked);
  if (signal_fd < 0) return Die(vg::ErrnoError("cannot create a signalfd", errno));

  // 2. Initialise the GPU and load the model before listening, as a WebUI loads its weights
  //    before Gradio's launch(): the memory is held from now on.
  auto memory = OpenBackend(*flags);
  if (!memory) return Die(memory.error());
  std::printf("Loading model (%s) on %s\n", vg::FormatBytes(flags->model).c_str(),
              (*memory)->Describe().c_str());
  if (auto loaded = (*memory)->Grow(flags->model); !loaded) {
    if (auto oom = (*memory)->LastOom(); oom && loaded.error().code == vg::ErrorCode::kRefused) {
      std::fprintf(stderr, "%s\n", vg::demo::TorchOomMessage(*oom, {}, {}).c_str());
      return 1;
    }
    return Die(loaded.error());
  }
  if (SignalledWithin(signal_fd, flags->load_time)) return 0;

  // 3. A worker forked after CUDA init inherits the context, like a DataLoader worker.
  pid_t worker = flags->fork_worker ? ForkWorker(signal_fd, blocked) : 0;

  // 4. Listen; a taken port is fatal, with Gradio's words.
  vg::demo::HttpServer::Options options;
  options.read_timeout = flags->read_timeout;
  auto server = vg::demo::HttpServer::Listen(flags->host, flags->port, options);
  if (!server) {
    StopWorker(worker);
    if (server.error().code != vg::ErrorCode::kRefused) return Die(server.error());
    std::fprintf(stderr,
                 "OSError: Cannot find empty port in range: %u-%u. You can specify a different "
                 "port by setting the GRADIO_SERVER_PORT environment variable or passing the "
                 "`server_port` parameter to `launch()`.\n",
                 flags->port, flags->port);
    return 1;
  }

  // 5. Ready: Gradio's lines, which supervisors watch for.
  std::printf("Running on local URL:  http://%s:%u\n\n", flags->host.c_str(), (*server)->port());
  std::printf("To create a public link, set `share=True` in `launch()`.\n");

  // 6. Serve until told to stop (or to crash).
  vg::demo::DemoApp app(**memory, flags->model, flags->step_time, [](std::string_view line) {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
  });
  std::optional<vg::demo::HttpServer::TimePoint> crash_at;
  if (flags->crash_after) crash_at = std::chrono::steady_clock::now() + *flags->crash_after;
  // Gradio's queue APIs (4's, 3's WebSocket one) and ComfyUI's prompt API beside the plain
  // endpoints (gradio_queue.h, gradio_ws.h, comfy_prompt.h).
  vg::demo::GradioQueue queue(app);
  vg::demo::GradioWsQueue ws_queue(app);
  vg::demo::ComfyPrompts prompts(app);
  auto wake = (*server)->AcceptUntil(
      [&app, &queue, &ws_queue, &prompts](const auto& request) {
        if (vg::demo::GradioQueue::Handles(request)) return queue.Handle(request);
        if (vg::demo::GradioWsQueue::Handles(request)) return ws_queue.Handle(request);
        if (vg::demo::ComfyPrompts::Handles(request)) return prompts.Handle(request);
        return app.Handle(request);
      },
      signal_fd, crash_at);
  if (wake == vg::demo::HttpServer::Wake::kDeadline) Crash();

  // 7. Graceful shutdown: end the running job, close connections, end the worker, free the GPU.
  app.Stop();
  queue.Stop();
  ws_queue.Stop();
  prompts.Stop();
  (*server)->Shutdown();
  StopWorker(worker);
  memory->reset();
  return 0;
}
