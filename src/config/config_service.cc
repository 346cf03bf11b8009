// One [[service]] table: its top-level keys. The sub-tables are in config_service_parts.cc.
#include <algorithm>
#include <map>
#include <set>

#include "config/config_jobs_parse.h"
#include "config/config_service.h"
#include "config/config_values.h"

namespace vg::config_internal {
namespace {

constexpr std::string_view kCommandExample = R"(["python", "main.py", "--port", "7860"])";

void ParseName(TableReader& r, ServiceConfig* s) {
  const toml::node* node = r.Node("name");
  if (node == nullptr) {
    r.diags().Add(r.table().source(), "[[service]] has no 'name' (write name = \"my-service\")");
    return;
  }
  const auto* str = node->as_string();
  if (str == nullptr) {
    r.diags().Add(node->source(), "'name' must be a string, not " + std::string(TypeName(*node)));
  } else if (!IsValidServiceName(str->get())) {
    r.diags().Add(node->source(), "invalid service name '" + str->get() +
                                      "': use 1-63 lowercase letters, digits, '_', '.' or '-', "
                                      "starting with a letter or a digit");
  } else {
    s->name = str->get();
  }
}

void ParseCommand(TableReader& r, ServiceConfig* s) {
  const toml::node* node = r.Node("command");
  if (node == nullptr) {
    r.diags().Add(r.table().source(),
                  "[[service]] " + (s->name.empty() ? "" : "'" + s->name + "' ") +
                      "has no 'command' (write command = " + std::string(kCommandExample) + ")");
    return;
  }
  if (node->is_string()) {
    r.diags().Add(node->source(),
                  "'command' must be an array of strings, like " + std::string(kCommandExample) +
                      ": there is no implicit shell (for a shell line write [\"sh\", \"-c\", "
                      "\"...\"])");
    return;
  }
  std::optional<std::vector<std::string>> argv =
      StringArray(*node, "command", kCommandExample, &r.diags());
  if (!argv) return;
  if (argv->empty() || argv->front().empty()) {
    r.diags().Add(node->source(), "'command' must start with the program to run, like " +
                                      std::string(kCommandExample));
    return;
  }
  s->command = std::move(*argv);
}

bool IsEnvName(std::string_view name) {
  return !name.empty() && name.find('=') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

void ParseEnv(TableReader& r, ServiceConfig* s) {
  const toml::table* env = r.Table("env", R"({ CUDA_LAUNCH_BLOCKING = "1" })");
  if (env == nullptr) return;
  for (const auto& [key, value] : *env) {
    if (!IsEnvName(key.str())) {
      r.diags().Add(key.source(), "invalid environment variable name '" + std::string(key.str()) +
                                      "': it must be non-empty and hold no '='");
      continue;
    }
    std::string name = "env." + std::string(key.str());
    if (const auto* str = value.as_string()) {
      s->env[std::string(key.str())] = str->get();
    } else if (const auto* i = value.as_integer()) {
      s->env[std::string(key.str())] = std::to_string(i->get());
    } else if (const auto* b = value.as_boolean()) {
      s->env[std::string(key.str())] = b->get() ? "true" : "false";
    } else {
      r.diags().Add(value.source(),
                    "'" + name + "' must be a string, not " + std::string(TypeName(value)));
    }
  }
}

void ParseGpus(TableReader& r, ServiceConfig* s) {
  const toml::node* node = r.Node("gpus");
  if (node == nullptr) return;
  const auto* array = node->as_array();
  if (array == nullptr) {
    r.diags().Add(node->source(),
                  "'gpus' must be an array of GPU indexes or UUIDs, like [0] or "
                  "[\"GPU-5a1e…\"], not " +
                      std::string(TypeName(*node)));
    return;
  }
  std::set<std::string> seen;
  for (const toml::node& element : *array) {
    GpuSelector gpu;
    std::string key;
    if (const auto* i = element.as_integer()) {
      if (i->get() < 0 || i->get() > 1023) {
        r.diags().Add(element.source(),
                      "'gpus': invalid GPU index " + std::to_string(i->get()) +
                          " (indexes count from 0, as `vramguard gpus` lists them)");
        continue;
      }
      gpu.index = static_cast<unsigned>(i->get());
      key = "#" + std::to_string(i->get());
    } else if (const auto* str = element.as_string();
               str != nullptr && str->get().starts_with("GPU-") && str->get().size() > 4) {
      gpu.uuid = str->get();
      key = str->get();
    } else {
      std::string shown = element.as_string() ? "'" + element.as_string()->get() + "'"
                                              : std::string(TypeName(element));
      r.diags().Add(element.source(),
                    "'gpus' holds GPU indexes (0, 1, ...) or UUIDs (\"GPU-...\", "
                    "as `vramguard gpus` lists them), not " +
                        shown);
      continue;
    }
    if (!seen.insert(key).second) {
      r.diags().Add(element.source(), "'gpus' names the same GPU twice");
      continue;
    }
    s->gpus.push_back(std::move(gpu));
  }
}

void ParsePorts(TableReader& r, ServiceConfig* s) {
  const toml::node* port = r.Node("port");
  const toml::node* ports = r.Node("ports");
  if (port != nullptr && ports != nullptr) {
    r.diags().Add(ports->source(), "set 'port' or 'ports', not both");
    return;
  }
  if (port != nullptr) {
    if (std::optional<std::int64_t> p = r.Integer("port", 1, 65535)) {
      s->ports.push_back(static_cast<int>(*p));
    }
    return;
  }
  if (ports == nullptr) return;
  const auto* array = ports->as_array();
  if (array == nullptr) {
    r.diags().Add(ports->source(),
                  "'ports' must be an array of port numbers, like [7860, 7861], "
                  "not " +
                      std::string(TypeName(*ports)));
    return;
  }
  for (const toml::node& element : *array) {
    const auto* i = element.as_integer();
    if (i == nullptr || i->get() < 1 || i->get() > 65535) {
      r.diags().Add(element.source(), "'ports' must hold port numbers 1..65535");
    } else if (std::find(s->ports.begin(), s->ports.end(), i->get()) != s->ports.end()) {
      r.diags().Add(element.source(), "'ports' lists " + std::to_string(i->get()) + " twice");
    } else {
      s->ports.push_back(static_cast<int>(i->get()));
    }
  }
}

void ParseUrl(TableReader& r, ServiceConfig* s) {
  const toml::node* node = r.Node("url");
  if (node != nullptr) {
    std::optional<std::string> url = r.String("url");
    if (url && (IsHttpUrl(*url) || (url->starts_with("https://") && url->size() > 8))) {
      s->url = *url;
    } else if (url) {
      r.diags().Add(node->source(),
                    "'url' must start with http:// or https://, not '" + *url + "'");
    }
  } else if (!s->ports.empty()) {
    s->url = "http://127.0.0.1:" + std::to_string(s->ports.front()) + "/";
  }
}

constexpr std::string_view kProxyExample = R"({ listen = "0.0.0.0:7860" })";

// [service.proxy]: listen (required), upstream_port (default: the service's first port),
// start_on_demand (default true), hold_timeout (default 5m).
constexpr std::string_view kRouteExample =
    R"([[service.proxy.route]] match = "POST /generate", params = { resolution = "/resolution" })";

// A TOML scalar as JSON (a `when` value); nullopt for tables, arrays and dates.
std::optional<nlohmann::json> ScalarJson(const toml::node& n) {
  if (const auto* v = n.as_string()) return nlohmann::json(v->get());
  if (const auto* v = n.as_integer()) return nlohmann::json(v->get());
  if (const auto* v = n.as_floating_point()) return nlohmann::json(v->get());
  if (const auto* v = n.as_boolean()) return nlohmann::json(v->get());
  return std::nullopt;
}

// [[service.proxy.route]]: match (required), protocol, params (name → JSON pointer), when
// (pointer → value). Every parameter a route's jobs need comes from the body or has a default.
void ParseRoutes(const toml::node& node, const ServiceConfig& s, Diagnostics* diags,
                 ProxySpec* proxy) {
  const auto* array = node.as_array();
  if (array == nullptr) {
    diags->Add(node.source(), "'proxy.route' must be an array of tables: write each as " +
                                  std::string(kRouteExample));
    return;
  }
  if (!s.jobs.enabled) {
    diags->Add(node.source(),
               "[[service.proxy.route]] makes requests jobs of the service: it also needs its job "
               "interface (jobs = { … }, [[service.param]], [[service.sizing]]; docs/jobs.md)");
    return;
  }
  std::map<std::string, const JobParamConfig*> declared;
  for (const JobParamConfig& p : s.jobs.params) declared[p.name] = &p;
  for (const toml::node& e : *array) {
    const toml::table* t = e.as_table();
    if (t == nullptr) {
      diags->Add(e.source(),
                 "each 'proxy.route' must be a table, like " + std::string(kRouteExample));
      continue;
    }
    TableReader r(*t, "proxy.route.", "in [[service.proxy.route]]", diags);
    DoorRoute route;
    const toml::node* match_node = r.Node("match");
    std::optional<std::string> match = r.String("match");
    if (match_node == nullptr) {
      diags->Add(t->source(), "[[service.proxy.route]] needs 'match', like \"POST /generate\"");
    } else if (match) {
      auto m = ParseDoorMatch(*match);
      if (!m) {
        diags->Add(match_node->source(), "proxy.route.match", m.error());
      } else {
        route.method = m->first;
        route.path = m->second;
        route.text = *match;
      }
    }
    if (std::optional<std::string> protocol = r.String("protocol")) {
      if (auto p = ParseDoorProtocol(*protocol)) {
        route.protocol = *p;
      } else {
        diags->Add(r.Node("protocol")->source(),
                   "unknown 'proxy.route.protocol' \"" + *protocol +
                       "\": use \"generic\", \"openai\" or \"gradio\" (how refusals are written)");
      }
    }
    if (std::optional<std::string> ends = r.String("ends")) {
      if (auto e = ParseDoorEnds(*ends)) {
        route.ends = *e;
      } else {
        diags->Add(r.Node("ends")->source(),
                   "unknown 'proxy.route.ends' \"" + *ends +
                       "\": use \"answer\" (the job ends with the request's answer), "
                       "\"gradio-queue\" (it ends with its event on Gradio's /queue/data stream), "
                       "\"comfyui-history\" (it ends when ComfyUI's /history has its prompt) "
                       "or \"gradio-ws\" (Gradio 3's WebSocket queue: GET …/queue/join)");
      }
      if (route.ends == DoorEnds::kGradioWs && !route.method.empty() && route.method != "GET") {
        diags->Add(r.Node("ends")->source(),
                   "'proxy.route.ends' \"gradio-ws\" follows a WebSocket, opened with GET: "
                   "write match = \"GET /queue/join\" (Gradio 3's queue)");
      }
    }
    std::set<std::string> sourced;
    if (const toml::table* params = r.Table("params", R"({ resolution = "/data/1" })")) {
      for (const auto& [key, value] : *params) {
        const std::string name(key.str());
        const auto* text = value.as_string();
        if (text == nullptr) {
          diags->Add(value.source(), "'proxy.route.params." + name +
                                         "' must be a JSON pointer string, like \"/data/1\"");
          continue;
        }
        if (!declared.count(name)) {
          diags->Add(value.source(), "'proxy.route.params." + name +
                                         "' names no [[service.param]] of this service");
          continue;
        }
        auto src = ParseDoorSource(name, text->get());
        if (!src) {
          diags->Add(value.source(), "proxy.route.params." + name, src.error());
          continue;
        }
        sourced.insert(name);
        route.params.push_back(std::move(*src));
      }
    }
    if (const toml::table* when = r.Table("when", R"({ "/fn_index" = 2 })")) {
      for (const auto& [key, value] : *when) {
        const std::string ptr(key.str());
        auto segs = ParseDoorPointer(ptr);
        if (!segs) {
          diags->Add(value.source(), "proxy.route.when", segs.error());
          continue;
        }
        std::optional<nlohmann::json> v = ScalarJson(value);
        if (!v) {
          diags->Add(value.source(), "'proxy.route.when' values are strings, numbers or booleans");
          continue;
        }
        route.when.push_back(DoorCondition{std::move(*segs), std::move(*v), ptr});
      }
    }
    r.RejectUnknownKeys();
    for (const JobParamConfig& p : s.jobs.params) {
      const bool has_default = p.default_number || p.default_bool || p.default_text;
      if (!has_default && !sourced.count(p.name) && !route.text.empty())
        diags->Add(t->source(), "route '" + route.text + "' gives no value for parameter '" +
                                    p.name +
                                    "', which has no default: add it to the route's "
                                    "params (a JSON pointer into the body) or give it a default");
    }
    if (!route.text.empty()) proxy->routes.push_back(std::move(route));
  }
}

void ParseProxy(TableReader& service, ServiceConfig* s) {
  const toml::table* table = service.Table("proxy", kProxyExample);
  if (table == nullptr) return;
  TableReader r(*table, "proxy.", "in [service.proxy]", &service.diags());
  ProxySpec proxy;
  proxy.where = r.diags().Where(table->source());
  const toml::node* listen_node = r.Node("listen");
  std::optional<std::string> listen = r.String("listen");
  std::optional<ListenAddress> address;
  if (listen_node == nullptr) {
    r.diags().Add(table->source(),
                  "[service.proxy] needs 'listen', the address clients connect to, like " +
                      std::string(kProxyExample));
  } else if (listen) {
    Result<ListenAddress> parsed = ParseListenAddress(*listen);
    if (!parsed) {
      r.diags().Add(listen_node->source(), "proxy.listen", parsed.error());
    } else {
      address = *parsed;
      proxy.listen = *listen;
    }
  }
  if (std::optional<std::int64_t> port = r.Integer("upstream_port", 1, 65535)) {
    proxy.upstream_port = static_cast<int>(*port);
  } else if (r.Node("upstream_port") == nullptr) {
    if (s->ports.empty()) {
      r.diags().Add(table->source(),
                    "[service.proxy] needs the service's own port: set the service's 'port' (where "
                    "it listens, on 127.0.0.1) or proxy.upstream_port");
    } else {
      proxy.upstream_port = s->ports.front();
    }
  }
  if (std::optional<bool> on_demand = r.Bool("start_on_demand")) proxy.start_on_demand = *on_demand;
  if (std::optional<Millis> hold = r.Duration("hold_timeout")) {
    if (hold->count() <= 0) {
      r.diags().Add(r.Node("hold_timeout")->source(),
                    "'proxy.hold_timeout' must be more than 0, like \"5m\": how long a request "
                    "may wait for its service to start");
    } else {
      proxy.hold_timeout = *hold;
    }
  }
  // The proxy and the service cannot both listen on one port (nor may the proxy call itself).
  if (address && (proxy.upstream_port == address->port ||
                  std::find(s->ports.begin(), s->ports.end(), address->port) != s->ports.end())) {
    r.diags().Add(listen_node->source(),
                  "'proxy.listen' uses port " + std::to_string(address->port) +
                      ", the service's own port: move the service to another (internal) port "
                      "and keep " +
                      std::to_string(address->port) + " for the proxy");
  }
  if (const toml::node* routes = r.Node("route")) ParseRoutes(*routes, *s, &r.diags(), &proxy);
  r.RejectUnknownKeys();
  proxy.enabled = !proxy.listen.empty() && proxy.upstream_port != 0;
  s->proxy = std::move(proxy);
}

}  // namespace

ServiceConfig ParseService(const toml::table& table, const std::string& base_dir,
                           Diagnostics* diags) {
  TableReader r(table, "", "in [[service]]", diags);
  ServiceConfig s;
  s.where = diags->Where(table.source());
  ParseName(r, &s);
  ParseCommand(r, &s);
  s.cwd = base_dir;
  if (const toml::node* cwd = r.Node("cwd")) {
    if (std::optional<std::string> path = ResolvePath(*cwd, "cwd", base_dir, diags)) s.cwd = *path;
  }
  ParseEnv(r, &s);
  if (const toml::node* user = r.Node("user")) {
    std::optional<std::string> name = r.String("user");
    if (name && name->empty()) diags->Add(user->source(), "'user' must not be empty");
    if (name && !name->empty()) s.user = *name;
  }
  ParseGpus(r, &s);
  if (std::optional<Bytes> vram = r.Size("vram")) {
    s.vram = *vram;
    if (s.vram.count() > 0 && s.gpus.empty() && r.Node("gpus") == nullptr) {
      diags->Add(r.Node("vram")->source(),
                 "'vram' needs 'gpus' to say on which GPU it must be free (write gpus = [0])");
    }
  }
  ParsePorts(r, &s);
  ParseUrl(r, &s);
  if (const toml::node* ready = r.Node("ready")) s.ready = ParseReady(*ready, s.ports, diags);
  if (const toml::node* live = r.Node("liveness")) {
    s.liveness = ParseLiveness(*live, s.ports, diags);
  }
  if (const toml::node* stop = r.Node("stop")) s.stop = ParseStop(*stop, s.ports, diags);
  if (const toml::node* restart = r.Node("restart")) s.restart = ParseRestart(*restart, diags);
  if (std::optional<bool> autostart = r.Bool("autostart")) s.autostart = *autostart;
  if (const toml::node* logs = r.Node("logs")) s.logs = ParseLogs(*logs, diags);
  if (std::optional<Millis> wait = r.Duration("vram_wait")) s.vram_wait = *wait;
  ParseServiceIncidents(r, s.ports, &s.incidents);
  ParseJobKeys(r, &s);
  ParseProxy(r, &s);
  r.RejectUnknownKeys();
  return s;
}

}  // namespace vg::config_internal
