// ParseConfig and LoadConfig: the document's top level, [daemon] and [gpu], and the checks that
// span services (unique names).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "config/config.h"
#include "config/config_reader.h"
#include "config/config_service.h"
#include "config/config_values.h"

namespace vg {
namespace {

using config_internal::Diagnostics;
using config_internal::TableReader;

constexpr std::size_t kMaxConfigBytes = 4 << 20;
constexpr std::size_t kMaxSocketPath = 107;  // sizeof(sockaddr_un::sun_path) - 1

// The config file's directory, absolute and without a trailing slash.
std::string BaseDir(const std::string& file_name) {
  std::filesystem::path dir = std::filesystem::path(file_name).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(dir, ec);
  std::string out = (ec ? dir : absolute).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

void ParseDaemon(TableReader& r, const std::string& base_dir, DaemonConfig* d) {
  Diagnostics& diags = r.diags();
  if (const toml::node* node = r.Node("state_dir")) {
    if (auto path = config_internal::ResolvePath(*node, "daemon.state_dir", base_dir, &diags)) {
      d->state_dir = *path;
    }
  }
  if (const toml::node* node = r.Node("socket")) {
    if (auto path = config_internal::ResolvePath(*node, "daemon.socket", base_dir, &diags)) {
      if (path->size() > kMaxSocketPath) {
        diags.Add(node->source(), "'daemon.socket' resolves to " + std::to_string(path->size()) +
                                      " bytes, more than the 107 a Unix socket path may have");
      } else {
        d->socket = *path;
      }
    }
  }
  const toml::node* token = r.Node("token");
  if (std::optional<std::string> value = r.String("token")) {
    if (value->empty()) {
      diags.Add(token->source(), "'daemon.token' must not be empty");
    } else {
      d->token = *value;
    }
  }
  if (const toml::node* node = r.Node("token_file")) {
    if (token != nullptr) {
      diags.Add(node->source(), "set 'daemon.token' or 'daemon.token_file', not both");
    } else if (auto path =
                   config_internal::ResolvePath(*node, "daemon.token_file", base_dir, &diags)) {
      d->token_file = *path;
    }
  }
  if (std::optional<std::string> http = r.String("http")) {
    const toml::node* node = r.Node("http");
    Result<ListenAddress> address = ParseListenAddress(*http);
    if (!address) {
      diags.Add(node->source(), "daemon.http", address.error());
    } else if (!address->loopback && token == nullptr && r.Node("token_file") == nullptr) {
      diags.Add(node->source(), "'daemon.http' listens on " + address->host +
                                    ", off loopback: set daemon.token or daemon.token_file so "
                                    "that clients must send a bearer token");
    } else {
      d->http = *http;
    }
  }
  if (std::optional<bool> public_read = r.Bool("http_public_read")) {
    d->http_public_read = *public_read;
  }
  if (std::optional<std::string> metrics = r.String("metrics")) {
    Result<ListenAddress> address = ParseListenAddress(*metrics);
    if (!address) {
      diags.Add(r.Node("metrics")->source(), "daemon.metrics", address.error());
    } else {
      d->metrics = *metrics;
    }
  }
  if (std::optional<Millis> every = r.Duration("history_interval")) {
    if (*every < Millis(100) || *every > Millis(60000)) {
      diags.Add(r.Node("history_interval")->source(),
                "'daemon.history_interval' must be between 100ms and 1m");
    } else {
      d->history_interval = *every;
    }
  }
  if (std::optional<bool> keep = r.Bool("keep_services")) d->keep_services = *keep;
  if (std::optional<std::int64_t> rate = r.Integer("request_rate", 0, 1000000)) {
    d->request_rate = static_cast<int>(*rate);
  }
  if (std::optional<std::string> kernel_log = r.String("kernel_log")) {
    if (!kernel_log->empty() && !kernel_log->starts_with('/')) {
      diags.Add(r.Node("kernel_log")->source(),
                "'daemon.kernel_log' must be an absolute path (\"/dev/kmsg\") or \"\" (off)");
    } else {
      d->kernel_log = *kernel_log;
    }
  }
}

// reserve and poll: canonical in [gpu], also accepted in [daemon]; `seen` catches both.
void ParseGpuKnobs(TableReader& r, DaemonConfig* d, std::map<std::string, bool>* seen) {
  if (std::optional<Bytes> reserve = r.Size("reserve")) {
    if ((*seen)["reserve"]) {
      r.diags().Add(r.Node("reserve")->source(),
                    "'reserve' is set in both [daemon] and [gpu]; keep the one in [gpu]");
    }
    d->reserve = *reserve;
  }
  if (r.Node("reserve") != nullptr) (*seen)["reserve"] = true;
  if (std::optional<Millis> poll = r.Duration("poll")) {
    if ((*seen)["poll"]) {
      r.diags().Add(r.Node("poll")->source(),
                    "'poll' is set in both [daemon] and [gpu]; keep the one in [gpu]");
    } else if (*poll < Millis(10)) {
      r.diags().Add(r.Node("poll")->source(), "'" + r.Name("poll") + "' must be at least 10ms");
    }
    d->poll = *poll;
  }
  if (r.Node("poll") != nullptr) (*seen)["poll"] = true;
}

// [fleet] (docs/fleet.md): the Redis URL and this host's name are required; the rest defaults.
void ParseFleet(TableReader& r, FleetConfig* f) {
  Diagnostics& diags = r.diags();
  f->enabled = true;
  const toml::node* url_node = r.Node("redis");
  if (std::optional<std::string> url = r.String("redis")) {
    Result<RedisUrl> parsed = ParseRedisUrl(*url);
    if (!parsed) {
      diags.Add(url_node->source(), "fleet.redis", parsed.error());
    } else {
      f->redis = *url;
      f->redis_host = parsed->host;
      f->redis_port = parsed->port;
      f->redis_db = parsed->db;
      f->user = parsed->user;
      f->password = parsed->password;
    }
  } else if (url_node == nullptr) {
    diags.Add(
        r.table().source(),
        "[fleet] needs 'redis' (the shared queue), e.g. redis = \"redis://127.0.0.1:6379/0\"");
  }
  const toml::node* host_node = r.Node("host");
  if (std::optional<std::string> host = r.String("host")) {
    bool ok = !host->empty() && host->size() <= 64;
    for (char c : *host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
        ok = false;
    if (!ok) {
      diags.Add(host_node->source(),
                "'fleet.host' must be 1 to 64 letters, digits, '.', '-' or '_' (a stable name "
                "of this host, unique in the fleet)");
    } else {
      f->host = *host;
    }
  } else if (host_node == nullptr) {
    diags.Add(r.table().source(),
              "[fleet] needs 'host', this host's stable name in the fleet, e.g. host = \"gpu-a\"");
  }
  for (const char* key : {"user", "password"}) {
    const toml::node* node = r.Node(key);
    std::optional<std::string> value = r.String(key);
    if (!value) continue;
    const bool in_url = std::string_view(key) == "user" ? !f->user.empty() : !f->password.empty();
    if (in_url) {
      diags.Add(node->source(),
                "'fleet." + std::string(key) + "' is also in the redis URL; keep one of them");
    } else if (value->empty() || value->size() > 512) {
      diags.Add(node->source(), "'fleet." + std::string(key) + "' must be 1 to 512 bytes");
    } else if (std::string_view(key) == "user") {
      f->user = *value;
    } else {
      f->password = *value;
    }
  }
  if (!f->user.empty() && f->password.empty() && r.Node("user") != nullptr) {
    diags.Add(r.Node("user")->source(), "'fleet.user' needs 'fleet.password' (Redis ACL AUTH)");
  }
  if (std::optional<Millis> lease = r.Duration("lease")) {
    if (*lease < Millis(1000) || *lease > Millis(3600000)) {
      diags.Add(r.Node("lease")->source(), "'fleet.lease' must be between 1s and 1h");
    } else {
      f->lease = *lease;
    }
  }
  if (std::optional<std::int64_t> n = r.Integer("max_deliveries", 1, 100)) {
    f->max_deliveries = static_cast<int>(*n);
  }
  if (std::optional<Millis> t = r.Duration("connect_timeout")) {
    if (*t < Millis(100) || *t > Millis(60000)) {
      diags.Add(r.Node("connect_timeout")->source(),
                "'fleet.connect_timeout' must be between 100ms and 1m");
    } else {
      f->connect_timeout = *t;
    }
  }
}

void ParseServices(const toml::node& node, const std::string& base_dir, Diagnostics* diags,
                   Config* config) {
  if (node.is_table()) {
    diags->Add(node.source(),
               "'service' must be an array of tables: write each service as [[service]], not "
               "[service]");
    return;
  }
  const auto* array = node.as_array();
  if (array == nullptr) {
    diags->Add(node.source(),
               "'service' must be an array of tables: write each service as "
               "[[service]], not " +
                   std::string(config_internal::TypeName(node)));
    return;
  }
  std::map<std::string, int> first_line;
  for (const toml::node& element : *array) {
    const auto* table = element.as_table();
    if (table == nullptr) {
      diags->Add(element.source(), "each service must be a table ([[service]]), not " +
                                       std::string(config_internal::TypeName(element)));
      continue;
    }
    ServiceConfig service = config_internal::ParseService(*table, base_dir, diags);
    if (!service.name.empty()) {
      const toml::node* name = table->get("name");
      int line = static_cast<int>(name->source().begin.line);
      auto [it, inserted] = first_line.emplace(service.name, line);
      if (!inserted) {
        diags->Add(name->source(), "duplicate service name '" + service.name +
                                       "' (first defined at line " + std::to_string(it->second) +
                                       ")");
      }
    }
    config->services.push_back(std::move(service));
  }
  // Two proxies cannot listen on one port, nor a proxy on another service's own port.
  std::map<int, std::string> taken;  // port → what uses it, for the message
  for (const ServiceConfig& s : config->services) {
    for (int port : s.ports) taken.emplace(port, "service '" + s.name + "'");
  }
  for (const ServiceConfig& s : config->services) {
    if (!s.proxy.enabled) continue;
    Result<ListenAddress> address = ParseListenAddress(s.proxy.listen);
    if (!address) continue;
    auto [it, inserted] = taken.emplace(address->port, "the proxy of '" + s.name + "'");
    if (!inserted && it->second != "service '" + s.name + "'") {
      diags->Add(s.proxy.where, "'proxy.listen' of '" + s.name + "' uses port " +
                                    std::to_string(address->port) + ", which " + it->second +
                                    " uses already");
    }
  }
}

}  // namespace

ConfigResult ParseConfig(std::string_view text, const std::string& file_name) {
  Diagnostics diags(file_name);
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(file_name));
  } catch (const toml::parse_error& e) {
    diags.Add(e.source(), std::string(e.description()));
    return std::unexpected(diags.Take());
  }

  Config config;
  config.file = file_name;
  std::string base_dir = BaseDir(file_name);
  TableReader top(root, "", "at the top level", &diags);
  std::map<std::string, bool> seen;
  if (const toml::table* daemon = top.Table("daemon", "[daemon]")) {
    TableReader r(*daemon, "daemon.", "in [daemon]", &diags);
    ParseDaemon(r, base_dir, &config.daemon);
    ParseGpuKnobs(r, &config.daemon, &seen);
    r.RejectUnknownKeys();
  }
  if (const toml::table* gpu = top.Table("gpu", "[gpu]")) {
    TableReader r(*gpu, "gpu.", "in [gpu]", &diags);
    ParseGpuKnobs(r, &config.daemon, &seen);
    r.RejectUnknownKeys();
  }
  if (const toml::table* fleet = top.Table("fleet", "[fleet]")) {
    TableReader r(*fleet, "fleet.", "in [fleet]", &diags);
    ParseFleet(r, &config.fleet);
    r.RejectUnknownKeys();
  }
  if (const toml::node* services = top.Node("service")) {
    ParseServices(*services, base_dir, &diags, &config);
  }
  config_internal::ParseGlobalIncidents(top, &config.incidents);
  top.RejectUnknownKeys();

  if (!diags.empty()) return std::unexpected(diags.Take());
  return config;
}

ConfigResult LoadConfig(const std::string& path) {
  auto fail = [&](const std::string& message) {
    return std::unexpected(
        std::vector<ConfigDiagnostic>{ConfigDiagnostic{ConfigLocation{path, 0, 0}, message}});
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string message = "cannot read the config file: " + std::string(std::strerror(err));
    if (err == ENOENT) message += " (create it, or name another one with --config FILE)";
    return fail(message);
  }
  std::string text;
  struct stat st {};
  int err = 0;
  if (::fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("cannot read the config file: not a regular file");
  }
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigBytes) {
      ::close(fd);
      return fail("the config file is larger than 4 MiB; is it the right file?");
    }
  }
  ::close(fd);
  if (err != 0) return fail("cannot read the config file: " + std::string(std::strerror(err)));
  return ParseConfig(text, path);
}

}  // namespace vg
