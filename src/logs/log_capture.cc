#include "logs/log_capture.h"

#include <utility>

namespace vg {

Result<LogCapture> LogCapture::Open(Options options) {
  auto file = RotatingFile::Open(std::move(options.path), options.max_size, options.keep);
  if (!file) return std::unexpected(file.error());
  return LogCapture(std::move(*file), options.ring, options.max_line);
}

LogCapture::LogCapture(RotatingFile file, std::size_t ring, std::size_t max_line)
    : file_(std::move(file)), ring_(ring), max_line_(max_line) {}

LineSplitter& LogCapture::SplitterFor(std::string_view stream) {
  auto it = splitters_.find(stream);
  if (it == splitters_.end()) {
    it = splitters_.emplace(std::string(stream), LineSplitter(max_line_)).first;
  }
  return it->second;
}

void LogCapture::OnOutput(std::string_view stream, std::string_view bytes) {
  if (auto r = file_.Append(bytes); !r) file_error_ = r.error();
  for (std::string& line : SplitterFor(stream).Feed(bytes)) Dispatch(stream, std::move(line));
}

void LogCapture::OnEnd() {
  for (auto& [stream, splitter] : splitters_) {
    if (std::optional<std::string> rest = splitter.Flush()) Dispatch(stream, std::move(*rest));
  }
}

int LogCapture::AddListener(Listener listener) {
  const int id = next_id_++;
  listeners_.emplace(id, Entry{std::move(listener), false});
  return id;
}

void LogCapture::RemoveListener(int id) {
  auto it = listeners_.find(id);
  if (it == listeners_.end()) return;
  if (dispatching_ > 0) {
    it->second.removed = true;  // erased once no call is running: it may be the caller
  } else {
    listeners_.erase(it);
  }
}

void LogCapture::Dispatch(std::string_view stream, std::string line) {
  ring_.Push(line);
  // Listeners added from inside a call have ids ≥ last_id and wait for the next line; std::map
  // insertion keeps the iterator valid, and erasure is deferred until the outermost call ends
  // (also when a listener throws).
  const int last_id = next_id_;
  {
    struct Depth {
      int& depth;
      explicit Depth(int& d) : depth(d) { ++depth; }
      ~Depth() { --depth; }
    } depth(dispatching_);
    for (auto it = listeners_.begin(); it != listeners_.end() && it->first < last_id; ++it) {
      if (!it->second.removed) it->second.fn(stream, line);
    }
  }
  if (dispatching_ == 0) {
    std::erase_if(listeners_, [](const auto& entry) { return entry.second.removed; });
  }
}

}  // namespace vg
