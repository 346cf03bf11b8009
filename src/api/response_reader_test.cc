#include "api/response_reader.h"

#include <gtest/gtest.h>

#include <string>

namespace vg {
namespace {

using State = HttpResponseReader::State;

// Feeds `bytes` in pieces of `step` (every split point of a message must work).
State FeedAll(HttpResponseReader& r, std::string_view bytes, std::size_t step) {
  State s = State::kNeedMore;
  for (std::size_t i = 0; i < bytes.size() && s == State::kNeedMore; i += step) {
    s = r.Feed(bytes.substr(i, step));
  }
  return s;
}

TEST(HttpResponseReader, ContentLengthBody) {
  for (std::size_t step : {1, 3, 1000}) {
    HttpResponseReader r(1000);
    EXPECT_EQ(FeedAll(r, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}", step),
              State::kDone)
        << r.error();
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.body(), "{\"ok\":true}");
    EXPECT_FALSE(r.truncated());
  }
}

TEST(HttpResponseReader, DecodesChunkedBodies) {
  for (std::size_t step : {1, 7, 1000}) {
    HttpResponseReader r(1000);
    EXPECT_EQ(
        FeedAll(r,
                "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
                "6;ext=1\r\n{\"erro\r\n10\r\nr\":\"CUDA oom\"}  \r\n0\r\nX-Trailer: t\r\n\r\n",
                step),
        State::kDone);
    EXPECT_EQ(r.status(), 500);
    EXPECT_EQ(r.body(), "{\"error\":\"CUDA oom\"}  ");
  }
}

TEST(HttpResponseReader, BodyUntilCloseEndsAtEof) {
  HttpResponseReader r(1000);
  EXPECT_EQ(r.Feed("HTTP/1.0 200 OK\r\n\r\npartial "), State::kNeedMore);
  EXPECT_EQ(r.Feed("answer"), State::kNeedMore);
  EXPECT_EQ(r.FeedEof(), State::kDone);
  EXPECT_EQ(r.body(), "partial answer");
}

TEST(HttpResponseReader, KeepsTheFirstMaxBodyBytes) {
  HttpResponseReader r(10);
  EXPECT_EQ(r.Feed("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(5000, 'x')),
            State::kDone);
  EXPECT_TRUE(r.truncated());
  EXPECT_EQ(r.body(), std::string(10, 'x'));
}

// Issue 10: the hand-written Dechunk looped forever on a chunk size that overflows.
TEST(HttpResponseReader, OverflowingChunkSizeIsAnErrorNotALoop) {
  HttpResponseReader r(1 << 20);
  EXPECT_EQ(r.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "fffffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
            State::kError);
  EXPECT_NE(r.error().find("malformed"), std::string::npos) << r.error();
  EXPECT_EQ(r.Feed("more"), State::kError);  // stays ended
}

TEST(HttpResponseReader, HeadersPastTheLimitAreAnError) {
  HttpResponseReader r(100);
  std::string head = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(kMaxResponseHeaderBytes, 'h');
  EXPECT_EQ(r.Feed(head), State::kError);
  EXPECT_NE(r.error().find("headers are larger"), std::string::npos) << r.error();
}

TEST(HttpResponseReader, NotHttpIsAnErrorAndSilenceIsNoAnswer) {
  HttpResponseReader garbage(100);
  EXPECT_EQ(garbage.Feed("SSH-2.0-OpenSSH_9.2\r\n\r\n"), State::kError);
  HttpResponseReader empty(100);
  EXPECT_EQ(empty.FeedEof(), State::kError);
  EXPECT_NE(empty.error().find("without an answer"), std::string::npos) << empty.error();
  HttpResponseReader head_only(100);
  EXPECT_EQ(head_only.Feed("HTTP/1.1 200 OK\r\nContent-"), State::kNeedMore);
  EXPECT_EQ(head_only.FeedEof(), State::kError);
  EXPECT_NE(head_only.error().find("ended early"), std::string::npos) << head_only.error();
  HttpResponseReader cut(100);
  EXPECT_EQ(cut.Feed("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nabc"), State::kNeedMore);
  EXPECT_EQ(cut.FeedEof(), State::kError);
  EXPECT_NE(cut.error().find("ended early"), std::string::npos) << cut.error();
}

}  // namespace
}  // namespace vg
