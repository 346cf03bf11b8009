#include "flags.h"

#include <charconv>
#include <string_view>

namespace vg::demo {
namespace {

template <class T>
std::optional<T> ParseNumber(std::string_view text, T max) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

}  // namespace

Result<DemoFlags> ParseFlags(const std::vector<std::string>& args) {
  DemoFlags flags;
  bool port_given = false;
  auto bad = [](const std::string& message) {
    return Fail(ErrorCode::kInvalidArgument, message, kUsage);
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); name.starts_with("--") && eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    bool* switch_flag = name == "--fork-worker"   ? &flags.fork_worker
                        : name == "--ignore-term" ? &flags.ignore_term
                        : name == "--help"        ? &flags.help
                                                  : nullptr;
    if (switch_flag != nullptr) {
      if (inline_value) return bad(name + " takes no value");
      *switch_flag = true;
      continue;
    }
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return bad(name.starts_with("--") ? name + " needs a value" : "unknown argument " + name);
    }
    auto duration = [&](Millis* out) -> Result<void> {
      auto d = ParseDuration(value);
      if (!d) return bad(name + ": " + d.error().message);
      *out = *d;
      return {};
    };
    Result<void> ok;
    if (name == "--port") {
      auto port = ParseNumber<std::uint32_t>(value, 65535);
      if (!port) return bad("--port must be a number from 0 to 65535, not '" + value + "'");
      flags.port = static_cast<std::uint16_t>(*port);
      port_given = true;
    } else if (name == "--host") {
      flags.host = value;
    } else if (name == "--gpu") {
      auto gpu = ParseNumber<unsigned>(value, 1024);
      if (!gpu) return bad("--gpu must be a device ordinal, not '" + value + "'");
      flags.gpu = *gpu;
    } else if (name == "--model") {
      auto size = ParseBytes(value);
      if (!size) return bad("--model: " + size.error().message);
      flags.model = *size;
    } else if (name == "--load-time") {
      ok = duration(&flags.load_time);
    } else if (name == "--step-time") {
      ok = duration(&flags.step_time);
    } else if (name == "--read-timeout") {
      ok = duration(&flags.read_timeout);
    } else if (name == "--crash-after") {
      Millis d{};
      ok = duration(&d);
      flags.crash_after = d;
    } else if (name == "--backend") {
      if (value == "sim")
        flags.backend = Backend::kSim;
      else if (value == "cuda")
        flags.backend = Backend::kCuda;
      else if (value == "auto")
        flags.backend = Backend::kAuto;
      else
        return bad("--backend must be sim, cuda or auto, not '" + value + "'");
    } else {
      return bad("unknown argument " + name);
    }
    if (!ok) return std::unexpected(ok.error());
  }
  if (!port_given && !flags.help) return bad("--port is required");
  return flags;
}

Backend ResolveBackend(Backend requested, const char* fake_gpu_dir) {
  if (requested != Backend::kAuto) return requested;
  return fake_gpu_dir != nullptr && *fake_gpu_dir != '\0' ? Backend::kSim : Backend::kCuda;
}

}  // namespace vg::demo
