// `vramguard top`'s frame: a pure function of what it shows (docs/cli.md, "top").
//
// The data: the local VRAM view (`ps`'s, from Machine::Look), and, when a daemon answers on its
// socket, its `/v1/status` (services, their members and jobs) and its queued and running jobs.
// The frame: a header, one line per GPU with a memory bar, the services, the processes that hold
// VRAM (each with its owner: a service, or "foreign"; ghosts highlighted), the jobs, a key line
// and a message line; every line cut to the terminal width, the lists cut to its height. Rows
// that keys act on (services and processes) are selectable; the selected one is marked with ">"
// (and reverse video with colour). Colour only when asked for (a terminal without NO_COLOR).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/vram_view.h"

namespace vg {

struct TopData {
  VramView view;
  std::optional<nlohmann::json> status;  // GET /v1/status; nullopt: no daemon answered
  std::string daemon_note;               // why there is no daemon data ("no daemon at …")
  nlohmann::json jobs = nlohmann::json::array();  // queued, starting and running jobs
  std::string clock;                              // "15:04:05", for the header
};

// A row keys act on: a service (r, s) or a process (K on a ghost).
struct TopRow {
  enum class Kind { kService, kProcess } kind = Kind::kService;
  std::string key;      // "service:NAME" or "pid:PID": the selection survives a refresh
  std::string service;  // kService: its name; kProcess: the service it belongs to, if any
  pid_t pid = 0;        // kProcess
  unsigned gpu = 0;     // kProcess
  bool ghost = false;   // kProcess: NVML lists it, it is gone; `holders` hold its memory
  std::vector<pid_t> holders;
  std::optional<Bytes> bytes;  // kProcess: NVML's figure
};

// The selectable rows in the order they are drawn.
std::vector<TopRow> TopRows(const TopData& d);

struct TopLayout {
  unsigned width = 80;   // every line fits in this many columns
  unsigned height = 0;   // the lists are cut so the frame fits (0: no limit, e.g. --once)
  bool color = false;    // ANSI colour and reverse video
  std::string selected;  // TopRow::key of the selected row ("": none)
  std::string message;   // the last line: what a key did, or a question (y/n)
  bool help = false;     // the key help instead of the lists
};

// The frame's lines, without newlines; each at most `width` columns of text (colour codes,
// when on, come in addition).
std::vector<std::string> RenderTop(const TopData& d, const TopLayout& l);

// "[██████░░░░]": `width` cells, the used fraction filled.
std::string MemoryBar(Bytes used, Bytes total, unsigned width);

// `--json --once`: the same data as one document (the `ps --json` view, the daemon's services,
// the jobs).
nlohmann::json TopJson(const TopData& d);

}  // namespace vg
