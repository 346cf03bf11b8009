// End-to-end: the real vg-demo-service binary on a temporary simulated GPU, driven over HTTP.
// Every process started here is killed and reaped by Children (the test is a child subreaper, so
// a forked worker whose parent died is reaped too).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "flags.h"
#include "job.h"
#include "sim_state.h"
#include "sim_test_util.h"
#include "torch_oom.h"

extern char** environ;

namespace vg::demo {
namespace {

using Json = nlohmann::json;
using sim::testing::Children;
using sim::testing::PollUntil;
using sim::testing::TempDir;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr Bytes kOverhead = Bytes::MiB(500);

// Output of a child, read without blocking and kept whole.
class Capture {
 public:
  explicit Capture(int fd) : fd_(fd) { ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK); }
  ~Capture() { ::close(fd_); }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  // Reads until `needle` has appeared, EOF or `limit`; true when it appeared.
  bool WaitFor(std::string_view needle, milliseconds limit = milliseconds(10000)) {
    auto deadline = steady_clock::now() + limit;
    while (text_.find(needle) == std::string::npos) {
      if (eof_) return false;
      auto left = std::chrono::ceil<milliseconds>(deadline - steady_clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) > 0) Drain();
    }
    return true;
  }
  const std::string& text() {
    Drain();
    return text_;
  }

 private:
  void Drain() {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd_, buf, sizeof buf)) > 0) text_.append(buf, static_cast<size_t>(n));
    if (n == 0) eof_ = true;
  }

  int fd_;
  std::string text_;
  bool eof_ = false;
};

struct HttpAnswer {
  int status = 0;
  Json body;
};

// A tiny blocking HTTP client: one request, Connection: close, read to EOF.
HttpAnswer Http(std::uint16_t port, const std::string& method, const std::string& path,
                const std::string& body = "") {
  HttpAnswer answer;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval timeout{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return answer;
  }
  std::string request =
      method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) response.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (std::sscanf(response.c_str(), "HTTP/1.1 %d", &answer.status) != 1) return answer;
  auto head_end = response.find("\r\n\r\n");
  if (head_end != std::string::npos) {
    answer.body = Json::parse(response.substr(head_end + 4), nullptr, false);
  }
  return answer;
}

class DemoServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    CreateGpus(1, Bytes::GiB(24));
  }

  void CreateGpus(unsigned count, Bytes total) {
    sim::CreateOptions options;
    options.count = count;
    options.total = total;
    options.overhead = kOverhead;
    ASSERT_TRUE(sim::CreateGpus(dir_.path(), options));
  }

  // Starts the service with fast defaults; `env` entries override the test's environment.
  pid_t Start(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv = {VG_DEMO_SERVICE_PATH, "--load-time", "0ms", "--step-time",
                                     "1ms"};
    argv.insert(argv.end(), args.begin(), args.end());
    env.emplace(sim::kDirEnvVar, dir_.path().string());
    std::vector<std::string> envp;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry = *e;
      std::string name = entry.substr(0, entry.find('='));
      if (!env.contains(name) && name != "CUDA_VISIBLE_DEVICES") envp.push_back(entry);
    }
    for (const auto& [name, value] : env) {
      std::string entry = name;
      entry += '=';
      entry += value;
      envp.push_back(std::move(entry));
    }
    std::vector<char*> argv_c, envp_c;
    for (auto& a : argv) argv_c.push_back(a.data());
    argv_c.push_back(nullptr);
    for (auto& e : envp) envp_c.push_back(e.data());
    envp_c.push_back(nullptr);

    int out[2], err[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      ::close_range(3, ~0u, 0);  // nothing of the test leaks in, a SimContext least of all
      ::execve(argv_c[0], argv_c.data(), envp_c.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    children_.Add(pid);
    stdout_.emplace(out[0]);
    stderr_.emplace(err[0]);
    return pid;
  }

  // Starts the service and waits for Gradio's ready lines; returns the port it announced.
  std::uint16_t StartReady(std::vector<std::string> args,
                           std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), {"--port", "0"});
    pid_ = Start(std::move(args), std::move(env));
    const std::string ready = "Running on local URL:  http://127.0.0.1:";
    EXPECT_TRUE(stdout_->WaitFor("To create a public link, set `share=True` in `launch()`.\n"))
        << "stdout: " << stdout_->text() << "\nstderr: " << stderr_->text();
    const std::string& text = stdout_->text();
    auto at = text.find(ready);
    if (at == std::string::npos) return 0;
    return static_cast<std::uint16_t>(std::stoi(text.substr(at + ready.size())));
  }

  // What the service's context holds on simulated GPU `gpu` (nullopt: it holds none there).
  std::optional<Bytes> Held(pid_t pid, unsigned gpu = 0) {
    auto contexts = sim::ListLiveContexts(dir_.path(), gpu);
    EXPECT_TRUE(contexts.has_value());
    if (!contexts) return std::nullopt;
    for (const auto& c : *contexts) {
      if (c.pid == pid) return Bytes(c.allocated_bytes);
    }
    return std::nullopt;
  }

  // Waits up to `limit` for `pid` to exit; its wait status.
  std::optional<int> WaitExit(pid_t pid, milliseconds limit) {
    int status = 0;
    bool exited = PollUntil(
        [&] {
          pid_t r = ::waitpid(pid, &status, WNOHANG);
          return r == pid;
        },
        limit);
    if (!exited) return std::nullopt;
    children_.Reap(pid);  // forgets it; it is already reaped
    return status;
  }

  TempDir dir_;
  Children children_;
  pid_t pid_ = 0;
  std::optional<Capture> stdout_;
  std::optional<Capture> stderr_;
};

TEST_F(DemoServiceTest, KeepsTheHighWaterMarkUntilFreeOnTheGpuCudaVisibleDevicesNames) {
  CreateGpus(2, Bytes::GiB(24));
  std::uint16_t port = StartReady({}, {{"CUDA_VISIBLE_DEVICES", sim::UuidFor(1)}});
  ASSERT_NE(port, 0);
  EXPECT_EQ(Held(pid_, 1), kDefaultModel);
  EXPECT_EQ(Held(pid_, 0), std::nullopt);

  const Bytes peak768 = PeakBytes(kDefaultModel, {768, 24, 80});
  HttpAnswer job = Http(port, "POST", "/generate", R"({"resolution":768,"frames":24,"steps":80})");
  ASSERT_EQ(job.status, 200) << job.body;
  EXPECT_EQ(job.body["peak_bytes"], peak768.count());
  EXPECT_EQ(Held(pid_, 1), peak768);  // kept after the job
  auto usage = sim::DeviceUsage(dir_.path(), 1);
  ASSERT_TRUE(usage.has_value());
  EXPECT_EQ(usage->used_bytes, (peak768 + kOverhead).count());  // 17.40 GB: the table's 16–18

  job = Http(port, "POST", "/generate", R"({"resolution":512,"frames":16,"steps":50})");
  ASSERT_EQ(job.status, 200) << job.body;
  EXPECT_EQ(Held(pid_, 1), peak768);  // a smaller job does not lower it

  HttpAnswer health = Http(port, "GET", "/health");
  ASSERT_EQ(health.status, 200);
  EXPECT_EQ(health.body["held_bytes"], peak768.count());
  EXPECT_EQ(health.body["model_bytes"], kDefaultModel.count());
  EXPECT_EQ(health.body["busy"], false);

  HttpAnswer bad = Http(port, "POST", "/generate", R"({"frames":65})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body["parameter"], "frames");

  HttpAnswer freed = Http(port, "POST", "/free");
  ASSERT_EQ(freed.status, 200);
  EXPECT_EQ(freed.body["freed_bytes"], (peak768 - kDefaultModel).count());
  EXPECT_EQ(Held(pid_, 1), kDefaultModel);

  auto start = steady_clock::now();
  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  auto status = WaitExit(pid_, milliseconds(2000));
  ASSERT_TRUE(status.has_value()) << "still running 2 s after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_LT(steady_clock::now() - start, milliseconds(1000));
  EXPECT_EQ(Held(pid_, 1), std::nullopt);  // the context went with it
}

TEST_F(DemoServiceTest, OutOfMemoryPrintsPyTorchsMessageAnswers500AndKeepsTheModel) {
  CreateGpus(1, Bytes::GiB(12));
  std::uint16_t port = StartReady({});
  ASSERT_NE(port, 0);
  // Another process on the GPU, named in the message: this test, holding 1 GiB.
  auto other = sim::SimContext::Open(dir_.path(), 0);
  ASSERT_TRUE(other.has_value()) << other.error().message;
  ASSERT_TRUE(other->Allocate(Bytes::GiB(1)));

  HttpAnswer job = Http(port, "POST", "/generate", R"({"resolution":768,"frames":24,"steps":80})");
  EXPECT_EQ(job.status, 500) << job.body;
  EXPECT_EQ(job.body["error"], "CUDA out of memory");
  EXPECT_EQ(Held(pid_), kDefaultModel);  // what it held before the job
  // 12 GiB − (8 GiB + 500 MiB) − (1 GiB + 500 MiB) = 2.02 GiB free; asked for 7.71 GiB more.
  std::string expected =
      "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 7.71 GiB. GPU 0 has a total "
      "capacity of 12.00 GiB of which 2.02 GiB is free. Including non-PyTorch memory, this "
      "process has 8.49 GiB memory in use. Process " +
      std::to_string(::getpid()) +
      " has 1.49 GiB memory in use. Of the allocated memory 8.00 GiB is allocated by PyTorch, "
      "and 0 bytes is reserved by PyTorch but unallocated. If reserved but unallocated memory is "
      "large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid "
      "fragmentation.  See documentation for Memory Management  "
      "(https://docs.pytorch.org/docs/stable/notes/cuda.html"
      "#optimizing-memory-usage-with-pytorch-cuda-alloc-conf)\n";
  if (::getpid() < pid_) {  // the driver lists processes by pid
    expected =
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 7.71 GiB. GPU 0 has "
        "a total capacity of 12.00 GiB of which 2.02 GiB is free. Process " +
        std::to_string(::getpid()) +
        " has 1.49 GiB memory in use. Including non-PyTorch memory, this process has 8.49 "
        "GiB memory in use." +
        expected.substr(expected.find(" Of the allocated memory"));
  }
  EXPECT_TRUE(stderr_->WaitFor(expected)) << stderr_->text();

  // A job that fits still runs, and the service is healthy.
  EXPECT_EQ(Http(port, "POST", "/generate", R"({"resolution":256,"frames":1})").status, 200);
  EXPECT_EQ(Held(pid_), PeakBytes(kDefaultModel, {256, 1, 1}));
}

TEST_F(DemoServiceTest, APortInUseExitsWithGradiosMessage) {
  int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(holder, 1), 0);
  socklen_t length = sizeof address;
  ::getsockname(holder, reinterpret_cast<sockaddr*>(&address), &length);
  std::string port = std::to_string(ntohs(address.sin_port));

  pid_t pid = Start({"--port", port});
  auto status = WaitExit(pid, milliseconds(10000));
  ::close(holder);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << *status;
  EXPECT_EQ(stderr_->text(),
            "OSError: Cannot find empty port in range: " + port + "-" + port +
                ". You can specify a different port by setting the GRADIO_SERVER_PORT environment "
                "variable or passing the `server_port` parameter to `launch()`.\n");
  EXPECT_EQ(stdout_->text().find("Running on local URL"), std::string::npos);
}

TEST_F(DemoServiceTest, SigtermDuringAJobExitsPromptly) {
  std::uint16_t port = StartReady({"--step-time", "1s"});
  ASSERT_NE(port, 0);
  // A 200-step job of one second per step, left running.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  std::string body = R"({"resolution":512,"steps":200})";
  std::string request =
      "POST /generate HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
      body;
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(PollUntil([&] { return Held(pid_) > kDefaultModel; }));  // the job is running
  EXPECT_EQ(Http(port, "GET", "/health").body["busy"], true);

  auto start = steady_clock::now();
  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  auto status = WaitExit(pid_, milliseconds(2000));
  auto took = steady_clock::now() - start;
  ::close(fd);
  ASSERT_TRUE(status.has_value()) << "still running 2 s after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_LT(took, milliseconds(1000));
  EXPECT_EQ(Held(pid_), std::nullopt);
}

TEST_F(DemoServiceTest, AForkedWorkerKeepsTheContextWhenTheServiceIsKilled) {
  std::uint16_t port = StartReady({"--fork-worker"});
  ASSERT_NE(port, 0);
  ASSERT_EQ(Http(port, "POST", "/generate", R"({"resolution":512})").status, 200);
  const Bytes peak = PeakBytes(kDefaultModel, {512, 16, 50});
  children_.Kill(pid_);
  // The ghost: the dead service's context lives on in its worker, at the high-water mark.
  EXPECT_EQ(Held(pid_), peak);
  children_.KillAll();  // the worker, reparented to this test
  EXPECT_EQ(Held(pid_), std::nullopt);
}

TEST_F(DemoServiceTest, IgnoreTermKeepsServing) {
  std::uint16_t port = StartReady({"--ignore-term"});
  ASSERT_NE(port, 0);
  ASSERT_EQ(::kill(pid_, SIGTERM), 0);  // ignored: discarded as it is sent
  EXPECT_EQ(Http(port, "GET", "/health").status, 200);
  int status = 0;
  EXPECT_EQ(::waitpid(pid_, &status, WNOHANG), 0);
}

TEST_F(DemoServiceTest, CrashAfterDiesOfSigsegvLeavingNoContext) {
  std::uint16_t port = StartReady({"--crash-after", "50ms"});
  ASSERT_NE(port, 0);
  auto status = WaitExit(pid_, milliseconds(10000));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGSEGV) << *status;
  EXPECT_EQ(Held(pid_), std::nullopt);
}

TEST_F(DemoServiceTest, BadUsageExits2) {
  pid_t pid = Start({"--backend", "rocm", "--port", "0"});
  auto status = WaitExit(pid, milliseconds(10000));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << *status;
  EXPECT_NE(stderr_->text().find("--backend"), std::string::npos);
}

}  // namespace
}  // namespace vg::demo
