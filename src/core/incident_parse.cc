// Field extraction: the numbers an incident's line states. Every finder is a substring search
// plus a bounded forward or backward scan, so the work is linear in the line.
#include <cstdint>

#include "core/incident.h"

namespace vg {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

struct Number {
  std::string_view whole, frac;  // "235", "06"
  std::size_t end = 0;           // index after the number
};

// A decimal number at `pos` (no sign): at most 19 integer digits (every byte count a 64-bit
// allocator can print: ONNX Runtime's "buffer of size 4585490524328388608") and 9 decimals.
std::optional<Number> NumberAt(std::string_view s, std::size_t pos) {
  std::size_t i = pos;
  while (i < s.size() && IsDigit(s[i])) ++i;
  if (i == pos || i - pos > 19) return std::nullopt;
  Number n{s.substr(pos, i - pos), {}, i};
  if (i + 1 < s.size() && s[i] == '.' && IsDigit(s[i + 1])) {
    std::size_t f = i + 1;
    std::size_t j = f;
    while (j < s.size() && IsDigit(s[j])) ++j;
    if (j - f > 9) return std::nullopt;
    n.frac = s.substr(f, j - f);
    n.end = j;
  }
  return n;
}

// Which power of 2 (or 10, when decimal) the unit at `pos` means; `len` gets its length.
struct Unit {
  unsigned shift = 0;        // binary: 2^shift
  unsigned decimal_exp = 0;  // decimal: 10^decimal_exp
  std::size_t len = 0;
};

std::optional<Unit> UnitAt(std::string_view s, std::size_t pos) {
  struct Entry {
    std::string_view text;
    unsigned shift, exp;
  };
  static constexpr Entry kUnits[] = {
      {"bytes", 0, 0}, {"KiB", 10, 0}, {"MiB", 20, 0}, {"GiB", 30, 0}, {"TiB", 40, 0},
      {"KB", 0, 3},    {"MB", 0, 6},   {"GB", 0, 9},   {"TB", 0, 12},  {"B", 0, 0},
  };
  std::string_view rest = s.substr(pos);
  for (const Entry& e : kUnits) {
    if (rest.starts_with(e.text) &&
        (rest.size() == e.text.size() || !IsAlpha(rest[e.text.size()]))) {
      return Unit{e.shift, e.exp, e.text.size()};
    }
  }
  return std::nullopt;
}

// (whole.frac) * 2^shift * 10^exp, rounded to the nearest byte.
Bytes Scale(const Number& n, const Unit& u) {
  unsigned __int128 value = 0;
  for (char c : n.whole) value = value * 10 + static_cast<unsigned>(c - '0');
  unsigned __int128 denom = 1;
  for (char c : n.frac) {
    value = value * 10 + static_cast<unsigned>(c - '0');
    denom *= 10;
  }
  value <<= u.shift;
  for (unsigned k = 0; k < u.decimal_exp; ++k) value *= 10;
  unsigned __int128 bytes = (value + denom / 2) / denom;
  if (bytes > UINT64_MAX) bytes = UINT64_MAX;
  return Bytes(static_cast<std::uint64_t>(bytes));
}

// A size at `pos`: "2.10 GiB", "0 bytes", "4294967296" (bare bytes only when allowed).
std::optional<std::pair<Bytes, std::size_t>> SizeAt(std::string_view s, std::size_t pos,
                                                    bool bare_ok = false) {
  auto n = NumberAt(s, pos);
  if (!n) return std::nullopt;
  std::size_t i = n->end;
  while (i < s.size() && s[i] == ' ' && i - n->end < 2) ++i;
  if (auto u = UnitAt(s, i)) return std::pair{Scale(*n, *u), i + u->len};
  if (bare_ok && (n->end == s.size() || !IsAlpha(s[n->end])) && n->frac.empty()) {
    return std::pair{Scale(*n, Unit{}), n->end};
  }
  return std::nullopt;
}

// A size whose unit is in the label before it, as TensorRT-LLM writes its report: `phrase` ends
// with "(", then the unit, "): ", the number ("Total GPU memory (GiB): 95.00").
std::optional<Bytes> UnitLabelledSize(std::string_view s, std::string_view phrase) {
  std::size_t p = s.find(phrase);
  if (p == std::string_view::npos) return std::nullopt;
  p += phrase.size();
  auto u = UnitAt(s, p);
  if (!u || s.substr(p + u->len).substr(0, 3) != "): ") return std::nullopt;
  auto n = NumberAt(s, p + u->len + 3);
  if (!n) return std::nullopt;
  return Scale(*n, *u);
}

std::optional<Bytes> SizeAfter(std::string_view s, std::string_view phrase, bool bare_ok = false) {
  std::size_t p = s.find(phrase);
  if (p == std::string_view::npos) return std::nullopt;
  auto r = SizeAt(s, p + phrase.size(), bare_ok);
  if (!r) return std::nullopt;
  return r->first;
}

// A byte count written with thousands separators right after `phrase`, as CuPy prints it:
// "allocating 25,600,000 bytes". Groups of exactly three digits after the first (1–3 digits), at
// most 19 digits in all.
std::optional<Bytes> GroupedBytesAfter(std::string_view s, std::string_view phrase) {
  std::size_t p = s.find(phrase);
  if (p == std::string_view::npos) return std::nullopt;
  std::size_t i = p + phrase.size();
  std::uint64_t v = 0;
  int digits = 0;
  int group = 0;
  bool grouped = false;
  for (; i < s.size(); ++i) {
    if (IsDigit(s[i])) {
      if (++digits > 19 || group == 3) return std::nullopt;
      v = v * 10 + static_cast<std::uint64_t>(s[i] - '0');
      ++group;
    } else if (s[i] == ',' && group > 0 && (!grouped || group == 3) && i + 1 < s.size() &&
               IsDigit(s[i + 1])) {
      grouped = true;
      group = 0;
    } else {
      break;
    }
  }
  if (!grouped || group != 3 || !s.substr(i).starts_with(" bytes")) return std::nullopt;
  return Bytes(v);
}

// A size that ends right before `phrase` ("13.44 MiB free").
std::optional<Bytes> SizeBefore(std::string_view s, std::string_view phrase) {
  std::size_t p = s.find(phrase);
  if (p == std::string_view::npos || p == 0) return std::nullopt;
  std::size_t i = p;
  while (i > 0 && IsAlpha(s[i - 1]) && p - i < 5) --i;  // the unit
  while (i > 0 && s[i - 1] == ' ' && p - i < 8) --i;
  std::size_t digits_end = i;
  while (i > 0 && (IsDigit(s[i - 1]) || s[i - 1] == '.') && digits_end - i < 26) --i;
  if (i == digits_end || !IsDigit(s[i])) return std::nullopt;
  auto r = SizeAt(s, i);
  if (!r || r->second != p) return std::nullopt;
  return r->first;
}

// An integer right after `phrase`, if one follows at once (bounded: at most 9 digits) and ends at
// a delimiter in `enders` (or the end of the line).
std::optional<long> IntAfter(std::string_view s, std::string_view phrase, std::string_view enders,
                             std::size_t from = 0) {
  for (std::size_t p = s.find(phrase, from); p != std::string_view::npos;
       p = s.find(phrase, p + 1)) {
    std::size_t i = p + phrase.size();
    std::size_t start = i;
    long v = 0;
    while (i < s.size() && IsDigit(s[i]) && i - start < 9) v = v * 10 + (s[i++] - '0');
    if (i == start) continue;
    if (i < s.size() && enders.find(s[i]) == std::string_view::npos) continue;
    return v;
  }
  return std::nullopt;
}

// "Requested               : 1.88 GiB" (the table PyTorch's cudaMallocAsync prints): `key`, up to
// 40 spaces, ':', a size.
std::optional<Bytes> KeyedSize(std::string_view s, std::string_view key) {
  std::size_t p = s.find(key);
  if (p == std::string_view::npos) return std::nullopt;
  std::size_t i = p + key.size();
  const std::size_t spaces_from = i;
  while (i < s.size() && s[i] == ' ' && i - spaces_from < 40) ++i;
  if (i >= s.size() || s[i] != ':') return std::nullopt;
  ++i;
  while (i < s.size() && s[i] == ' ' && i - spaces_from < 44) ++i;
  auto r = SizeAt(s, i);
  if (!r) return std::nullopt;
  return r->first;
}

// A size right after `phrase` whose KB/MB/GB label means powers of 2 (PaddlePaddle's).
std::optional<Bytes> BinarySizeAfter(std::string_view s, std::string_view phrase) {
  std::size_t p = s.find(phrase);
  if (p == std::string_view::npos) return std::nullopt;
  auto n = NumberAt(s, p + phrase.size());
  if (!n) return std::nullopt;
  std::size_t i = n->end;
  while (i < s.size() && s[i] == ' ' && i - n->end < 2) ++i;
  auto u = UnitAt(s, i);
  if (!u) return std::nullopt;
  Unit binary = *u;
  if (u->decimal_exp > 0) {
    binary.shift = u->decimal_exp / 3 * 10;
    binary.decimal_exp = 0;
  }
  return Scale(*n, binary);
}

// A size right after `phrase` with XLA's one-letter binary suffix ("15.65G", "512.0M", "64K"),
// which recent XLA prints in "Attempting to allocate 15.65G … There are 11.08G free".
std::optional<Bytes> LetterSizeAfter(std::string_view s, std::string_view phrase) {
  std::size_t p = s.find(phrase);
  if (p == std::string_view::npos) return std::nullopt;
  auto n = NumberAt(s, p + phrase.size());
  if (!n || n->end >= s.size()) return std::nullopt;
  const std::size_t after = n->end + 1;
  if (after < s.size() && IsAlpha(s[after])) return std::nullopt;  // "15.65GB": not this form
  switch (s[n->end]) {
    case 'K':
      return Scale(*n, Unit{10, 0, 1});
    case 'M':
      return Scale(*n, Unit{20, 0, 1});
    case 'G':
      return Scale(*n, Unit{30, 0, 1});
    case 'T':
      return Scale(*n, Unit{40, 0, 1});
    default:
      return std::nullopt;
  }
}

// Whether the size right after `phrase` is a whole number of bytes ("4294967296", "512 bytes").
bool BytesAfter(std::string_view s, std::string_view phrase) {
  std::size_t p = s.find(phrase);
  if (p == std::string_view::npos) return false;
  auto n = NumberAt(s, p + phrase.size());
  if (!n || !n->frac.empty()) return false;
  std::size_t i = n->end;
  while (i < s.size() && s[i] == ' ' && i - n->end < 2) ++i;
  auto u = UnitAt(s, i);
  return !u || (u->shift == 0 && u->decimal_exp == 0);
}

// An exact byte count in parentheses, as TensorFlow and old jaxlib give it beside a rounded size:
// "3.77G (4046333952 bytes)", "32.00MiB (33554432B)".
std::optional<Bytes> ExactBytesInParens(std::string_view s) {
  for (std::size_t p = s.find('('); p != std::string_view::npos; p = s.find('(', p + 1)) {
    auto n = NumberAt(s, p + 1);
    if (!n || !n->frac.empty()) continue;
    std::string_view rest = s.substr(n->end);
    if (rest.starts_with(" bytes)") || rest.starts_with("B)")) {
      return Scale(*n, Unit{});
    }
  }
  // BFC: "1.25TiB (rounded to 1374521760000)".
  if (std::size_t p = s.find("(rounded to "); p != std::string_view::npos) {
    auto n = NumberAt(s, p + 12);
    if (n && n->frac.empty() && s.substr(n->end).starts_with(")")) return Scale(*n, Unit{});
  }
  return std::nullopt;
}

// NCCL's log prefix names the CUDA device: "<host>:<pid>:<tid> [<dev>] <file>:<line> NCCL WARN …".
std::optional<int> NcclDevice(std::string_view s) {
  std::size_t nccl = s.find(" NCCL WARN ");
  if (nccl == std::string_view::npos) nccl = s.find(" NCCL INFO ");
  if (nccl == std::string_view::npos) return std::nullopt;
  std::size_t close = s.rfind("] ", nccl);
  if (close == std::string_view::npos || nccl - close > 80) return std::nullopt;
  std::size_t open = s.rfind(" [", close);
  if (open == std::string_view::npos || close - open < 3 || close - open > 5) return std::nullopt;
  int dev = 0;
  for (std::size_t i = open + 2; i < close; ++i) {
    if (!IsDigit(s[i])) return std::nullopt;
    dev = dev * 10 + (s[i] - '0');
  }
  // Before the bracket: ":<pid>:<tid>", digits after each colon.
  std::size_t i = open;
  for (int colons = 0; colons < 2; ++colons) {
    std::size_t digits_end = i;
    while (i > 0 && IsDigit(s[i - 1]) && digits_end - i < 10) --i;
    if (i == digits_end || i == 0 || s[i - 1] != ':') return std::nullopt;
    --i;
  }
  return dev;
}

std::optional<int> ParseGpu(std::string_view s) {
  constexpr std::string_view kEnders = " ;),.:";
  if (auto v = IntAfter(s, "GPU ", " ;),.")) return static_cast<int>(*v);
  if (auto v = IntAfter(s, "on device ", kEnders)) return static_cast<int>(*v);
  if (auto v = IntAfter(s, "CUDA", " _")) return static_cast<int>(*v);            // "CUDA0 buffer"
  if (auto v = IntAfter(s, "ROCm", " _")) return static_cast<int>(*v);            // "ROCm0 buffer"
  if (auto v = IntAfter(s, "device:GPU:", " ,;)")) return static_cast<int>(*v);   // TensorFlow
  if (auto v = IntAfter(s, "device cuda:", " ,;)")) return static_cast<int>(*v);  // vLLM
  if (auto v = IntAfter(s, "current device: ", kEnders)) return static_cast<int>(*v);  // ggml
  if (auto v = IntAfter(s, "device ordinal ", kEnders)) return static_cast<int>(*v);   // XLA
  if (auto v = IntAfter(s, "GPU=", " ;,)")) return static_cast<int>(*v);   // ONNX Runtime
  if (auto v = IntAfter(s, " gpu=", " ;,)")) return static_cast<int>(*v);  // "using Nvidia gpu=0"
  if (auto v = IntAfter(s, "(GPU_", "_")) return static_cast<int>(*v);     // BFC "(GPU_0_bfc)"
  // go-nvml (the Kubernetes device plugin): "error creating nvml.Device 5: nvml: GPU is lost".
  if (auto v = IntAfter(s, "nvml.Device ", ":")) return static_cast<int>(*v);
  return NcclDevice(s);
}

std::optional<int> ValidPort(std::optional<long> v) {
  if (v && *v >= 1 && *v <= 65535) return static_cast<int>(*v);
  return std::nullopt;
}

std::optional<int> ParsePort(std::string_view s) {
  if (auto v = ValidPort(IntAfter(s, "in range: ", "-"))) return v;
  if (std::size_t p = s.find("://"); p != std::string_view::npos) {
    std::size_t i = p + 3;
    if (i < s.size() && s[i] == '[') i = s.find(']', i);  // an IPv6 host
    while (i != std::string_view::npos && i < s.size() && s[i] != ':' && s[i] != '/' &&
           s[i] != ' ') {
      ++i;
    }
    if (i != std::string_view::npos && i < s.size() && s[i] == ':') {
      if (auto v = ValidPort(IntAfter(s.substr(i), ":", "/ ),"))) return v;
    }
  }
  if (auto v = ValidPort(IntAfter(s, "', ", ")"))) return v;  // Python ('0.0.0.0', 8188)
  if (auto v = ValidPort(IntAfter(s, "port: ", " ,;)."))) return v;
  if (auto v = ValidPort(IntAfter(s, "port=", " ,;)."))) return v;  // llama.cpp "… port=8898"
  if (auto v = ValidPort(IntAfter(s, "port ", " ,;)."))) return v;
  if (auto v = ValidPort(IntAfter(s, "Port ", " ,;)."))) return v;    // Gradio 3.x
  if (auto v = ValidPort(IntAfter(s, "ports from ", " "))) return v;  // Gradio 3.x
  // Node and Go: "address already in use :::3000", "listen tcp :8080: bind".
  for (std::size_t p = s.find(':'); p != std::string_view::npos; p = s.find(':', p + 1)) {
    if (p + 1 < s.size() && IsDigit(s[p + 1])) {
      // The number right after this ':' (IntAfter would go on to a later ':').
      std::optional<long> v;
      std::size_t i = p + 1;
      long n = 0;
      while (i < s.size() && IsDigit(s[i]) && i - p <= 6) n = n * 10 + (s[i++] - '0');
      constexpr std::string_view kEnders = " :,;)'\"]/";
      if (i - p <= 6 && (i == s.size() || kEnders.find(s[i]) != std::string_view::npos)) v = n;
      // >= 80 skips clock times ("02:31:07"); a letter before ':' is a label ("port:8080" is
      // found above, "fd:180" is no port), not a host — except the host "localhost".
      const bool host = p > 0 && (!IsAlpha(s[p - 1]) || s.substr(0, p).ends_with("localhost"));
      if (v && *v >= 80 && *v <= 65535 && host) {
        return static_cast<int>(*v);
      }
    }
  }
  return std::nullopt;
}

void ParseProcesses(std::string_view s, std::vector<ProcessUse>& out) {
  constexpr std::string_view kProcess = "Process ";
  constexpr std::size_t kMaxProcesses = 64;
  for (std::size_t p = s.find(kProcess); p != std::string_view::npos && out.size() < kMaxProcesses;
       p = s.find(kProcess, p + 1)) {
    auto pid = IntAfter(s.substr(p), kProcess, " ");
    if (!pid) continue;
    std::size_t i = p + kProcess.size();
    while (i < s.size() && IsDigit(s[i])) ++i;
    std::string_view rest = s.substr(i);
    if (!rest.starts_with(" has ")) continue;
    auto size = SizeAt(rest, 5);
    if (!size || !rest.substr(size->second).starts_with(" memory in use")) continue;
    out.push_back(ProcessUse{*pid, size->first});
  }
}

void ParseXid(std::string_view s, IncidentFields& f) {
  if (std::size_t p = s.find("NVRM: Xid ("); p != std::string_view::npos) {
    std::size_t open = p + 11;
    std::size_t close = s.find(')', open);
    if (close != std::string_view::npos && close - open < 64) {
      std::string_view bus = s.substr(open, close - open);
      if (bus.starts_with("PCI:")) bus.remove_prefix(4);
      f.pci_bus = std::string(bus);
      if (auto v = IntAfter(s.substr(close), "): ", ", ")) f.xid = static_cast<int>(*v);
    }
  } else if (std::size_t h = s.find("device handle for GPU "); h != std::string_view::npos) {
    // NVML: "Unable to determine the device handle for GPU 0000:02:00.0: GPU is lost".
    const std::size_t start = h + 22;
    const std::size_t end = s.find(": ", start);
    if (end != std::string_view::npos && end > start && end - start < 64)
      f.pci_bus = std::string(s.substr(start, end - start));
  } else if (std::size_t t = s.find("NVRM: The NVIDIA GPU "); t != std::string_view::npos) {
    // Recent drivers: "NVRM: The NVIDIA GPU 0000:41:00.0" / "(PCI ID: …) installed in this
    // system has" / "fallen off the bus and is not responding to commands."
    std::size_t start = t + 21;
    std::size_t end = start;
    while (end < s.size() && s[end] != ' ' && end - start < 64) ++end;
    if (end > start) f.pci_bus = std::string(s.substr(start, end - start));
  } else if (std::size_t g = s.find("NVRM: GPU "); g != std::string_view::npos) {
    std::size_t start = g + 10;
    if (s.substr(start).starts_with("at PCI:")) start += 7;
    if (s.substr(start).starts_with("at ")) start += 3;  // "NVRM: GPU at 0000:01:00.0 has …"
    std::size_t end = s.find(": ", start);
    if (std::size_t space = s.find(' ', start); space != std::string_view::npos && space < end)
      end = space;
    if (end != std::string_view::npos && end - start < 64) {
      f.pci_bus = std::string(s.substr(start, end - start));
    }
  }
}

}  // namespace

IncidentFields ParseIncidentFields(std::string_view s, IncidentKind kind) {
  IncidentFields f;
  if (kind == IncidentKind::kPortClash || kind == IncidentKind::kReady) {
    f.port = ParsePort(s);
    return f;
  }
  // The first phrase that gives a size; whether it is an exact byte count is kept beside it.
  auto take = [&f, s](std::optional<Bytes> size, std::string_view phrase) {
    if (f.requested || !size) return;
    f.requested = size;
    f.requested_exact = phrase.empty() || BytesAfter(s, phrase);
  };
  // Apple's MPS allocator divides by 2^30 and writes "GB": "MPS backend out of memory (MPS
  // allocated: 12.74 GB, …). Tried to allocate 1.02 GB on private pool."
  if (s.find("MPS backend out of memory") != std::string_view::npos) {
    take(BinarySizeAfter(s, "Tried to allocate "), "Tried to allocate ");
  }
  take(SizeAfter(s, "Tried to allocate "), "Tried to allocate ");
  // TensorFlow, old jaxlib: the exact count beside a rounded size.
  if (s.find("llocate") != std::string_view::npos) take(ExactBytesInParens(s), "");
  take(SizeAfter(s, "allocating "), "allocating ");  // llama.cpp, XLA
  take(SizeAfter(s, "buffer of size ", /*bare_ok=*/true), "buffer of size ");
  take(SizeAfter(s, "trying to allocate "), "trying to allocate ");                    // XLA
  take(GroupedBytesAfter(s, "allocating "), "");                                       // CuPy
  take(SizeAfter(s, "Requested size was ", /*bare_ok=*/true), "Requested size was ");  // TensorRT
  take(SizeAfter(s, "calloc ", /*bare_ok=*/true),
       "calloc ");  // NCCL "Failed to CUDA calloc N bytes"
  take(SizeAfter(s, "out of memory to allocate "), "out of memory to allocate ");  // old CuPy
  if (!f.requested) f.requested = LetterSizeAfter(s, "Attempting to allocate ");   // XLA
  if (!f.free && s.find(" free.") != std::string_view::npos)
    f.free = LetterSizeAfter(s, "There are ");  // XLA: "There are 11.08G free."
  if (!f.requested) f.requested = SizeBefore(s, " KV cache is needed");  // vLLM V1
  if (!f.free) f.free = SizeAfter(s, "available KV cache memory (");
  f.capacity = SizeAfter(s, "total capacity of ");
  if (!f.capacity) f.capacity = SizeAfter(s, "total capacty of ");  // PyTorch 2.1–2.3 typo
  if (!f.capacity) f.capacity = SizeBefore(s, " total capacity");   // PyTorch <= 2.0
  if (!f.free) f.free = SizeAfter(s, "of which ");
  if (!f.free) f.free = SizeBefore(s, " free;");  // PyTorch <= 2.0
  f.process = SizeAfter(s, "this process has ");
  f.allocated = SizeAfter(s, "Of the allocated memory ");
  if (!f.allocated) f.allocated = SizeBefore(s, " already allocated");
  if (!f.allocated && s.find("MPS backend out of memory") != std::string_view::npos)
    f.allocated = BinarySizeAfter(s, "MPS allocated: ");  // "GB" (2^30) or, lately, "GiB"
  f.reserved_unallocated = SizeBefore(s, " is reserved by PyTorch but unallocated");
  f.reserved = SizeBefore(s, " reserved in total by PyTorch");
  if (!f.reserved) f.reserved = SizeBefore(s, " cached)");  // PyTorch <= 1.3
  if (!f.reserved) f.reserved = SizeBefore(s, " cached;");
  // vLLM: "Free memory on device (6.9/8.0 GiB) on startup", newer "… on device cuda:0 (…)".
  std::size_t free_at = s.find("Free memory on device ");
  if (free_at == std::string_view::npos) free_at = s.find("free memory on device ");
  if (std::size_t p = free_at; p != std::string_view::npos) {
    std::size_t open = s.find('(', p);
    std::size_t i = open == std::string_view::npos || open - p > 40 ? s.size() : open + 1;
    auto free_n = NumberAt(s, i);
    if (free_n && free_n->end < s.size() && s[free_n->end] == '/') {
      if (auto total_n = NumberAt(s, free_n->end + 1)) {
        std::size_t u = total_n->end;
        while (u < s.size() && s[u] == ' ' && u - total_n->end < 2) ++u;
        if (auto unit = UnitAt(s, u)) {
          f.free = Scale(*free_n, *unit);
          f.capacity = Scale(*total_n, *unit);
        }
      }
    }
  }
  // cudaMallocAsync's table, one entry per line after the decisive one.
  if (!f.requested) f.requested = KeyedSize(s, "Requested");
  if (!f.capacity) f.capacity = KeyedSize(s, "Device limit");
  if (!f.free) f.free = KeyedSize(s, "Free (according to CUDA)");
  if (!f.allocated) f.allocated = KeyedSize(s, "Currently allocated");
  // XGBoost's dh::detail::ThrowOOMError table: "- Free memory: 8126464", "- Requested memory:
  // 33554432" (bytes).
  take(SizeAfter(s, "Requested memory: ", /*bare_ok=*/true), "Requested memory: ");
  if (!f.free) f.free = SizeAfter(s, "Free memory: ", /*bare_ok=*/true);
  // TensorRT-LLM's executor report, a figure per line after the decisive one: "Total GPU memory
  // (GiB): 95.00", "Free GPU memory before component creation attempt (GiB): 16.95".
  if (!f.capacity) f.capacity = UnitLabelledSize(s, "Total GPU memory (");
  if (!f.free) f.free = UnitLabelledSize(s, "Free GPU memory before component creation attempt (");
  // DirectML: "Could not allocate tensor with 81544192 bytes."
  take(SizeAfter(s, "allocate tensor with "), "allocate tensor with ");
  // MindSpore: "… plus alloc size : 100555779072 is more than total mem size : 61079552000."
  take(SizeAfter(s, "alloc size : ", /*bare_ok=*/true), "alloc size : ");
  if (!f.capacity) f.capacity = SizeAfter(s, "total mem size : ", /*bare_ok=*/true);
  // Forge's memory manager: "[Memory Management] Target: KModel, Free GPU: 3232.70 MB, Model
  // Require: 11350.07 MB, …" (MB of 2^20 bytes).
  if (!f.free) f.free = BinarySizeAfter(s, "Free GPU: ");
  // CatBoost divides by 2^20 and writes "MB": "Out of memory. Requested 776.3222656 MB; Free
  // 676.4537106 MB".
  if (s.find("Out of memory. Requested ") != std::string_view::npos) {
    if (!f.requested) f.requested = BinarySizeAfter(s, "Out of memory. Requested ");
    if (!f.free) f.free = BinarySizeAfter(s, "; Free ");
  }
  if (kind == IncidentKind::kHostOom) {
    // PyTorch: "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1073741824
    // bytes."
    take(SizeAfter(s, "you tried to allocate ", /*bare_ok=*/true), "you tried to allocate ");
    take(SizeAfter(s, "buffer of size ", /*bare_ok=*/true), "buffer of size ");
    // safetensors: "unable to mmap 23782506688 bytes from file".
    take(SizeAfter(s, "unable to mmap "), "unable to mmap ");
    // Ollama: "model requires more system memory (44.7 GiB) than is available (10.7 GiB)".
    take(SizeAfter(s, "requires more system memory ("), "requires more system memory (");
    if (!f.free) f.free = SizeAfter(s, "than is available (");
    return f;  // host memory: no GPU, no GPU processes
  }
  // PaddlePaddle prints binary sizes with decimal labels ("98.000244MB", "6.000000GB").
  if (s.find("Out of memory error on GPU") != std::string_view::npos) {
    if (!f.requested) f.requested = BinarySizeAfter(s, "Cannot allocate ");
    if (!f.free) f.free = BinarySizeAfter(s, "available memory is only ");
    if (!f.allocated) {
      if (std::size_t p = s.find(" memory has been allocated"); p != std::string_view::npos) {
        std::size_t comma = s.rfind(", ", p);
        if (comma != std::string_view::npos) f.allocated = BinarySizeAfter(s.substr(comma), ", ");
      }
    }
  }
  // vLLM: "… less than desired GPU memory utilization (0.9, 7.2 GiB)": what it wanted.
  if (std::size_t p = s.find("desired GPU memory utilization (");
      !f.requested && p != std::string_view::npos) {
    std::size_t i = p + 32;
    if (auto ratio = NumberAt(s, i); ratio && s.substr(ratio->end).starts_with(", ")) {
      if (auto r = SizeAt(s, ratio->end + 2)) f.requested = r->first;
    }
  }
  f.gpu = ParseGpu(s);
  ParseProcesses(s, f.processes);
  ParseXid(s, f);
  return f;
}

}  // namespace vg
