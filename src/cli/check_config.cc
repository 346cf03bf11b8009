#include "cli/check_config.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "config/config.h"

namespace vg {

Result<int> RunCheckConfig(const std::string& path, bool json) {
  return RunCheckConfig(path, json, std::cout, std::cerr);
}

Result<int> RunCheckConfig(const std::string& path, bool json, std::ostream& out,
                           std::ostream& err) {
  ConfigResult config = LoadConfig(path);
  std::vector<std::string> names;
  if (config) {
    for (const ServiceConfig& s : config->services) names.push_back(s.name);
  }
  if (json) {
    nlohmann::json doc = {
        {"ok", config.has_value()}, {"services", names}, {"diagnostics", nlohmann::json::array()}};
    if (!config) {
      for (const ConfigDiagnostic& d : config.error()) {
        doc["diagnostics"].push_back({{"file", d.where.file},
                                      {"line", d.where.line},
                                      {"column", d.where.column},
                                      {"message", d.message}});
      }
    }
    out << doc.dump(2) << "\n";
    return config ? 0 : kExitInvalidConfig;
  }
  if (!config) {
    for (const ConfigDiagnostic& d : config.error()) err << d.ToString() << "\n";
    return kExitInvalidConfig;
  }
  std::string list;
  for (const std::string& name : names) list += (list.empty() ? "" : ", ") + name;
  out << "ok: " << names.size() << (names.size() == 1 ? " service" : " services") << " (" << list
      << ")\n";
  return 0;
}

}  // namespace vg
