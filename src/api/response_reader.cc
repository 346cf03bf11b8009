#include "api/response_reader.h"

#include <cstring>
#include <limits>

#include <boost/beast/core/buffers_prefix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace vg {

namespace http = boost::beast::http;

struct HttpResponseReader::Impl {
  explicit Impl(std::size_t max_body) : max_body(max_body) {
    parser.header_limit(kMaxResponseHeaderBytes);
    // The cap is applied below, keeping the first max_body bytes. (Not boost::none: Beast 1.74
    // compares a Content-Length with an empty optional as "over the limit".)
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.eager(true);
  }
  std::size_t max_body;
  http::response_parser<http::string_body> parser;
  boost::beast::flat_buffer pending;  // bytes the parser did not take yet
  std::size_t received = 0;
};

HttpResponseReader::HttpResponseReader(std::size_t max_body)
    : impl_(std::make_unique<Impl>(max_body)) {}
HttpResponseReader::~HttpResponseReader() = default;

HttpResponseReader::State HttpResponseReader::Feed(std::string_view bytes) {
  if (state_ != State::kNeedMore) return state_;
  Impl& im = *impl_;
  im.received += bytes.size();
  auto space = im.pending.prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  im.pending.commit(bytes.size());
  while (im.pending.size() > 0 && !im.parser.is_done()) {
    boost::system::error_code ec;
    std::size_t used = im.parser.put(im.pending.data(), ec);
    im.pending.consume(used);
    if (ec == http::error::need_more) break;
    if (ec) {
      error_ = ec == http::error::header_limit
                   ? "the answer's headers are larger than " +
                         std::to_string(kMaxResponseHeaderBytes) + " bytes"
                   : "malformed HTTP answer (" + ec.message() + ")";
      return state_ = State::kError;
    }
    if (used == 0) break;  // the parser wants more than is buffered
  }
  if (im.parser.is_header_done() && im.parser.get().body().size() > im.max_body) {
    im.parser.get().body().resize(im.max_body);
    truncated_ = true;
    return state_ = State::kDone;
  }
  if (im.parser.is_done()) state_ = State::kDone;
  return state_;
}

HttpResponseReader::State HttpResponseReader::FeedEof() {
  if (state_ != State::kNeedMore) return state_;
  if (!impl_->parser.is_header_done()) {
    error_ = impl_->received == 0 ? "the service closed the connection without an answer"
                                  : "the answer ended early (incomplete headers)";
    return state_ = State::kError;
  }
  boost::system::error_code ec;
  impl_->parser.put_eof(ec);
  if (ec || !impl_->parser.is_done()) {
    error_ = "the answer ended early (" + (ec ? ec.message() : std::string("incomplete")) + ")";
    return state_ = State::kError;
  }
  return state_ = State::kDone;
}

int HttpResponseReader::status() const {
  return impl_->parser.is_header_done() ? impl_->parser.get().result_int() : 0;
}

const std::string& HttpResponseReader::body() const { return impl_->parser.get().body(); }

}  // namespace vg
