// The job keys of a [[service]]: `jobs = {…}`, `[[service.param]]`, `[[service.sizing]]`,
// `idle_unload` (docs/config.md, "Jobs").
#include <algorithm>
#include <cmath>
#include <set>

#include "config/config_jobs_parse.h"
#include "config/config_service.h"
#include "config/config_values.h"

namespace vg {

const char* JobParamTypeName(JobParamConfig::Type t) {
  switch (t) {
    case JobParamConfig::Type::kInt:
      return "int";
    case JobParamConfig::Type::kFloat:
      return "float";
    case JobParamConfig::Type::kBool:
      return "bool";
    case JobParamConfig::Type::kString:
      return "string";
  }
  return "?";
}

namespace config_internal {
namespace {

constexpr std::string_view kJobsExample =
    R"({ endpoint = "POST http://127.0.0.1:7860/generate", concurrency = 1 })";
constexpr std::string_view kParamExample =
    R"([[service.param]] name = "frames", type = "int", min = 1, max = 64, memory_exponent = 1)";

std::optional<double> Number(const toml::node& n) {
  if (const auto* i = n.as_integer()) return static_cast<double>(i->get());
  if (const auto* f = n.as_floating_point()) return f->get();
  return std::nullopt;
}

// A number under `key`, or nullopt (diagnosed when present but not a number).
std::optional<double> NumberKey(TableReader& r, std::string_view key) {
  const toml::node* n = r.Node(key);
  if (n == nullptr) return std::nullopt;
  std::optional<double> v = Number(*n);
  if (!v) {
    r.diags().Add(n->source(),
                  "'" + r.Name(key) + "' must be a number, not " + std::string(TypeName(*n)));
  }
  return v;
}

void ParseJobsTable(const toml::node& node, const std::vector<int>& ports, Diagnostics* diags,
                    JobsConfig* j) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    diags->Add(node.source(), "'jobs' must be a table, like " + std::string(kJobsExample) +
                                  ", not " + std::string(TypeName(node)));
    return;
  }
  TableReader r(*table, "jobs.", "in 'jobs'", diags);
  j->enabled = true;
  const toml::node* endpoint = r.Node("endpoint");
  if (std::optional<std::string> text = r.String("endpoint")) {
    Result<HttpRequestLine> line = ParseHttpRequestLine(*text);
    if (!line) {
      diags->Add(endpoint->source(), "jobs.endpoint", line.error());
    } else if (auto url = ResolveHttpUrl(*endpoint, line->url, "jobs.endpoint", ports, diags)) {
      j->method = line->method;
      j->url = *url;
    }
  } else if (endpoint == nullptr) {
    diags->Add(table->source(), "'jobs' needs 'endpoint', the URL jobs are sent to, like " +
                                    std::string(kJobsExample));
  }
  if (auto c = r.Integer("concurrency", 1, 1024)) j->concurrency = static_cast<int>(*c);
  if (auto b = r.Bool("idempotent")) j->idempotent = *b;
  if (auto t = r.Duration("timeout")) {
    if (t->count() <= 0) {
      diags->Add(r.Node("timeout")->source(), "'jobs.timeout' must be above zero");
    } else {
      j->timeout = *t;
    }
  }
  if (auto m = r.Size("max_payload")) j->max_payload = *m;
  r.RejectUnknownKeys();
}

JobParamConfig::Type ParseType(TableReader& r) {
  std::optional<std::string> t = r.String("type");
  if (!t) return JobParamConfig::Type::kInt;
  if (*t == "int" || *t == "integer") return JobParamConfig::Type::kInt;
  if (*t == "float" || *t == "number") return JobParamConfig::Type::kFloat;
  if (*t == "bool" || *t == "boolean") return JobParamConfig::Type::kBool;
  if (*t == "string") return JobParamConfig::Type::kString;
  r.diags().Add(r.Node("type")->source(),
                "'" + r.Name("type") +
                    "' must be \"int\", \"float\", \"bool\" or \"string\", not '" + *t + "'");
  return JobParamConfig::Type::kInt;
}

void ParseChoices(TableReader& r, JobParamConfig* p) {
  const toml::node* node = r.Node("choices");
  if (node == nullptr) return;
  const auto* array = node->as_array();
  if (array == nullptr || array->empty()) {
    r.diags().Add(node->source(),
                  "'" + r.Name("choices") + "' must be a non-empty array of the allowed values");
    return;
  }
  for (const toml::node& e : *array) {
    if (p->type == JobParamConfig::Type::kString) {
      if (const auto* s = e.as_string()) {
        p->choices_text.push_back(s->get());
        continue;
      }
    } else if (p->type != JobParamConfig::Type::kBool) {
      if (std::optional<double> v = Number(e)) {
        if (p->type == JobParamConfig::Type::kInt && *v != std::floor(*v)) {
          r.diags().Add(e.source(), "'" + r.Name("choices") + "' of an int parameter holds " +
                                        "whole numbers only");
          continue;
        }
        p->choices.push_back(*v);
        continue;
      }
    }
    r.diags().Add(e.source(), "'" + r.Name("choices") + "' holds values of the parameter's type (" +
                                  JobParamTypeName(p->type) + "), not " + std::string(TypeName(e)));
  }
  std::sort(p->choices.begin(), p->choices.end());
}

void ParseDefault(TableReader& r, JobParamConfig* p) {
  const toml::node* node = r.Node("default");
  if (node == nullptr) return;
  bool ok = false;
  switch (p->type) {
    case JobParamConfig::Type::kInt:
    case JobParamConfig::Type::kFloat:
      p->default_number = Number(*node);
      ok = p->default_number.has_value();
      break;
    case JobParamConfig::Type::kBool:
      if (const auto* b = node->as_boolean()) p->default_bool = b->get(), ok = true;
      break;
    case JobParamConfig::Type::kString:
      if (const auto* s = node->as_string()) p->default_text = s->get(), ok = true;
      break;
  }
  if (!ok) {
    r.diags().Add(node->source(), "'" + r.Name("default") + "' must be a " +
                                      JobParamTypeName(p->type) + ", not " +
                                      std::string(TypeName(*node)));
    return;
  }
  if (p->default_number) {
    double v = *p->default_number;
    bool allowed = p->choices.empty()
                       ? (!p->min || v >= *p->min) && (!p->max || v <= *p->max)
                       : std::find(p->choices.begin(), p->choices.end(), v) != p->choices.end();
    if (!allowed)
      r.diags().Add(node->source(), "'" + r.Name("default") + "' is not an allowed value");
  }
}

void ParseParams(const toml::node& node, Diagnostics* diags, JobsConfig* j) {
  const auto* array = node.as_array();
  if (array == nullptr) {
    diags->Add(node.source(),
               "'param' must be an array of tables: write each as " + std::string(kParamExample));
    return;
  }
  std::set<std::string> names;
  for (const toml::node& e : *array) {
    const toml::table* t = e.as_table();
    if (t == nullptr) {
      diags->Add(e.source(), "each 'param' must be a table, like " + std::string(kParamExample));
      continue;
    }
    TableReader r(*t, "param.", "in [[service.param]]", diags);
    JobParamConfig p;
    if (auto name = r.String("name")) {
      p.name = *name;
      if (p.name.empty()) diags->Add(r.Node("name")->source(), "'param.name' must not be empty");
      if (!names.insert(p.name).second)
        diags->Add(r.Node("name")->source(), "parameter '" + p.name + "' is declared twice");
    } else if (r.Node("name") == nullptr) {
      diags->Add(t->source(), "[[service.param]] has no 'name'");
    }
    p.type = ParseType(r);
    p.min = NumberKey(r, "min");
    p.max = NumberKey(r, "max");
    if (p.min && p.max && *p.min > *p.max)
      diags->Add(r.Node("max")->source(), "'param.max' is below 'param.min'");
    ParseChoices(r, &p);
    if (!p.choices.empty() && (p.min || p.max))
      diags->Add(r.Node("choices")->source(), "set 'choices' or 'min'/'max', not both");
    if ((p.type == JobParamConfig::Type::kBool || p.type == JobParamConfig::Type::kString) &&
        (p.min || p.max))
      diags->Add(t->source(), "'min'/'max' apply to int and float parameters only");
    ParseDefault(r, &p);
    if (auto x = NumberKey(r, "memory_exponent")) {
      if (*x < 0 || *x > 4) {
        diags->Add(r.Node("memory_exponent")->source(),
                   "'param.memory_exponent' must be between 0 and 4 (2 for a resolution, 1 for a "
                   "frame count, 0 for what does not change memory)");
      } else if (*x != 0 && p.type != JobParamConfig::Type::kInt &&
                 p.type != JobParamConfig::Type::kFloat) {
        diags->Add(r.Node("memory_exponent")->source(), "only number parameters can drive memory");
      } else {
        p.memory_exponent = *x;
      }
    }
    r.RejectUnknownKeys();
    j->params.push_back(std::move(p));
  }
}

void ParseSizing(const toml::node& node, Diagnostics* diags, JobsConfig* j) {
  const auto* array = node.as_array();
  if (array == nullptr) {
    diags->Add(node.source(),
               "'sizing' must be an array of tables: write each row as [[service.sizing]] with "
               "the parameters and vram = \"14GiB\"");
    return;
  }
  for (const toml::node& e : *array) {
    const toml::table* t = e.as_table();
    if (t == nullptr) {
      diags->Add(e.source(), "each 'sizing' row must be a table");
      continue;
    }
    SizingRowConfig row;
    bool have_vram = false;
    for (const auto& [key, value] : *t) {
      std::string k(key.str());
      if (k == "vram") {
        Result<Bytes> b =
            value.as_string() ? ParseBytes(value.as_string()->get())
            : value.as_integer()
                ? Result<Bytes>(Bytes(static_cast<std::uint64_t>(
                      std::max<std::int64_t>(0, value.as_integer()->get()))))
                : Fail(ErrorCode::kInvalidArgument, "not a size", "write a size like \"14GiB\"");
        if (!b) {
          diags->Add(value.source(), "sizing.vram", b.error());
        } else {
          row.vram = *b;
          have_vram = true;
        }
        continue;
      }
      std::optional<double> v = Number(value);
      if (!v) {
        diags->Add(value.source(), "'sizing." + k + "' must be a number (the parameter's value)");
        continue;
      }
      row.params[k] = *v;
    }
    if (!have_vram) diags->Add(t->source(), "a [[service.sizing]] row needs vram = \"…GiB\"");
    j->sizing.push_back(std::move(row));
  }
}

}  // namespace

void ParseJobKeys(TableReader& r, ServiceConfig* s) {
  Diagnostics* diags = &r.diags();
  const toml::node* jobs = r.Node("jobs");
  if (jobs != nullptr) ParseJobsTable(*jobs, s->ports, diags, &s->jobs);
  const toml::node* params = r.Node("param");
  const toml::node* sizing = r.Node("sizing");
  if (params != nullptr) ParseParams(*params, diags, &s->jobs);
  if (sizing != nullptr) ParseSizing(*sizing, diags, &s->jobs);
  if ((params != nullptr || sizing != nullptr) && jobs == nullptr) {
    diags->Add((params ? params : sizing)->source(),
               "[[service.param]] and [[service.sizing]] describe jobs: the service also needs "
               "jobs = " +
                   std::string(kJobsExample));
  }
  // Every sizing row names declared parameters only.
  std::set<std::string> declared;
  for (const JobParamConfig& p : s->jobs.params) declared.insert(p.name);
  if (sizing != nullptr && sizing->as_array()) {
    std::size_t i = 0;
    for (const toml::node& e : *sizing->as_array()) {
      if (i >= s->jobs.sizing.size()) break;
      for (const auto& [k, v] : s->jobs.sizing[i].params) {
        if (!declared.count(k))
          diags->Add(e.source(),
                     "sizing row names '" + k + "', which no [[service.param]] declares");
      }
      ++i;
    }
  }
  if (jobs != nullptr && s->jobs.enabled && s->jobs.sizing.empty() && s->vram.count() == 0) {
    diags->Add(jobs->source(),
               "a service with jobs needs a sizing table ([[service.sizing]] rows) or 'vram' to "
               "estimate a job's memory before its first observation");
  }
  if (std::optional<Millis> idle = r.Duration("idle_unload")) {
    if (idle->count() <= 0) {
      diags->Add(r.Node("idle_unload")->source(), "'idle_unload' must be above zero");
    } else {
      s->idle_unload = *idle;
    }
  }
}

}  // namespace config_internal
}  // namespace vg
