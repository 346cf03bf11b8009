#include "core/incident_kernel.h"

#include <gtest/gtest.h>

#include "core/classifier.h"
#include "core/explain_sentence.h"

namespace vg {
namespace {

TEST(KernelMessageTest, Xid79IsDeviceLostWithBusAndXid) {
  auto inc = MatchKernelMessage(
      "NVRM: Xid (PCI:0000:3b:00): 79, pid=4242, name=python3, GPU has fallen off the bus.");
  ASSERT_TRUE(inc);
  EXPECT_EQ(inc->kind, IncidentKind::kDeviceLost);
  EXPECT_EQ(inc->signature, "xid-79");
  EXPECT_EQ(inc->fields.xid, 79);
  EXPECT_EQ(inc->fields.pci_bus, "0000:3b:00");
  EXPECT_EQ(inc->what, "GPU has fallen off the bus (Xid 79)");
}

TEST(KernelMessageTest, NewerDriverSpellingAndTheBusLine) {
  auto inc = MatchKernelMessage(
      "NVRM: Xid (PCI:0000:01:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the "
      "bus.");
  ASSERT_TRUE(inc);
  EXPECT_EQ(inc->kind, IncidentKind::kDeviceLost);
  auto bus = MatchKernelMessage("NVRM: GPU 0000:01:00.0: GPU has fallen off the bus.");
  ASSERT_TRUE(bus);
  EXPECT_EQ(bus->kind, IncidentKind::kDeviceLost);
  EXPECT_EQ(bus->signature, "gpu-fallen-off-bus");
  EXPECT_EQ(NormalizePciBusId(*bus->fields.pci_bus), "0000:01:00");
}

TEST(KernelMessageTest, SeriousXidsAreGpuErrorsWithTheirMeaning) {
  struct Case {
    const char* line;
    const char* signature;
    int xid;
    const char* meaning;
  } cases[] = {
      {"NVRM: Xid (PCI:0000:3b:00): 48, pid=1, name=python3, An uncorrectable double bit error "
       "(DBE) has been detected on GPU in the framebuffer at partition 6, subpartition 0.",
       "xid-ecc", 48, "double-bit ECC error"},
      {"NVRM: Xid (PCI:0000:3b:00): 94, pid=1, name=python3, Contained: SM (0x1). RST: No",
       "xid-ecc", 94, "contained ECC error"},
      {"NVRM: Xid (PCI:0000:3b:00): 95, pid=1, name=python3, Uncontained: LTC TAG (0x2,0x0).",
       "xid-ecc", 95, "uncontained ECC error"},
      {"NVRM: Xid (PCI:0000:3b:00): 74, pid=1, NVLink: fatal error detected on link 3",
       "xid-nvlink", 74, "NVLink error"},
      {"NVRM: Xid (PCI:0000:3b:00): 62, pid=1, name=python3, 0000(0000) 00000000 00000000",
       "xid-firmware", 62, "internal micro-controller halt"},
      {"NVRM: Xid (PCI:0000:3b:00): 119, pid=1, name=python3, Timeout after 6s of waiting for RPC "
       "response from GPU0 GSP!",
       "xid-firmware", 119, "GSP RPC timeout"},
      {"NVRM: Xid (PCI:0000:3b:00): 120, pid=1, name=python3, GSP task timeout", "xid-firmware",
       120, "GSP error"},
  };
  for (const Case& c : cases) {
    auto inc = MatchKernelMessage(c.line);
    ASSERT_TRUE(inc) << c.line;
    EXPECT_EQ(inc->kind, IncidentKind::kGpuError) << c.line;
    EXPECT_EQ(inc->signature, c.signature) << c.line;
    EXPECT_EQ(inc->fields.xid, c.xid) << c.line;
    EXPECT_EQ(inc->what, std::string(c.meaning) + " (Xid " + std::to_string(c.xid) + ")");
    EXPECT_EQ(inc->fields.pci_bus, "0000:3b:00");
  }
}

TEST(KernelMessageTest, ApplicationFaultsAndOtherKernelLinesAreNothing) {
  for (const char* line : {
           "NVRM: Xid (PCI:0000:01:00): 13, Graphics Exception",
           "NVRM: Xid (PCI:0000:01:00): 31, pid=1, Ch 00000010, MMU Fault",
           "NVRM: Xid (PCI:0000:01:00): 43, pid=1, Ch 00000008",
           "NVRM: Xid (PCI:0000:01:00): 480, pid=1, not a code the catalogue lists",
           "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  580.95.05",
           "Out of memory: Killed process 4242 (python3) total-vm:1234kB",
           "CUDA error: out of memory",  // a service's line, not a kernel signature
           "",
       }) {
    EXPECT_FALSE(MatchKernelMessage(line)) << line;
  }
}

TEST(KernelMessageTest, ServiceOutputWithAnXidLineIsAGpuErrorToo) {
  Classifier c;
  auto found = c.Feed("NVRM: Xid (PCI:0000:01:00): 48, pid=1, name=python3, DBE");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].kind, IncidentKind::kGpuError);
  EXPECT_EQ(IncidentJson(found[0])["kind"], "gpu-error");
}

TEST(KernelMessageTest, GpuErrorSentence) {
  auto inc = MatchKernelMessage("NVRM: Xid (PCI:0000:3b:00): 48, pid=1, name=python3, DBE");
  ASSERT_TRUE(inc);
  inc->fields.gpu = 1;
  EXPECT_EQ(ExplainIncident(*inc, "llm", {}),
            "GPU 1 reported double-bit ECC error (Xid 48): it is still there; services on it keep "
            "running");
}

TEST(XidMeaningTest, KnownAndUnknown) {
  EXPECT_STREQ(XidMeaning(79), "GPU has fallen off the bus");
  EXPECT_STREQ(XidMeaning(13), "graphics engine exception");
  EXPECT_EQ(XidMeaning(12345), nullptr);
}

TEST(PciBusIdTest, EverySpellingOfOneDeviceIsTheSame) {
  EXPECT_EQ(NormalizePciBusId("00000000:3B:00.0"), "0000:3b:00");  // NVML busId
  EXPECT_EQ(NormalizePciBusId("0000:3b:00"), "0000:3b:00");        // kernel Xid
  EXPECT_EQ(NormalizePciBusId("PCI:0000:3b:00"), "0000:3b:00");
  EXPECT_EQ(NormalizePciBusId("0000:3b:00.0"), "0000:3b:00");
  EXPECT_EQ(NormalizePciBusId("3b:00.0"), "0000:3b:00");
  EXPECT_EQ(NormalizePciBusId("00000001:01:1F.0"), "0001:01:1f");
  EXPECT_NE(NormalizePciBusId("0000:3b:00"), NormalizePciBusId("0000:3c:00"));
}

TEST(PciBusIdTest, NotAnAddress) {
  for (const char* s : {"", "GPU-5a1e", "0000:3b", "0000:3g:00", "0000:3b:00:00", "0000:100:00",
                        "0000:3b:20", "0000:3b:00.x", "1:2:3:4"}) {
    EXPECT_FALSE(NormalizePciBusId(s)) << s;
  }
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

TEST(KernelOomKillTest, EveryKernelsWordingGivesThePidAndName) {
  auto k = MatchKernelOomKill(
      "Out of memory: Killed process 1440763 (perl) total-vm:87033376kB, anon-rss:60356340kB");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->pid, 1440763);
  EXPECT_EQ(k->name, "perl");
  k = MatchKernelOomKill("Memory cgroup out of memory: Killed process 4242 (python3) total-vm:1kB");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->pid, 4242);
  k = MatchKernelOomKill("Out of memory: Kill process 25315 (python) score 905 or sacrifice child");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->name, "python");
  EXPECT_FALSE(MatchKernelOomKill("python invoked oom-killer: gfp_mask=0x14200ca, order=0"));
  EXPECT_FALSE(MatchKernelOomKill("Out of memory: Killed process (python)"));
  EXPECT_FALSE(MatchKernelOomKill("NVRM: Xid (PCI:0000:01:00): 79, pid=4242, name=python3"));
}

}  // namespace
}  // namespace vg
