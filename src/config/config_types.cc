#include "config/config_types.h"

#include <cstdint>
#include <cstdio>

namespace vg {
namespace {

// FNV-1a, 64 bits, over length-prefixed fields: the same bytes on every run and build, and no
// two different field lists produce the same byte stream.
class StableHasher {
 public:
  void Bytes(std::string_view s) {
    Raw(std::to_string(s.size()));
    Raw(":");
    Raw(s);
  }
  void Number(std::int64_t n) { Bytes(std::to_string(n)); }
  std::string Hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash_));
    return buf;
  }

 private:
  void Raw(std::string_view s) {
    for (unsigned char c : s) {
      hash_ ^= c;
      hash_ *= 0x100000001b3ull;
    }
  }
  std::uint64_t hash_ = 0xcbf29ce484222325ull;
};

}  // namespace

std::string ConfigDiagnostic::ToString() const {
  std::string out = where.file;
  if (where.line > 0) {
    out += ":" + std::to_string(where.line);
    if (where.column > 0) out += ":" + std::to_string(where.column);
  }
  return out + ": " + message;
}

std::string ServiceConfig::Fingerprint() const {
  StableHasher h;
  h.Bytes("vramguard-service-v1");
  h.Number(static_cast<std::int64_t>(command.size()));
  for (const std::string& arg : command) h.Bytes(arg);
  h.Bytes(cwd);
  h.Number(static_cast<std::int64_t>(env.size()));
  for (const auto& [key, value] : env) {
    h.Bytes(key);
    h.Bytes(value);
  }
  h.Number(user.has_value() ? 1 : 0);
  h.Bytes(user.value_or(""));
  h.Number(static_cast<std::int64_t>(gpus.size()));
  for (const GpuSelector& gpu : gpus) {
    h.Number(gpu.index.has_value() ? static_cast<std::int64_t>(*gpu.index) : -1);
    h.Bytes(gpu.uuid);
  }
  h.Number(static_cast<std::int64_t>(vram.count()));
  h.Number(static_cast<std::int64_t>(ports.size()));
  for (int port : ports) h.Number(port);
  h.Number(static_cast<std::int64_t>(ready.kind));
  h.Bytes(ready.log_regex);
  h.Bytes(ready.http_url);
  h.Number(ready.http_status);
  h.Number(ready.tcp_port);
  h.Number(ready.timeout.count());
  return h.Hex();
}

const ServiceConfig* Config::Find(std::string_view name) const {
  for (const ServiceConfig& s : services) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace vg
