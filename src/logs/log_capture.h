// A service's captured output: raw bytes to a rotating file, lines to a ring and to listeners.
//
// The daemon reads the service's stdout and stderr pipes (non-blocking, on its event loop) and
// hands every chunk to OnOutput; this class never reads or blocks on anything but the local log
// file. The file receives the bytes exactly as the service wrote them, both streams
// interleaved in arrival order, no prefixes. Each stream has its own LineSplitter, so a partial
// line on stdout never joins a partial line on stderr; complete lines go to the ring (shared by
// both streams) and then to every listener (readiness regex, OOM classifier, `logs -f`).
//
// Listeners may add or remove listeners, themselves included, from inside a call: a removed
// listener is not called again (not even for the rest of the current dispatch), an added one is
// first called for the next line. A failed file write does not stop the line stream; the last
// file error is kept in file_error(). Movable; not thread-safe (the event loop's thread only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "logs/line_ring.h"
#include "logs/line_splitter.h"
#include "logs/rotating_file.h"
#include "util/error.h"
#include "util/units.h"

namespace vg {

class LogCapture {
 public:
  struct Options {
    std::string path;
    Bytes max_size = Bytes::MiB(10);
    int keep = 5;
    std::size_t ring = 1000;
    std::size_t max_line = 64 * 1024;
  };
  using Listener = std::function<void(std::string_view stream, const std::string& line)>;

  static Result<LogCapture> Open(Options options);

  // stream is "stdout" or "stderr" (any name works; each gets its own splitter).
  void OnOutput(std::string_view stream, std::string_view bytes);
  // The streams ended: partial lines become lines.
  void OnEnd();

  // Returns an id for RemoveListener; ids are never reused.
  int AddListener(Listener listener);
  void RemoveListener(int id);

  std::vector<std::string> Last(std::size_t n) const { return ring_.Last(n); }
  std::uint64_t total_lines() const { return ring_.total(); }
  const std::optional<Error>& file_error() const { return file_error_; }
  const std::string& path() const { return file_.path(); }

 private:
  LogCapture(RotatingFile file, std::size_t ring, std::size_t max_line);
  LineSplitter& SplitterFor(std::string_view stream);
  void Dispatch(std::string_view stream, std::string line);

  struct Entry {
    Listener fn;
    bool removed = false;
  };

  RotatingFile file_;
  LineRing ring_;
  std::size_t max_line_;
  std::map<std::string, LineSplitter, std::less<>> splitters_;
  std::map<int, Entry> listeners_;
  int next_id_ = 1;
  int dispatching_ = 0;  // depth of listener calls in progress
  std::optional<Error> file_error_;
};

}  // namespace vg
