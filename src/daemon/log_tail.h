// LogTail: a service's captured output. The service writes straight into its log file (O_APPEND,
// set up at spawn), so its output survives a daemon restart and never hits a closed pipe; the
// daemon reads what was appended (on inotify wake-ups), splits it into lines, keeps the last ones
// and hands them to listeners (readiness regex, `logs -f`), each cut at kMaxMatchLineBytes
// (util/pattern.h; the file keeps the whole line). Rotation is copy-then-truncate as soon as
// `max_size` bytes were read (checked after every 64 KiB read, not once per Poll): what a fast
// writer appended beyond it is copied in pieces of about max_size (each ends at a line end; at
// most 2 × max_size for a line without one), the newest being .1, keeping `keep` old files, and
// the bytes not read yet are handed on from the copy. A line written between the copy and the
// truncation can be lost (the price of never touching the service's descriptor).
//
// Single-threaded (daemon loop).
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "logs/line_ring.h"
#include "logs/line_splitter.h"
#include "util/units.h"

namespace vg {

class LogTail {
 public:
  LogTail(std::string path, Bytes max_size, int keep, std::size_t ring = 1000);

  // Reads everything appended since the last call; every complete line is pushed to the ring
  // and to every listener; returns the last of them (at most the ring's capacity).
  std::vector<std::string> Poll();
  // Starts reading at the current end (adopting a running service: old output is history).
  void SkipToEnd();

  using Listener = std::function<void(const std::string& line)>;
  int AddListener(Listener l);
  void RemoveListener(int id);

  std::vector<std::string> Last(std::size_t n) const { return ring_.Last(n); }
  const std::string& path() const { return path_; }

 private:
  void Rotate(int fd, std::vector<std::string>& lines);
  void Deliver(std::string_view bytes, std::vector<std::string>& out);

  std::string path_;
  Bytes max_size_;
  int keep_;
  off_t offset_ = 0;
  LineSplitter splitter_;
  LineRing ring_;
  int next_listener_ = 1;
  std::map<int, Listener> listeners_;
};

}  // namespace vg
