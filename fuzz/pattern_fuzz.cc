// libFuzzer target: user patterns (the config's ready.log, expect_body and incident patterns).
// Input: a pattern, a NUL byte, then text. Every pattern either compiles or is refused with a
// one-line message; a compiled one searches any text in linear time (libFuzzer's -timeout catches
// anything else), and the classifier accepts it as a user signature.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "check.h"
#include "core/classifier.h"
#include "util/pattern.h"

namespace {
using vg_fuzz::Check;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t nul = input.find('\0');
  std::string_view expr = input.substr(0, nul);
  std::string_view text = nul == std::string_view::npos ? input : input.substr(nul + 1);
  vg::Result<vg::Pattern> p = vg::Pattern::Compile(expr);
  if (!p) {
    Check(p.error().message.find('\n') == std::string::npos || expr.find('\n') != expr.npos);
    Check(!p.error().hint.empty());
    Check(!vg::ValidateSignature(
        vg::Signature{"", vg::IncidentKind::kOom, "", std::string(expr), true, "", ""}));
    return 0;
  }
  bool found = p->Search(text);
  // Search looks at the first kMaxMatchLineBytes only: the same answer for the cut text.
  Check(found == p->Search(text.substr(0, vg::kMaxMatchLineBytes)));
  if (!expr.empty()) {
    vg::Classifier c(
        {vg::Signature{"", vg::IncidentKind::kSticky, "", std::string(expr), true, "", ""}});
    c.Feed(text);
  }
  return 0;
}
