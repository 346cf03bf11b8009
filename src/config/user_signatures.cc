#include "config/user_signatures.h"

namespace vg {

std::vector<Signature> UserSignatures(const Config& config, const ServiceConfig* service) {
  std::vector<Signature> out;
  auto add = [&](const UserPattern& p) {
    auto kind = ParseIncidentKind(p.kind);
    if (!kind) return;
    Signature sig;
    sig.id = p.id;
    sig.kind = *kind;
    sig.engine = "user";
    sig.match = p.match;
    sig.regex = p.regex;
    sig.what = p.what.empty() ? p.match : p.what;
    if (ValidateSignature(sig)) out.push_back(std::move(sig));
  };
  if (service != nullptr) {
    for (const UserPattern& p : service->incidents.patterns) add(p);
  }
  for (const UserPattern& p : config.incidents.patterns) add(p);
  return out;
}

}  // namespace vg
