#include "demo_app.h"
#include "flags.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

namespace vg::demo {
namespace {

using Json = nlohmann::json;

// GpuMemory on a pretend device of `total` bytes, with one other process on it. Records every
// call so tests can tell a cached high-water mark (no allocation) from a new one.
class FakeGpuMemory : public GpuMemory {
 public:
  explicit FakeGpuMemory(Bytes total) : total_(total) {}

  Result<void> Grow(Bytes target) override {
    grows.push_back(target);
    if (target <= held_) return {};
    if (target + other_ > total_) {
      OomReport r;
      r.device = 0;
      r.requested = target - held_;
      r.total = total_;
      r.free = total_ - other_ - held_;
      r.self_pid = 200;
      r.processes = {{100, other_}, {200, held_}};
      oom_ = r;
      return Fail(ErrorCode::kRefused, "out of memory");
    }
    held_ = target;
    return {};
  }
  Result<void> ReleaseTo(Bytes target) override {
    releases.push_back(target);
    if (target < held_) held_ = target;
    return {};
  }
  Bytes Held() const override { return held_; }
  std::optional<OomReport> LastOom() const override { return oom_; }
  std::string Describe() const override { return "fake"; }

  void set_other(Bytes other) { other_ = other; }

  std::vector<Bytes> grows;
  std::vector<Bytes> releases;

 private:
  Bytes total_;
  Bytes held_;
  Bytes other_;
  std::optional<OomReport> oom_;
};

class DemoAppTest : public ::testing::Test {
 protected:
  DemoAppTest() : memory_(Bytes::GiB(24)) { EXPECT_TRUE(memory_.Grow(kDefaultModel)); }

  DemoApp MakeApp(std::chrono::milliseconds step_time = std::chrono::milliseconds(0)) {
    return DemoApp(memory_, kDefaultModel, step_time,
                   [this](std::string_view line) { errors_.emplace_back(line); });
  }

  static HttpRequest Request(std::string method, std::string target, std::string body = "") {
    HttpRequest r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.body = std::move(body);
    return r;
  }

  static Json Body(const HttpResponse& r) { return Json::parse(r.body); }

  FakeGpuMemory memory_;
  std::vector<std::string> errors_;
};

TEST_F(DemoAppTest, HealthReportsModelAndHeld) {
  DemoApp app = MakeApp();
  for (const char* target : {"/", "/health"}) {
    HttpResponse r = app.Handle(Request("GET", target));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(Body(r), (Json{{"status", "ok"},
                             {"model_bytes", kDefaultModel.count()},
                             {"held_bytes", kDefaultModel.count()},
                             {"busy", false}}));
  }
}

TEST_F(DemoAppTest, AJobGrowsToItsPeakAndKeepsItLikeACachingAllocator) {
  DemoApp app = MakeApp();
  const Bytes peak768 = PeakBytes(kDefaultModel, {768, 24, 80});
  HttpResponse r = app.Handle(Request("POST", "/generate", R"({"resolution":768,"frames":24})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["ok"], true);
  EXPECT_EQ(Body(r)["peak_bytes"], peak768.count());
  EXPECT_EQ(memory_.Held(), peak768);  // still held after the job
  EXPECT_EQ(app.held(), peak768);

  // A smaller job fits in the cache: the high-water mark stays.
  r = app.Handle(Request("POST", "/generate", R"({"resolution":512,"frames":16})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["peak_bytes"], PeakBytes(kDefaultModel, {512, 16, 50}).count());
  EXPECT_EQ(memory_.Held(), peak768);
  EXPECT_TRUE(memory_.releases.empty());

  // A larger one raises it.
  r = app.Handle(Request("POST", "/generate", R"({"resolution":1024,"frames":32})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(memory_.Held(), PeakBytes(kDefaultModel, {1024, 32, 100}));
  EXPECT_EQ(Body(app.Handle(Request("GET", "/health")))["held_bytes"],
            PeakBytes(kDefaultModel, {1024, 32, 100}).count());
}

TEST_F(DemoAppTest, FreeReleasesBackToTheModel) {
  DemoApp app = MakeApp();
  ASSERT_EQ(app.Handle(Request("POST", "/generate", R"({"resolution":768})")).status, 200);
  Bytes before = memory_.Held();
  HttpResponse r = app.Handle(Request("POST", "/free"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["freed_bytes"], (before - kDefaultModel).count());
  EXPECT_EQ(memory_.Held(), kDefaultModel);
  EXPECT_EQ(Body(app.Handle(Request("POST", "/free")))["freed_bytes"], 0);
}

TEST_F(DemoAppTest, OutOfMemoryPrintsPyTorchsMessageAndKeepsWhatWasHeld) {
  DemoApp app = MakeApp();
  ASSERT_EQ(app.Handle(Request("POST", "/generate", R"({"resolution":256,"frames":1})")).status,
            200);
  const Bytes before = memory_.Held();
  memory_.set_other(Bytes::GiB(10));
  HttpResponse r = app.Handle(Request("POST", "/generate", R"({"resolution":768,"frames":24})"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(Body(r)["error"], "CUDA out of memory");
  EXPECT_EQ(Body(r)["tried_to_allocate_bytes"],
            (PeakBytes(kDefaultModel, {768, 24, 1}) - before).count());
  EXPECT_EQ(memory_.Held(), before);
  EXPECT_EQ(app.held(), before);
  ASSERT_EQ(errors_.size(), 1u);
  // 8 GiB of model tensors are allocated; the 538 MiB cached from the first job are not.
  EXPECT_NE(errors_[0].find("Of the allocated memory 8.00 GiB is allocated by PyTorch, and 538.00 "
                            "MiB is reserved by PyTorch but unallocated."),
            std::string::npos)
      << errors_[0];
  EXPECT_TRUE(
      errors_[0].starts_with("torch.OutOfMemoryError: CUDA out of memory. Tried to "
                             "allocate 7.19 GiB. GPU 0 has a total capacity of 24.00 GiB"))
      << errors_[0];
  EXPECT_NE(errors_[0].find("Process 100 has 10.00 GiB memory in use. Including non-PyTorch "
                            "memory, this process has 8.53 GiB memory in use."),
            std::string::npos)
      << errors_[0];
}

TEST_F(DemoAppTest, BadParametersAre400NamingTheParameter) {
  DemoApp app = MakeApp();
  HttpResponse r = app.Handle(Request("POST", "/generate", R"({"resolution":640})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r)["parameter"], "resolution");
  EXPECT_EQ(app.Handle(Request("POST", "/generate", "{")).status, 400);
  // A name that is not UTF-8 still yields a JSON answer.
  EXPECT_EQ(app.Handle(Request("POST", "/generate", "{\"\xff\":1}")).status, 400);
  EXPECT_TRUE(memory_.grows.size() == 1u);  // only the model's
}

TEST_F(DemoAppTest, UnknownPathsAndWrongMethods) {
  DemoApp app = MakeApp();
  EXPECT_EQ(app.Handle(Request("GET", "/nope")).status, 404);
  HttpResponse r = app.Handle(Request("GET", "/generate"));
  EXPECT_EQ(r.status, 405);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Allow", "POST"}));
  EXPECT_EQ(app.Handle(Request("DELETE", "/health")).status, 405);
  EXPECT_EQ(app.Handle(Request("POST", "/free?now=1")).status, 200);
}

TEST_F(DemoAppTest, StopEndsARunningJobAndRefusesLaterOnes) {
  DemoApp app = MakeApp(std::chrono::hours(1));
  HttpResponse job;
  std::thread worker(
      [&] { job = app.Handle(Request("POST", "/generate", R"({"resolution":768})")); });
  while (!app.busy()) std::this_thread::yield();
  EXPECT_EQ(Body(app.Handle(Request("GET", "/health")))["busy"], true);  // health never waits
  app.Stop();
  worker.join();
  EXPECT_EQ(job.status, 503);
  EXPECT_EQ(app.Handle(Request("POST", "/generate")).status, 503);
  EXPECT_EQ(app.Handle(Request("POST", "/free")).status, 503);
  EXPECT_EQ(app.Handle(Request("GET", "/health")).status, 200);
}

}  // namespace
}  // namespace vg::demo
