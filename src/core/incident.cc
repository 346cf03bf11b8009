#include "core/incident.h"

#include <algorithm>
#include <array>
#include <utility>

#include "util/pattern.h"

namespace vg {
namespace {

constexpr std::array<std::pair<IncidentKind, const char*>, 8> kKindNames{{
    {IncidentKind::kOom, "oom"},
    {IncidentKind::kOomProbable, "oom-probable"},
    {IncidentKind::kSticky, "sticky"},
    {IncidentKind::kDeviceLost, "device-lost"},
    {IncidentKind::kPortClash, "port-clash"},
    {IncidentKind::kReady, "ready"},
    {IncidentKind::kGpuError, "gpu-error"},
    {IncidentKind::kHostOom, "host-oom"},
}};

nlohmann::json OptBytes(const std::optional<Bytes>& b) {
  return b ? nlohmann::json(b->count()) : nlohmann::json(nullptr);
}
template <class T>
nlohmann::json Opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// JSON strings must be valid UTF-8: log lines need not be. Bytes that do not form valid UTF-8
// become U+FFFD so dump() never throws.
std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xE  ? 3
                      : (c >> 3) == 0x1E ? 4
                                         : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    }
    if (ok && len == 2) ok = c >= 0xC2;
    if (ok && len == 3) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);
    }
    if (ok && len == 4) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = c <= 0xF4 && !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

}  // namespace

const char* IncidentKindName(IncidentKind kind) {
  for (const auto& [k, name] : kKindNames) {
    if (k == kind) return name;
  }
  return "oom";
}

std::optional<IncidentKind> ParseIncidentKind(std::string_view name) {
  for (const auto& [k, n] : kKindNames) {
    if (name == n) return k;
  }
  return std::nullopt;
}

int IncidentFields::Count() const {
  return requested.has_value() + capacity.has_value() + free.has_value() + process.has_value() +
         allocated.has_value() + reserved_unallocated.has_value() + reserved.has_value() +
         gpu.has_value() + static_cast<int>(processes.size()) + port.has_value() + xid.has_value() +
         pci_bus.has_value();
}

bool IncidentFields::FillFrom(const IncidentFields& more) {
  bool filled = false;
  auto fill = [&filled](auto& mine, const auto& theirs) {
    if (!mine && theirs) {
      mine = theirs;
      filled = true;
    }
  };
  if (!requested && more.requested) requested_exact = more.requested_exact;
  fill(requested, more.requested);
  if (requested && more.requested && !requested_exact && more.requested_exact &&
      *requested != *more.requested) {
    const std::uint64_t a = requested->count();
    const std::uint64_t b = more.requested->count();
    if ((a > b ? a - b : b - a) <= std::max(a, b) / 100) {
      requested = more.requested;
      requested_exact = true;
      filled = true;
    }
  }
  fill(capacity, more.capacity);
  fill(free, more.free);
  fill(process, more.process);
  fill(allocated, more.allocated);
  fill(reserved_unallocated, more.reserved_unallocated);
  fill(reserved, more.reserved);
  fill(gpu, more.gpu);
  fill(port, more.port);
  fill(xid, more.xid);
  fill(pci_bus, more.pci_bus);
  if (processes.empty() && !more.processes.empty()) {
    processes = more.processes;
    filled = true;
  }
  return filled;
}

nlohmann::json IncidentJson(const Incident& incident) {
  const IncidentFields& f = incident.fields;
  nlohmann::json processes = nlohmann::json::array();
  for (const ProcessUse& p : f.processes) {
    processes.push_back({{"pid", p.pid}, {"used_bytes", p.used.count()}});
  }
  nlohmann::json context = nlohmann::json::array();
  for (const std::string& line : incident.context) context.push_back(ValidUtf8(line));
  return {
      {"kind", IncidentKindName(incident.kind)},
      {"signature", ValidUtf8(incident.signature)},
      {"engine", ValidUtf8(incident.engine)},
      {"what", ValidUtf8(incident.what)},
      {"line", ValidUtf8(incident.line)},
      {"context", std::move(context)},
      {"requested_bytes", OptBytes(f.requested)},
      {"capacity_bytes", OptBytes(f.capacity)},
      {"free_bytes", OptBytes(f.free)},
      {"process_bytes", OptBytes(f.process)},
      {"allocated_bytes", OptBytes(f.allocated)},
      {"reserved_unallocated_bytes", OptBytes(f.reserved_unallocated)},
      {"reserved_bytes", OptBytes(f.reserved)},
      {"gpu", Opt(f.gpu)},
      {"processes", std::move(processes)},
      {"port", Opt(f.port)},
      {"xid", Opt(f.xid)},
      {"pci_bus", f.pci_bus ? nlohmann::json(ValidUtf8(*f.pci_bus)) : nlohmann::json(nullptr)},
  };
}

Result<void> ValidateSignature(const Signature& signature) {
  if (signature.match.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "pattern has an empty match",
                "give `match` the text (or regex) that the line contains");
  }
  if (signature.regex) {
    if (Result<Pattern> p = Pattern::Compile(signature.match); !p) {
      return Fail(ErrorCode::kInvalidArgument,
                  "pattern '" + signature.match + "' is " + p.error().message,
                  p.error().hint + ", or set regex = false to match the text literally");
    }
  }
  return {};
}

std::string CleanLogLine(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  std::size_t i = 0;
  while (i < line.size()) {
    char c = line[i];
    if (c != '\x1b') {
      out.push_back(c);
      ++i;
      continue;
    }
    // ESC: CSI "ESC [ params final", OSC "ESC ] ... BEL|ESC \", else a two-byte sequence.
    ++i;
    if (i >= line.size()) break;
    if (line[i] == '[') {
      ++i;
      while (i < line.size() && !(line[i] >= 0x40 && line[i] <= 0x7E)) ++i;
      if (i < line.size()) ++i;
    } else if (line[i] == ']') {
      ++i;
      while (i < line.size() && line[i] != '\a' &&
             !(line[i] == '\x1b' && i + 1 < line.size() && line[i + 1] == '\\')) {
        ++i;
      }
      if (i < line.size()) i += line[i] == '\a' ? 1 : 2;
    } else {
      ++i;
    }
  }
  while (!out.empty() &&
         (out.back() == '\r' || out.back() == ' ' || out.back() == '\t' || out.back() == '\n')) {
    out.pop_back();
  }
  return out;
}

}  // namespace vg
