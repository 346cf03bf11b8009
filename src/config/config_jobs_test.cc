#include <gtest/gtest.h>

#include "config/config.h"
#include "daemon/job_planner.h"

namespace vg {
namespace {

constexpr std::string_view kJobs = R"([[service]]
name = "i2v"
command = ["demo"]
gpus = [0]
vram = "9GiB"
port = 7860
idle_unload = "15m"
jobs = { endpoint = "/generate", concurrency = 2, idempotent = true, timeout = "5m", max_payload = "64KiB" }

[[service.param]]
name = "resolution"
type = "int"
choices = [1024, 256, 512, 768]
default = 512
memory_exponent = 2

[[service.param]]
name = "frames"
type = "int"
min = 1
max = 64
default = 16
memory_exponent = 1

[[service.param]]
name = "prompt"
type = "string"

[[service.sizing]]
resolution = 768
frames = 24
vram = "7.8GiB"
)";

std::string Errors(const ConfigResult& r) {
  std::string out;
  if (!r) {
    for (const ConfigDiagnostic& d : r.error()) out += d.ToString() + "\n";
  }
  return out;
}

TEST(ConfigJobs, EveryKeyIsRead) {
  ConfigResult r = ParseConfig(kJobs, "/etc/vg.toml");
  ASSERT_TRUE(r) << Errors(r);
  const ServiceConfig& s = r->services.at(0);
  EXPECT_TRUE(s.jobs.enabled);
  EXPECT_EQ(s.jobs.method, "POST");
  EXPECT_EQ(s.jobs.url, "http://127.0.0.1:7860/generate");
  EXPECT_EQ(s.jobs.concurrency, 2);
  EXPECT_TRUE(s.jobs.idempotent);
  EXPECT_EQ(s.jobs.timeout, Millis(300000));
  EXPECT_EQ(s.jobs.max_payload, Bytes(64 << 10));
  ASSERT_EQ(s.idle_unload, Millis(900000));
  ASSERT_EQ(s.jobs.params.size(), 3u);
  EXPECT_EQ(s.jobs.params[0].choices, (std::vector<double>{256, 512, 768, 1024}));
  EXPECT_EQ(s.jobs.params[0].default_number, 512);
  EXPECT_EQ(s.jobs.params[0].memory_exponent, 2);
  EXPECT_EQ(s.jobs.params[1].min, 1);
  EXPECT_EQ(s.jobs.params[1].max, 64);
  EXPECT_EQ(s.jobs.params[2].type, JobParamConfig::Type::kString);
  ASSERT_EQ(s.jobs.sizing.size(), 1u);
  EXPECT_EQ(s.jobs.sizing[0].params.at("frames"), 24);
  EXPECT_EQ(s.jobs.sizing[0].vram, Bytes(static_cast<std::uint64_t>(7.8 * (1ull << 30))));
}

TEST(ConfigJobs, WithoutJobsNothingChanges) {
  ConfigResult r = ParseConfig("[[service]]\nname = \"a\"\ncommand = [\"x\"]\n", "/etc/vg.toml");
  ASSERT_TRUE(r) << Errors(r);
  EXPECT_FALSE(r->services[0].jobs.enabled);
  EXPECT_FALSE(r->services[0].idle_unload);
}

// Each broken file names the problem at its line.
TEST(ConfigJobs, MistakesAreDiagnosedWithTheirLine) {
  struct Case {
    std::string text;
    std::string expect;
  };
  const std::string head = "[[service]]\nname = \"a\"\ncommand = [\"x\"]\nport = 7860\n";
  const std::vector<Case> cases = {
      {head + "jobs = { concurrency = 1 }\n", "needs 'endpoint'"},
      {head + "jobs = { endpoint = \"FETCH http://x/\" }\n", "invalid HTTP method"},
      {head + "jobs = { endpoint = \"/g\", colour = 1 }\n", "colour"},
      {head + "jobs = { endpoint = \"/g\" }\n", "sizing table"},
      {head + "jobs = { endpoint = \"/g\" }\n[[service.param]]\nname = \"f\"\nmin = 5\nmax = 1\n"
              "[[service.sizing]]\nf = 1\nvram = \"1GiB\"\n",
       "below"},
      {head + "jobs = { endpoint = \"/g\" }\n[[service.param]]\nname = \"f\"\ntype = \"complex\"\n",
       "\"int\", \"float\""},
      {head + "jobs = { endpoint = \"/g\" }\n[[service.sizing]]\nzzz = 1\nvram = \"1GiB\"\n",
       "no [[service.param]] declares"},
      {head + "jobs = { endpoint = \"/g\" }\n[[service.sizing]]\n", "needs vram"},
      {head + "[[service.param]]\nname = \"f\"\n", "also needs jobs"},
      {head + "idle_unload = \"0s\"\n", "idle_unload"},
      {head +
           "jobs = { endpoint = \"/g\" }\n[[service.param]]\nname = \"f\"\nmemory_exponent = 9\n",
       "between 0 and 4"},
  };
  for (const Case& c : cases) {
    ConfigResult r = ParseConfig(c.text, "/etc/vg.toml");
    ASSERT_FALSE(r) << c.text;
    std::string all = Errors(r);
    EXPECT_NE(all.find(c.expect), std::string::npos) << c.text << "\n→ " << all;
    EXPECT_NE(all.find("/etc/vg.toml:"), std::string::npos) << all;
  }
}

// The daemon's schema for the core: types, choices, defaults and sizing rows carried over.
TEST(ConfigJobs, SchemaFromConfigKeepsEverything) {
  ConfigResult r = ParseConfig(kJobs, "/etc/vg.toml");
  ASSERT_TRUE(r) << Errors(r);
  JobSchema schema = SchemaFromConfig(r->services[0].jobs);
  ASSERT_EQ(schema.params.size(), 3u);
  EXPECT_EQ(schema.concurrency, 2u);
  EXPECT_EQ(schema.params[0].choices.size(), 4u);
  EXPECT_TRUE(schema.params[0].choices[0].is_number_integer());
  EXPECT_EQ(*schema.params[0].default_value, 512);
  EXPECT_FALSE(schema.params[2].default_value);  // required
  ASSERT_EQ(schema.sizing.size(), 1u);
  EXPECT_TRUE(schema.sizing[0].params.at("resolution").is_number_integer());

  std::string bad;
  auto ok = ValidateParams(schema, {{"resolution", 768}, {"prompt", "a cat"}}, &bad);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->at("frames"), 16);  // the default
  auto no = ValidateParams(schema, {{"resolution", 800}, {"prompt", "x"}}, &bad);
  ASSERT_FALSE(no);
  EXPECT_EQ(bad, "resolution");
}

// The planner door: an estimate comes from the sizing table, and a learned exact observation
// moves it; a schema change forgets what was learned.
TEST(JobPlanner, EstimatesLearnAndResetOnSchemaChange) {
  ConfigResult r = ParseConfig(kJobs, "/etc/vg.toml");
  ASSERT_TRUE(r) << Errors(r);
  JobPlanner p;
  p.Configure("i2v", r->services[0].jobs);
  nlohmann::json params = {{"resolution", 768}, {"frames", 24}, {"prompt", "x"}};
  auto v = p.Validate("i2v", params, nullptr);
  ASSERT_TRUE(v);
  PlanEstimate before = p.Estimate("i2v", *v);
  EXPECT_GE(before.bytes, Bytes(static_cast<std::uint64_t>(7.8 * (1ull << 30))));
  for (int i = 0; i < 5; ++i) p.Observe("i2v", *v, Bytes::GiB(5), PeakKind::kExact);
  PlanEstimate after = p.Estimate("i2v", *v);
  EXPECT_LT(after.bytes, before.bytes);
  p.Configure("i2v", r->services[0].jobs);  // unchanged: keeps what it learned
  EXPECT_EQ(p.Estimate("i2v", *v).bytes, after.bytes);
  JobsConfig changed = r->services[0].jobs;
  changed.sizing[0].vram = Bytes::GiB(10);
  p.Configure("i2v", changed);
  EXPECT_GT(p.Estimate("i2v", *v).bytes, before.bytes);
  EXPECT_FALSE(p.Validate("nope", params, nullptr));
}

}  // namespace
}  // namespace vg
