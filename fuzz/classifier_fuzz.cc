// libFuzzer target: arbitrary bytes, split into lines, through the classifier, the field parser,
// the sentence and the JSON, checking the classifier's bounds on what it keeps.
//
// Input layout: if the first byte is 0x01, the first line is a user literal pattern (a config
// `patterns` entry); the rest are log lines. User regexes are fuzzed by pattern_fuzz.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <vector>

#include "check.h"
#include "core/classifier.h"
#include "core/explain_sentence.h"

namespace {

using vg_fuzz::Check;

void Use(const vg::Incident& incident, const std::vector<vg::GpuMemoryLine>& vram) {
  Check(incident.line.size() <= vg::Classifier::kLineBytes);
  Check(incident.context.size() <= vg::Classifier::kContextLines);
  for (const std::string& c : incident.context) Check(c.size() <= vg::Classifier::kContextBytes);
  std::string sentence = vg::ExplainIncident(incident, "svc", vram);
  Check(!sentence.empty());
  std::string json = vg::IncidentJson(incident).dump();
  Check(!json.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<vg::Signature> extra;
  if (!input.empty() && input[0] == '\x01') {
    std::size_t nl = input.find('\n');
    std::string_view pattern = input.substr(1, nl == std::string_view::npos ? nl : nl - 1);
    extra.push_back(
        vg::Signature{"", vg::IncidentKind::kOom, "", std::string(pattern), false, "fuzz", ""});
    input.remove_prefix(nl == std::string_view::npos ? input.size() : nl + 1);
  }
  const std::vector<vg::GpuMemoryLine> vram = {
      {0, vg::Bytes::GiB(24), vg::Bytes::GiB(1), {{4242, "comfyui", vg::Bytes::GiB(9)}}},
      {1, vg::Bytes::GiB(80), vg::Bytes::GiB(70), {}},
  };
  // Building a classifier compiles its regexes: reuse one (Flush resets every bit of its state)
  // unless the input brings a user pattern.
  static vg::Classifier shared;
  std::optional<vg::Classifier> own;
  if (!extra.empty()) own.emplace(std::move(extra));
  vg::Classifier& classifier = own ? *own : shared;
  int direct_lines = 0;
  while (!input.empty()) {
    std::size_t nl = input.find('\n');
    std::string_view line = input.substr(0, nl);
    for (const vg::Incident& i : classifier.Feed(line)) Use(i, vram);
    // The parser on its own, for both field sets, on the first lines (JSON per line is slow).
    if (direct_lines++ < 16) {
      vg::Incident direct;
      direct.fields = vg::ParseIncidentFields(line, vg::IncidentKind::kOom);
      Use(direct, {});
      direct.kind = vg::IncidentKind::kPortClash;
      direct.fields = vg::ParseIncidentFields(line, direct.kind);
      Use(direct, vram);
    }
    if (nl == std::string_view::npos) break;
    input.remove_prefix(nl + 1);
  }
  for (const vg::Incident& i : classifier.Flush()) Use(i, vram);
  return 0;
}
