#include "config/config_reader.h"

#include <algorithm>
#include <filesystem>

#include "config/config_values.h"

namespace vg::config_internal {

ConfigLocation Diagnostics::Where(const toml::source_region& region) const {
  return ConfigLocation{file_, static_cast<int>(region.begin.line),
                        static_cast<int>(region.begin.column)};
}

void Diagnostics::Add(const toml::source_region& where, std::string message) {
  Add(Where(where), std::move(message));
}

void Diagnostics::Add(const ConfigLocation& where, std::string message) {
  list_.push_back(ConfigDiagnostic{where, std::move(message)});
}

void Diagnostics::Add(const toml::source_region& where, std::string_view name, const Error& error) {
  std::string message = "'" + std::string(name) + "': " + error.message;
  if (!error.hint.empty()) message += " (" + error.hint + ")";
  Add(where, std::move(message));
}

std::vector<ConfigDiagnostic> Diagnostics::Take() {
  std::stable_sort(list_.begin(), list_.end(), [](const auto& a, const auto& b) {
    if (a.where.line != b.where.line) return a.where.line < b.where.line;
    return a.where.column < b.where.column;
  });
  return std::move(list_);
}

std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date/time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

const toml::node* TableReader::Node(std::string_view key) {
  known_.emplace_back(key);
  return table_.get(key);
}

std::optional<std::string> TableReader::String(std::string_view key) {
  const toml::node* node = Node(key);
  if (node == nullptr) return std::nullopt;
  if (const auto* s = node->as_string()) return s->get();
  diags_->Add(node->source(),
              "'" + Name(key) + "' must be a string, not " + std::string(TypeName(*node)));
  return std::nullopt;
}

std::optional<std::int64_t> TableReader::Integer(std::string_view key, std::int64_t min,
                                                 std::int64_t max) {
  const toml::node* node = Node(key);
  if (node == nullptr) return std::nullopt;
  const auto* i = node->as_integer();
  if (i == nullptr) {
    diags_->Add(node->source(),
                "'" + Name(key) + "' must be an integer, not " + std::string(TypeName(*node)));
    return std::nullopt;
  }
  if (i->get() < min || i->get() > max) {
    diags_->Add(node->source(), "'" + Name(key) + "' must be " + std::to_string(min) + ".." +
                                    std::to_string(max) + ", not " + std::to_string(i->get()));
    return std::nullopt;
  }
  return i->get();
}

std::optional<bool> TableReader::Bool(std::string_view key) {
  const toml::node* node = Node(key);
  if (node == nullptr) return std::nullopt;
  if (const auto* b = node->as_boolean()) return b->get();
  diags_->Add(node->source(),
              "'" + Name(key) + "' must be true or false, not " + std::string(TypeName(*node)));
  return std::nullopt;
}

std::optional<Millis> TableReader::Duration(std::string_view key) {
  const toml::node* node = Node(key);
  if (node == nullptr) return std::nullopt;
  const auto* s = node->as_string();
  if (s == nullptr) {
    diags_->Add(node->source(), "'" + Name(key) + "' must be a duration string with a unit, like " +
                                    "\"10s\" or \"500ms\", not " + std::string(TypeName(*node)));
    return std::nullopt;
  }
  Result<Millis> d = ParseDuration(s->get());
  if (!d) {
    diags_->Add(node->source(), Name(key), d.error());
    return std::nullopt;
  }
  return *d;
}

std::optional<Bytes> TableReader::Size(std::string_view key) {
  const toml::node* node = Node(key);
  if (node == nullptr) return std::nullopt;
  // A bare number has no unit: bytes, or the GiB the user meant? Only 0 is the same in both.
  auto bare = [&](std::string_view shown, std::string_view digits) {
    diags_->Add(node->source(), "'" + Name(key) + "' = " + std::string(shown) +
                                    " has no unit: write a size like \"" + std::string(digits) +
                                    "GiB\" or \"" + std::string(digits) + "MiB\"");
  };
  if (const auto* i = node->as_integer()) {
    if (i->get() < 0) {
      diags_->Add(node->source(), "'" + Name(key) + "' must not be negative");
      return std::nullopt;
    }
    if (i->get() != 0) {
      bare(std::to_string(i->get()), std::to_string(i->get()));
      return std::nullopt;
    }
    return Bytes(0);
  }
  const auto* s = node->as_string();
  if (s != nullptr && !s->get().empty() && s->get() != "0" &&
      s->get().find_first_not_of("0123456789") == std::string::npos) {
    bare("\"" + s->get() + "\"", s->get());
    return std::nullopt;
  }
  if (s == nullptr) {
    diags_->Add(node->source(), "'" + Name(key) + "' must be a size string like \"14GiB\", not " +
                                    std::string(TypeName(*node)));
    return std::nullopt;
  }
  Result<Bytes> b = ParseBytes(s->get());
  if (!b) {
    diags_->Add(node->source(), Name(key), b.error());
    return std::nullopt;
  }
  return *b;
}

const toml::table* TableReader::Table(std::string_view key, std::string_view how) {
  const toml::node* node = Node(key);
  if (node == nullptr) return nullptr;
  if (const auto* t = node->as_table()) return t;
  diags_->Add(node->source(), "'" + Name(key) + "' must be a table, like " + std::string(how) +
                                  ", not " + std::string(TypeName(*node)));
  return nullptr;
}

void TableReader::RejectUnknownKeys() {
  for (const auto& [key, node] : table_) {
    if (std::find(known_.begin(), known_.end(), key.str()) != known_.end()) continue;
    std::string message = "unknown key '" + std::string(key.str()) + "' " + context_;
    if (std::optional<std::string> near = NearestKey(key.str(), known_)) {
      message += " (did you mean '" + *near + "'?)";
    }
    diags_->Add(key.source(), std::move(message));
  }
}

std::optional<std::vector<std::string>> StringArray(const toml::node& node, std::string_view name,
                                                    std::string_view how, Diagnostics* diags) {
  const auto* array = node.as_array();
  if (array == nullptr) {
    diags->Add(node.source(), "'" + std::string(name) + "' must be an array of strings, like " +
                                  std::string(how) + ", not " + std::string(TypeName(node)));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const toml::node& element : *array) {
    const auto* s = element.as_string();
    if (s == nullptr) {
      diags->Add(element.source(), "'" + std::string(name) + "' must hold only strings, not " +
                                       std::string(TypeName(element)));
      ok = false;
    } else {
      out.push_back(s->get());
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> ResolvePath(const toml::node& node, std::string_view name,
                                       const std::string& base_dir, Diagnostics* diags) {
  const auto* s = node.as_string();
  if (s == nullptr) {
    diags->Add(node.source(), "'" + std::string(name) + "' must be a path string, not " +
                                  std::string(TypeName(node)));
    return std::nullopt;
  }
  const std::string& path = s->get();
  if (path.empty()) {
    diags->Add(node.source(), "'" + std::string(name) + "' must not be empty");
    return std::nullopt;
  }
  if (path.starts_with("~")) {
    diags->Add(node.source(), "'" + std::string(name) +
                                  "': '~' is not expanded in the config; write the absolute path");
    return std::nullopt;
  }
  if (path.find('\0') != std::string::npos) {
    diags->Add(node.source(), "'" + std::string(name) + "' must not contain a NUL character");
    return std::nullopt;
  }
  std::string out = (std::filesystem::path(base_dir) / path).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace vg::config_internal
