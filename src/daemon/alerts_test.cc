#include "daemon/alerts.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "store/memory_store.h"

namespace vg {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class AlertsTest : public ::testing::Test {
 protected:
  AlertsTest() : hub_(store_, false) {
    // As in the daemon (daemon_main.cc): a receiver that exits before reading its stdin must be
    // an error value, not a SIGPIPE that kills the process.
    ::signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/vg-alerts-test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~AlertsTest() override { std::filesystem::remove_all(dir_); }

  // A command receiver that writes each payload to a file of its own in `dir` (deliveries run
  // concurrently).
  AlertSpec Command(const std::string& dir) {
    AlertSpec a;
    a.command = {"sh", "-c", "cat > \"$(mktemp -p '" + dir + "' alert.XXXXXX)\""};
    a.kinds = {"oom"};
    return a;
  }
  ChildWatch Children() {
    // No SIGCHLD handler here: RunCommand's own waitpid collects the status.
    return ChildWatch{[](pid_t) {}, [](pid_t) -> std::optional<int> { return std::nullopt; }};
  }
  std::vector<nlohmann::json> Lines(const std::string& dir) {
    std::vector<nlohmann::json> out;
    if (!std::filesystem::exists(dir)) return out;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      out.push_back(nlohmann::json::parse(text.str()));
    }
    return out;
  }
  void Oom(const std::string& service, const std::string& signature) {
    hub_.Emit(service, "", "oom", "asked for too much", {{"incident", {{"signature", signature}}}});
  }

  MemoryStore store_;
  EventHub hub_;
  asio::io_context io_;
  std::string dir_;
};

TEST_F(AlertsTest, OneAlertAtOnceThenASummaryWithTheCount) {
  const std::string file = dir_ + "/alerts";
  std::filesystem::create_directory(file);
  AlertDispatcher d(io_, hub_, Children());
  AlertSpec a = Command(file);
  a.dedup = 300ms;
  d.Configure({a});
  Oom("i2v", "torch-oom");
  Oom("i2v", "torch-oom");
  Oom("i2v", "torch-oom");
  Oom("sd", "torch-oom");                  // another service: its own alert
  hub_.Emit("i2v", "", "ready", "ready");  // not an alerted kind
  io_.run_for(1500ms);
  std::vector<nlohmann::json> got = Lines(file);
  ASSERT_EQ(got.size(), 3u);
  std::map<std::string, std::vector<int>> counts;
  for (const auto& j : got) counts[j["service"]].push_back(j["count"]);
  // Files come back in directory order, not delivery order.
  std::sort(counts["i2v"].begin(), counts["i2v"].end());
  EXPECT_EQ(counts["i2v"], (std::vector<int>{1, 2}));
  EXPECT_EQ(counts["sd"], (std::vector<int>{1}));
}

TEST_F(AlertsTest, AFailedDeliveryBecomesAnAlertFailedEventThatIsNeverAlerted) {
  const std::string file = dir_ + "/alerts";
  std::filesystem::create_directory(file);
  AlertDispatcher d(io_, hub_, Children());
  AlertSpec failing;
  failing.command = {"sh", "-c", "exit 3"};
  failing.retries = 0;
  AlertSpec recorder = Command(file);
  recorder.kinds = {"oom", "stuck"};
  d.Configure({failing, recorder});
  Oom("i2v", "torch-oom");
  io_.run_for(1000ms);
  EventFilter f;
  f.kind = "alert-failed";
  auto failed = store_.ListEvents(f);
  ASSERT_TRUE(failed.has_value());
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_NE(failed->front().message.find("exited with status 3"), std::string::npos);
  EXPECT_EQ(failed->front().service, "i2v");
  for (const auto& j : Lines(file)) EXPECT_EQ(j["kind"], "oom");
}

TEST_F(AlertsTest, ACommandThatHangsIsKilledAtTheTimeout) {
  AlertDispatcher d(io_, hub_, Children());
  AlertSpec slow;
  slow.command = {"sleep", "30"};
  slow.kinds = {"oom"};
  slow.timeout = 200ms;
  slow.retries = 0;
  d.Configure({slow});
  const auto t0 = std::chrono::steady_clock::now();
  Oom("i2v", "torch-oom");
  EventFilter f;
  f.kind = "alert-failed";
  while (std::chrono::steady_clock::now() - t0 < 3s) {
    io_.run_for(50ms);
    if (auto got = store_.ListEvents(f); got && !got->empty()) break;
  }
  auto got = store_.ListEvents(f);
  ASSERT_TRUE(got && got->size() == 1);
  EXPECT_NE(got->front().message.find("killed"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

}  // namespace
}  // namespace vg
