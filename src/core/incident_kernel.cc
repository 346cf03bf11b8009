#include "core/incident_kernel.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <utility>
#include <vector>

#include "util/pattern.h"

namespace vg {
namespace {

// NVIDIA's Xid catalogue for Ampere, Hopper and Blackwell (docs/oom.md, "Xid codes").
constexpr std::array<std::pair<int, const char*>, 35> kXids{{
    {13, "graphics engine exception"},
    {31, "GPU memory page fault"},
    {43, "GPU stopped processing"},
    {45, "preemptive cleanup after an earlier error"},
    {48, "double-bit ECC error"},
    {61, "internal micro-controller breakpoint"},
    {62, "internal micro-controller halt"},
    {63, "ECC page retirement or row remapping recorded"},
    {64, "ECC page retirement or row remapping failed"},
    {74, "NVLink error"},
    {79, "GPU has fallen off the bus"},
    {92, "high single-bit ECC error rate"},
    {94, "contained ECC error"},
    {95, "uncontained ECC error"},
    {109, "context switch timeout"},
    {110, "security fault"},
    {119, "GSP RPC timeout"},
    {120, "GSP error"},
    {121, "C2C link error"},
    {136, "NVLink training failed"},
    {140, "unrecovered ECC error"},
    {143, "GPU initialisation failure"},
    {144, "NVLink5 error (SAW)"},
    {145, "NVLink5 error (RLW)"},
    {146, "NVLink5 error (TLW)"},
    {147, "NVLink5 error (TREX)"},
    {148, "NVLink5 error (NVLPW_CTRL)"},
    {149, "NVLink5 error (NETIR)"},
    {150, "NVLink5 error (MSE)"},
    {154, "GPU recovery action changed"},
    {155, "NVLink link down (software-defined)"},
    {156, "resource retirement event"},
    {157, "resource retirement failure"},
    {158, "GPU fatal timeout"},
    {159, "CHI non-data error"},
}};

// The driver's signatures, with their regexes compiled once.
struct KernelSignature {
  const Signature* sig;
  std::optional<Pattern> re;
};

const std::vector<KernelSignature>& KernelSignatures() {
  static const std::vector<KernelSignature> sigs = [] {
    std::vector<KernelSignature> out;
    for (const Signature& s : BuiltinCatalogue()) {
      if (s.engine != "nvidia-driver") continue;
      KernelSignature k{&s, std::nullopt};
      if (s.regex) {
        if (Result<Pattern> p = Pattern::Compile(s.match)) k.re.emplace(std::move(*p));
      }
      out.push_back(std::move(k));
    }
    return out;
  }();
  return sigs;
}

std::optional<unsigned> Hex(std::string_view s, unsigned max) {
  if (s.empty() || s.size() > 8) return std::nullopt;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

}  // namespace

const char* XidMeaning(int xid) {
  for (const auto& [code, meaning] : kXids) {
    if (code == xid) return meaning;
  }
  return nullptr;
}

std::optional<Incident> MatchKernelMessage(std::string_view message) {
  std::string line = CleanLogLine(message);
  std::string_view head = std::string_view(line).substr(0, kMaxMatchLineBytes);
  for (const KernelSignature& k : KernelSignatures()) {
    const Signature& s = *k.sig;
    if (!s.anchor.empty() && head.find(s.anchor) == std::string_view::npos) continue;
    const bool hit = k.re ? k.re->Search(head) : head.find(s.match) != std::string_view::npos;
    if (!hit) continue;
    Incident inc;
    inc.kind = s.kind;
    inc.signature = s.id;
    inc.engine = s.engine;
    inc.fields = ParseIncidentFields(line, s.kind);
    inc.what = s.what;
    if (inc.fields.xid) {
      if (const char* m = XidMeaning(*inc.fields.xid))
        inc.what = std::string(m) + " (Xid " + std::to_string(*inc.fields.xid) + ")";
      // "… 154, GPU recovery action changed from 0x0 (None) to 0x2 (Node Reboot Required)".
      if (*inc.fields.xid == 154) {
        std::string_view l = line;
        if (std::size_t to = l.find(" to 0x"); to != std::string_view::npos) {
          std::size_t open = l.find('(', to);
          std::size_t close = open == std::string_view::npos ? open : l.find(')', open);
          if (close != std::string_view::npos && close - open < 64)
            inc.what += ": " + std::string(l.substr(open + 1, close - open - 1));
        }
      }
    }
    inc.line = line.substr(0, 8 * 1024);
    return inc;
  }
  return std::nullopt;
}

std::optional<std::string> NormalizePciBusId(std::string_view id) {
  if (id.starts_with("PCI:")) id.remove_prefix(4);
  if (std::size_t dot = id.rfind('.'); dot != std::string_view::npos) {
    if (!Hex(id.substr(dot + 1), 7)) return std::nullopt;
    id = id.substr(0, dot);
  }
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t colon = id.find(':', start);
    parts.push_back(id.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() == 2) parts.insert(parts.begin(), "0");
  if (parts.size() != 3) return std::nullopt;
  auto domain = Hex(parts[0], 0xffffffffu);
  auto bus = Hex(parts[1], 0xff);
  auto device = Hex(parts[2], 0x1f);
  if (!domain || !bus || !device) return std::nullopt;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04x:%02x:%02x", *domain, *bus, *device);
  return std::string(buf);
}

std::optional<KernelOomKill> MatchKernelOomKill(std::string_view message) {
  for (std::string_view marker : {std::string_view("ut of memory: Killed process "),
                                  std::string_view("ut of memory: Kill process ")}) {
    const std::size_t at = message.find(marker);
    if (at == std::string_view::npos || at == 0) continue;
    if (message[at - 1] != 'O' && message[at - 1] != 'o') continue;
    std::size_t i = at + marker.size();
    long pid = 0;
    std::size_t digits = 0;
    while (i < message.size() && message[i] >= '0' && message[i] <= '9' && digits < 10) {
      pid = pid * 10 + (message[i++] - '0');
      ++digits;
    }
    if (digits == 0 || pid <= 0) return std::nullopt;
    KernelOomKill kill{.pid = pid, .name = {}};
    if (message.substr(i).starts_with(" (")) {
      const std::size_t close = message.find(')', i + 2);
      if (close != std::string_view::npos)
        kill.name = std::string(message.substr(i + 2, std::min<std::size_t>(close - i - 2, 64)));
    }
    return kill;
  }
  return std::nullopt;
}

}  // namespace vg
