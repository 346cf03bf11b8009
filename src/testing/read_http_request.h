// For tests that play an HTTP service: reads one request (its head and a Content-Length body)
// from a socket into *request. Not a parser: enough for the requests vramguard sends.
#pragma once

#include <utility>  // before asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>
#include <string>
#include <vector>

namespace vg::testing {

// True once the whole request is in *request; false when the connection ended first.
inline boost::asio::awaitable<bool> ReadHttpRequest(boost::asio::ip::tcp::socket& s,
                                                    std::string* request) {
  namespace asio = boost::asio;
  std::vector<char> buf(65536);
  boost::system::error_code ec;
  for (;;) {
    std::size_t n = co_await s.async_read_some(asio::buffer(buf),
                                               asio::redirect_error(asio::use_awaitable, ec));
    request->append(buf.data(), n);
    if (ec) co_return false;
    auto head = request->find("\r\n\r\n");
    if (head == std::string::npos) continue;
    auto cl = request->find("Content-Length: ");
    std::size_t len = cl == std::string::npos ? 0 : std::stoul(request->substr(cl + 16));
    if (request->size() >= head + 4 + len) co_return true;
  }
}

}  // namespace vg::testing
