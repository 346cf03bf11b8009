// Internal to src/config: typed, located access to toml++ tables, collecting diagnostics.
//
// A TableReader wraps one TOML table. Every getter names a key that is valid in that table (so
// RejectUnknownKeys can tell typos from valid keys and suggest the nearest), returns nullopt when
// the key is absent or malformed, and records a diagnostic at the value's line:col when it is
// malformed. Call every getter of the table first, then RejectUnknownKeys. Not thread-safe; lives
// for one ParseConfig call.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "config/config_types.h"
#include "util/error.h"
#include "util/units.h"

namespace vg::config_internal {

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  ConfigLocation Where(const toml::source_region& region) const;
  void Add(const toml::source_region& where, std::string message);
  void Add(const ConfigLocation& where, std::string message);
  // "'<name>': <error message> (<hint>)".
  void Add(const toml::source_region& where, std::string_view name, const Error& error);

  bool empty() const { return list_.empty(); }
  const std::string& file() const { return file_; }
  // All diagnostics, sorted by line then column (stable for equal positions).
  std::vector<ConfigDiagnostic> Take();

 private:
  std::string file_;
  std::vector<ConfigDiagnostic> list_;
};

class TableReader {
 public:
  // `prefix`: how keys are named in messages ("" or "ready."); `context`: how the table is named
  // in an unknown-key message ("[[service]]", "'ready'").
  TableReader(const toml::table& table, std::string prefix, std::string context, Diagnostics* diags)
      : table_(table), prefix_(std::move(prefix)), context_(std::move(context)), diags_(diags) {}

  // The node under `key`, or nullptr. Marks `key` as valid here.
  const toml::node* Node(std::string_view key);

  std::optional<std::string> String(std::string_view key);
  std::optional<std::int64_t> Integer(std::string_view key, std::int64_t min, std::int64_t max);
  std::optional<bool> Bool(std::string_view key);
  std::optional<Millis> Duration(std::string_view key);
  std::optional<Bytes> Size(std::string_view key);  // a size string, or an integer of bytes
  // A table (inline or not); a value of another type is diagnosed with `how` as the example.
  const toml::table* Table(std::string_view key, std::string_view how);

  // "ready.timeout": the key as messages name it.
  std::string Name(std::string_view key) const { return prefix_ + std::string(key); }
  const toml::table& table() const { return table_; }
  Diagnostics& diags() { return *diags_; }

  // A diagnostic for each key no getter asked for.
  void RejectUnknownKeys();

 private:
  const toml::table& table_;
  std::string prefix_;
  std::string context_;
  Diagnostics* diags_;
  std::vector<std::string> known_;
};

// Each element of an array of strings; diagnoses a non-array (with `how` as the example) and
// non-string elements (empty strings are allowed: an empty argument is an argument). nullopt when
// anything was wrong.
std::optional<std::vector<std::string>> StringArray(const toml::node& node, std::string_view name,
                                                    std::string_view how, Diagnostics* diags);

// A path from the config made absolute against `base_dir` (the config file's directory, absolute);
// nullopt, with a diagnostic, for an empty path or one starting with "~" (not expanded here).
std::optional<std::string> ResolvePath(const toml::node& node, std::string_view name,
                                       const std::string& base_dir, Diagnostics* diags);

// The TOML type of a node in words, for messages: "a string", "an integer", "a table"...
std::string_view TypeName(const toml::node& node);

}  // namespace vg::config_internal
