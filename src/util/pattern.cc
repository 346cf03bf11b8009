#include "util/pattern.h"

#include <re2/re2.h>

namespace vg {

struct Pattern::Impl {
  explicit Impl(std::string_view expr, const RE2::Options& options)
      : text(expr), re(re2::StringPiece(expr.data(), expr.size()), options) {}
  std::string text;
  RE2 re;
};

namespace {

// RE2 writes compile errors to stderr unless told not to; the daemon reports them itself.
RE2::Options Options() {
  RE2::Options o;
  o.set_log_errors(false);
  return o;
}

}  // namespace

Pattern::Pattern(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Pattern::~Pattern() = default;

Result<Pattern> Pattern::Compile(std::string_view expr) {
  auto impl = std::make_shared<const Impl>(expr, Options());
  if (!impl->re.ok()) {
    return Fail(ErrorCode::kInvalidArgument, "not a valid RE2 pattern: " + impl->re.error(),
                "patterns use RE2 syntax: no backreferences (\\1), lookahead or lookbehind "
                "((?=…), (?!…), (?<=…)); rewrite the pattern without them");
  }
  return Pattern(std::move(impl));
}

bool Pattern::Search(std::string_view text) const {
  text = text.substr(0, kMaxMatchLineBytes);
  return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), impl_->re);
}

const std::string& Pattern::expr() const { return impl_->text; }

}  // namespace vg
