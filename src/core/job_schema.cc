#include "core/job_schema.h"

#include <cmath>
#include <limits>

#include "util/json_limits.h"

namespace vg {
namespace {

using nlohmann::json;

std::string FormatNumber(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  json j = v;
  return j.dump();
}

std::string TypeName(ParamSpec::Type t) {
  switch (t) {
    case ParamSpec::Type::kInt:
      return "an integer";
    case ParamSpec::Type::kFloat:
      return "a number";
    case ParamSpec::Type::kString:
      return "a string";
    case ParamSpec::Type::kBool:
      return "true or false";
  }
  return "a value";
}

bool TypeMatches(const ParamSpec& spec, const json& v) {
  switch (spec.type) {
    case ParamSpec::Type::kInt:
      if (v.is_number_integer()) return true;
      // 24.0 is an integer written as a float; 24.5 is not.
      return v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
             std::isfinite(v.get<double>());
    case ParamSpec::Type::kFloat:
      return v.is_number() && std::isfinite(v.get<double>());
    case ParamSpec::Type::kString:
      return v.is_string();
    case ParamSpec::Type::kBool:
      return v.is_boolean();
  }
  return false;
}

json Normalise(const ParamSpec& spec, const json& v) {
  if (spec.type == ParamSpec::Type::kInt) return json(static_cast<long long>(v.get<double>()));
  if (spec.type == ParamSpec::Type::kFloat) return json(v.get<double>());
  return v;
}

bool SameValue(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  return a == b;
}

std::string Allowed(const ParamSpec& spec) {
  std::string out;
  if (!spec.choices.empty()) {
    for (const json& c : spec.choices) {
      if (!out.empty()) out += ", ";
      out += c.is_number() ? FormatNumber(c.get<double>()) : c.dump();
    }
    return "one of " + out;
  }
  out = TypeName(spec.type);
  if (spec.min && spec.max) {
    out += " in " + FormatNumber(*spec.min) + "–" + FormatNumber(*spec.max);
  } else if (spec.min) {
    out += " ≥ " + FormatNumber(*spec.min);
  } else if (spec.max) {
    out += " ≤ " + FormatNumber(*spec.max);
  }
  return out;
}

std::string Show(const json& v) {
  if (v.is_number()) return FormatNumber(v.get<double>());
  return Abbreviate(v);
}

}  // namespace

const ParamSpec* JobSchema::Find(const std::string& name) const {
  for (const ParamSpec& p : params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

Result<JobParams> ValidateParams(const JobSchema& schema, const json& params,
                                 std::string* bad_parameter) {
  auto fail = [&](const std::string& name, std::string message, std::string hint) {
    const std::string shown = AbbreviateText(name);  // a client's name: bounded
    if (bad_parameter) *bad_parameter = shown;
    return Fail(ErrorCode::kInvalidArgument, name.empty() ? message : shown + ": " + message,
                std::move(hint));
  };
  if (!params.is_null() && !params.is_object()) {
    return fail("", "params must be a JSON object", "send {\"name\": value, …}");
  }
  JobParams out;
  if (params.is_object()) {
    for (const auto& [name, value] : params.items()) {
      const ParamSpec* spec = schema.Find(name);
      if (!spec) {
        std::string known;
        for (const ParamSpec& p : schema.params) known += (known.empty() ? "" : ", ") + p.name;
        return fail(name, "unknown parameter (known: " + (known.empty() ? "none" : known) + ")",
                    "remove it or check its spelling");
      }
      if (!TypeMatches(*spec, value)) {
        return fail(name, "expected " + TypeName(spec->type) + ", got " + Abbreviate(value),
                    "allowed: " + Allowed(*spec));
      }
      json v = Normalise(*spec, value);
      if (!spec->choices.empty()) {
        bool found = false;
        for (const json& c : spec->choices) found = found || SameValue(c, v);
        if (!found) {
          return fail(name, Show(v) + " is not " + Allowed(*spec), "allowed: " + Allowed(*spec));
        }
      } else if (v.is_number()) {
        double d = v.get<double>();
        if ((spec->min && d < *spec->min) || (spec->max && d > *spec->max)) {
          return fail(name, Show(v) + " is out of range (" + Allowed(*spec) + ")",
                      "allowed: " + Allowed(*spec));
        }
      }
      out[name] = std::move(v);
    }
  }
  for (const ParamSpec& spec : schema.params) {
    if (out.contains(spec.name)) continue;
    if (!spec.default_value) {
      return fail(spec.name, "required (" + Allowed(spec) + ")", "allowed: " + Allowed(spec));
    }
    out[spec.name] = *spec.default_value;
  }
  return out;
}

double MemoryFeature(const JobSchema& schema, const JobParams& params) {
  double x = 1;
  for (const ParamSpec& spec : schema.params) {
    if (spec.memory_exponent == 0) continue;
    if (spec.type != ParamSpec::Type::kInt && spec.type != ParamSpec::Type::kFloat) continue;
    const json* v = nullptr;
    auto it = params.find(spec.name);
    if (it != params.end()) {
      v = &it->second;
    } else if (spec.default_value) {
      v = &*spec.default_value;
    }
    if (!v || !v->is_number()) continue;
    double d = std::max(v->get<double>(), std::numeric_limits<double>::min());
    x *= std::pow(d, spec.memory_exponent);
  }
  return std::max(x, std::numeric_limits<double>::min());
}

std::string DescribeParams(const JobSchema& schema, const JobParams& params) {
  bool any_memory = false;
  for (const ParamSpec& spec : schema.params) any_memory = any_memory || spec.memory_exponent != 0;
  std::string out;
  for (const ParamSpec& spec : schema.params) {
    if (any_memory && spec.memory_exponent == 0) continue;
    auto it = params.find(spec.name);
    if (it == params.end()) continue;
    if (!out.empty()) out += ' ';
    out += spec.name + "=" +
           (it->second.is_string() ? it->second.get<std::string>() : Show(it->second));
  }
  return out;
}

}  // namespace vg
