// `vramguard explain [FILE|-] [--json] [--service NAME]`: the incident classifier over an existing
// log (a file, or stdin when FILE is "-" or absent) — logs from before vramguard, or from a service
// it does not run. No daemon, no GPU access: the sentences use only what the log says.
//
// Human output: per incident "line N: KIND SIGNATURE (ENGINE): what", the parsed fields in binary
// units, the sentence, and the last context lines; then a summary line. JSON: one document,
// {"incidents": [IncidentJson + "line_number" + "explanation"], "lines": N}. Exit status 0
// whether or not anything was found; an unreadable file is an Error (not found 3, permission 4).
#pragma once

#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "core/incident.h"
#include "util/error.h"

namespace vg {

struct ExplainOptions {
  std::string file;     // "" or "-": stdin
  std::string service;  // the name the sentences use ("the service" when empty)
  bool json = false;
  std::string config;  // a vramguard config whose user patterns apply too ("": built-ins only):
                       // its [[pattern]] tables, and `service`'s own patterns when it names one
};

Result<int> RunExplain(const ExplainOptions& options);
// Classifies `in` with the built-in catalogue plus `extra` and writes the report to `out` (tests).
Result<int> ExplainStream(std::istream& in, const ExplainOptions& options, std::ostream& out,
                          std::vector<Signature> extra = {});

}  // namespace vg
