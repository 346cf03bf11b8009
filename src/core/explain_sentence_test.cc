#include "core/explain_sentence.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

Incident Oom() {
  Incident i;
  i.kind = IncidentKind::kOom;
  i.what = "CUDA out of memory";
  i.fields.requested = Bytes((210ull << 30) / 100);
  i.fields.gpu = 0;
  i.fields.free = Bytes((120ull << 30) / 100);
  return i;
}

TEST(ExplainIncidentTest, OomWithSnapshot) {
  std::vector<GpuMemoryLine> vram = {
      {1, Bytes::GiB(24), Bytes::GiB(20), {}},
      {0, Bytes::GiB(24), Bytes::GiB(1), {{4242, "comfyui", Bytes((98ull << 30) / 10)}}},
  };
  EXPECT_EQ(
      ExplainIncident(Oom(), "i2v", vram),
      "i2v asked for 2.10 GiB on GPU 0 with 1.20 GiB free; comfyui (pid 4242) holds 9.80 GiB");
}

TEST(ExplainIncidentTest, OomWithoutSnapshotUsesTheMessagesProcesses) {
  Incident i = Oom();
  i.fields.capacity = Bytes::GiB(24);
  i.fields.processes = {{597, Bytes::GiB(20)}};
  EXPECT_EQ(ExplainIncident(i, "i2v", {}),
            "i2v asked for 2.10 GiB on GPU 0 with 1.20 GiB free of 24.00 GiB; process 597 holds "
            "20.00 GiB");
}

TEST(ExplainIncidentTest, OomWithoutNumbersSaysWhatIsKnown) {
  Incident i;
  i.kind = IncidentKind::kOom;
  i.what = "could not allocate the KV cache";
  EXPECT_EQ(ExplainIncident(i, "llm", {}),
            "llm ran out of GPU memory (could not allocate the KV cache)");
  EXPECT_EQ(ExplainIncident(i, "", {{0, Bytes::GiB(8), Bytes::MiB(512), {}}}),
            "the service ran out of GPU memory on GPU 0 (could not allocate the KV cache) with "
            "512.00 MiB free of 8.00 GiB");
}

TEST(ExplainIncidentTest, EveryKind) {
  Incident sticky;
  sticky.kind = IncidentKind::kSticky;
  sticky.what = "illegal memory access";
  EXPECT_EQ(ExplainIncident(sticky, "i2v", {}),
            "i2v hit a sticky CUDA error (illegal memory access); the process must restart");

  Incident lost;
  lost.kind = IncidentKind::kDeviceLost;
  lost.fields.gpu = 0;
  lost.fields.xid = 79;
  EXPECT_EQ(ExplainIncident(lost, "i2v", {}),
            "GPU 0 fell off the bus (Xid 79): restarting will not help");
  lost.fields.gpu.reset();
  lost.fields.xid.reset();
  EXPECT_EQ(ExplainIncident(lost, "i2v", {}), "A GPU fell off the bus: restarting will not help");

  // The kernel log names GPUs by PCI bus id; a GPU error is not a loss.
  Incident ecc;
  ecc.kind = IncidentKind::kGpuError;
  ecc.what = "GPU memory (ECC) error";
  ecc.fields.pci_bus = "0000:01:00";
  EXPECT_EQ(ExplainIncident(ecc, "i2v", {}),
            "GPU 0000:01:00 reported GPU memory (ECC) error: it is still there; services on it "
            "keep running");
  ecc.fields.pci_bus.reset();
  EXPECT_EQ(
      ExplainIncident(ecc, "i2v", {}),
      "A GPU reported GPU memory (ECC) error: it is still there; services on it keep running");

  Incident port;
  port.kind = IncidentKind::kPortClash;
  port.fields.port = 7860;
  EXPECT_EQ(ExplainIncident(port, "i2v", {}),
            "i2v could not listen on port 7860: another process holds it");

  Incident probable;
  probable.kind = IncidentKind::kOomProbable;
  probable.what = "NVML assert in the CUDA caching allocator";
  EXPECT_EQ(ExplainIncident(probable, "i2v", {}),
            "i2v probably ran out of GPU memory (NVML assert in the CUDA caching allocator)");

  Incident ready;
  ready.kind = IncidentKind::kReady;
  ready.fields.port = 8188;
  EXPECT_EQ(ExplainIncident(ready, "comfyui", {}), "comfyui is ready on port 8188");
}

}  // namespace
}  // namespace vg
