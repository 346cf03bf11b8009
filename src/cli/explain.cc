#include "cli/explain.h"

#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "config/config.h"
#include "config/user_signatures.h"
#include "core/classifier.h"
#include "core/explain_sentence.h"

namespace vg {
namespace {

constexpr std::size_t kShownContextLines = 4;
constexpr std::size_t kShownLineChars = 200;

struct Numbered {
  long line_number;
  Incident incident;
};

std::string Shorten(const std::string& s) {
  if (s.size() <= kShownLineChars) return s;
  // Not substr(…) + "…": GCC 12 warns -Warray-bounds on it (a false positive, seen with the PCH).
  return fmt::format("{}…", std::string_view(s).substr(0, kShownLineChars));
}

// "requested 2.1 GiB · GPU 0 · free 1.2 GiB · capacity 23.6 GiB · pid 4242 9.8 GiB".
std::string FieldsLine(const IncidentFields& f) {
  std::vector<std::string> parts;
  auto bytes = [&](const char* name, const std::optional<Bytes>& b) {
    if (b) parts.push_back(std::string(name) + " " + FormatBytes(*b));
  };
  bytes("requested", f.requested);
  if (f.gpu) parts.push_back("GPU " + std::to_string(*f.gpu));
  bytes("free", f.free);
  bytes("capacity", f.capacity);
  bytes("this process", f.process);
  bytes("allocated", f.allocated);
  bytes("reserved-unallocated", f.reserved_unallocated);
  bytes("reserved", f.reserved);
  for (const ProcessUse& p : f.processes) {
    parts.push_back("pid " + std::to_string(p.pid) + " " + FormatBytes(p.used));
  }
  if (f.port) parts.push_back("port " + std::to_string(*f.port));
  if (f.xid) parts.push_back("Xid " + std::to_string(*f.xid));
  if (f.pci_bus) parts.push_back("PCI " + *f.pci_bus);
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : " · ") + p;
  return out;
}

void PrintHuman(const std::vector<Numbered>& found, long lines, const ExplainOptions& options,
                std::ostream& out) {
  for (const Numbered& n : found) {
    const Incident& i = n.incident;
    out << "line " << n.line_number << ": " << IncidentKindName(i.kind) << " " << i.signature
        << " (" << i.engine << "): " << i.what << "\n";
    std::string fields = FieldsLine(i.fields);
    if (!fields.empty()) out << "  " << fields << "\n";
    out << "  " << ExplainIncident(i, options.service, {}) << "\n";
    std::size_t first =
        i.context.size() > kShownContextLines ? i.context.size() - kShownContextLines : 0;
    if (first > 0)
      out << "  | … " << first << (first == 1 ? " earlier line\n" : " earlier lines\n");
    for (std::size_t k = first; k < i.context.size(); ++k) {
      out << "  | " << Shorten(i.context[k]) << "\n";
    }
    out << "  > " << Shorten(i.line) << "\n";
  }
  out << (found.empty()
              ? std::string("no incidents")
              : std::to_string(found.size()) + (found.size() == 1 ? " incident" : " incidents"))
      << " in " << lines << (lines == 1 ? " line" : " lines") << "\n";
}

}  // namespace

Result<int> ExplainStream(std::istream& in, const ExplainOptions& options, std::ostream& out,
                          std::vector<Signature> extra) {
  Classifier classifier(std::move(extra));
  std::vector<Numbered> found;
  std::string line;
  // An update completes the incident it names (its fields); a file is read to the end, so each
  // incident is shown once, with every number its message gave.
  auto add = [&found, &classifier](Incident&& i) {
    if (i.update) {
      for (auto it = found.rbegin(); it != found.rend(); ++it) {
        if (it->incident.seq == i.seq) {
          it->incident.fields = std::move(i.fields);
          return;
        }
      }
      return;
    }
    found.push_back({classifier.lines(), std::move(i)});
  };
  while (std::getline(in, line)) {
    for (Incident& i : classifier.Feed(line)) add(std::move(i));
  }
  if (in.bad()) return Fail(ErrorCode::kIo, "could not read the log", "check the file");
  for (Incident& i : classifier.Flush()) add(std::move(i));

  if (options.json) {
    nlohmann::json incidents = nlohmann::json::array();
    for (const Numbered& n : found) {
      nlohmann::json j = IncidentJson(n.incident);
      j["line_number"] = n.line_number;
      j["explanation"] = ExplainIncident(n.incident, options.service, {});
      incidents.push_back(std::move(j));
    }
    nlohmann::json doc = {{"incidents", std::move(incidents)}, {"lines", classifier.lines()}};
    out << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    PrintHuman(found, classifier.lines(), options, out);
  }
  return 0;
}

namespace {

// The user patterns of options.config (none without one).
Result<std::vector<Signature>> ConfigSignatures(const ExplainOptions& options) {
  if (options.config.empty()) return std::vector<Signature>{};
  ConfigResult config = LoadConfig(options.config);
  if (!config) {
    return Fail(ErrorCode::kInvalidArgument, config.error().front().ToString(),
                "fix the config (vramguard check-config " + options.config + ")");
  }
  const ServiceConfig* service = nullptr;
  if (!options.service.empty()) {
    service = config->Find(options.service);
    if (service == nullptr) {
      return Fail(ErrorCode::kNotFound, "no service '" + options.service + "' in " + options.config,
                  "name a [[service]] of that file, or leave --service out");
    }
  }
  return UserSignatures(*config, service);
}

}  // namespace

Result<int> RunExplain(const ExplainOptions& options) {
  auto extra = ConfigSignatures(options);
  if (!extra) return std::unexpected(extra.error());
  if (options.file.empty() || options.file == "-") {
    if (::isatty(STDIN_FILENO) == 1) {
      std::fprintf(stderr,
                   "explain: reading the log from the terminal: paste it, then Ctrl-D (or give a "
                   "file: vramguard explain FILE)\n");
    }
    return ExplainStream(std::cin, options, std::cout, std::move(*extra));
  }
  std::error_code ec;
  if (std::filesystem::is_directory(options.file, ec)) {
    return Fail(ErrorCode::kInvalidArgument, options.file + " is a directory",
                "give a log file, or - for stdin");
  }
  std::ifstream in(options.file, std::ios::binary);
  if (!in) {
    int err = errno;
    ErrorCode code = err == ENOENT   ? ErrorCode::kNotFound
                     : err == EACCES ? ErrorCode::kPermissionDenied
                                     : ErrorCode::kIo;
    return Fail(code, "cannot read " + options.file + ": " + std::strerror(err),
                "give a readable log file, or - for stdin");
  }
  // A binary file's string table reads like log lines: refuse it rather than report "incidents".
  char head[65536];
  in.read(head, sizeof head);
  const std::string_view first(head, static_cast<std::size_t>(in.gcount()));
  if (first.find('\0') != std::string_view::npos) {
    const bool utf16 = first.starts_with("\xFF\xFE") || first.starts_with("\xFE\xFF");
    return Fail(
        ErrorCode::kInvalidArgument,
        options.file + (utf16 ? " is UTF-16 text" : " is not a text log (it has NUL bytes)"),
        utf16 ? "convert it first: iconv -f UTF-16 -t UTF-8 " + options.file +
                    " | vramguard explain -"
              : "give the service's log file (text)");
  }
  in.clear();
  in.seekg(0);
  return ExplainStream(in, options, std::cout, std::move(*extra));
}

}  // namespace vg
