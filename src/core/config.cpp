#include "phyflow/core/config.hpp"

#include "phyflow/core/error.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>

namespace phyflow::config {

using nlohmann::json;

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

namespace {

std::string type_name(Type t) {
  switch (t) {
    case Type::integer: return "integer";
    case Type::real: return "number";
    case Type::boolean: return "boolean (true/false)";
    case Type::string: return "string";
    case Type::choice: return "one of";
    case Type::real_list: return "list of numbers";
    case Type::int_list: return "list of integers";
    case Type::table_list: return "list of tables";
    case Type::string_list: return "list of strings";
  }
  return "?";
}

std::string short_json(const json& v) {
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// YAML -> JSON with YAML 1.2 core-schema scalars; quoted scalars stay strings.
json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const auto& item : node) arr.push_back(to_json(item));
      return arr;
    }
    case YAML::NodeType::Map: {
      json obj = json::object();
      for (const auto& kv : node) obj[kv.first.as<std::string>()] = to_json(kv.second);
      return obj;
    }
    case YAML::NodeType::Scalar: break;
  }
  const std::string s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: always a string
  static const std::regex int_re(R"([-+]?[0-9]+)");
  static const std::regex real_re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(s, int_re)) {
    try {
      return std::stoll(s);
    } catch (...) {
      return std::stod(s);
    }
  }
  if (std::regex_match(s, real_re)) return std::stod(s);
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == ".inf" || s == "+.inf") return HUGE_VAL;
  if (s == "-.inf") return -HUGE_VAL;
  return s;
}

YAML::Node to_yaml(const json& v) {
  YAML::Node n;
  if (v.is_object()) {
    n = YAML::Node(YAML::NodeType::Map);
    for (auto it = v.begin(); it != v.end(); ++it) n[it.key()] = to_yaml(it.value());
  } else if (v.is_array()) {
    n = YAML::Node(YAML::NodeType::Sequence);
    for (const auto& item : v) n.push_back(to_yaml(item));
    n.SetStyle(YAML::EmitterStyle::Flow);
  } else if (v.is_string()) {
    n = v.get<std::string>();
  } else if (v.is_boolean()) {
    n = v.get<bool>();
  } else if (v.is_number_integer()) {
    n = v.get<long long>();
  } else if (v.is_number()) {
    std::ostringstream s;
    s.precision(17);
    s << v.get<double>();
    n = s.str();
  }
  return n;
}

json parse_yaml_text(const std::string& text, const std::string& origin) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsDefined() || root.IsNull()) return json::object();
    if (!root.IsMap())
      throw input_error("deck '" + origin + "' must be a YAML mapping of keys (got a " +
                        (root.IsSequence() ? "list" : "scalar") + ")");
    return to_json(root);
  } catch (const YAML::Exception& e) {
    std::ostringstream msg;
    msg << "deck '" << origin << "' is not valid YAML";
    if (e.mark.line >= 0) msg << " (line " << e.mark.line + 1 << ", column " << e.mark.column + 1 << ")";
    msg << ": " << e.msg;
    throw input_error(msg.str());
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw input_error("cannot read deck '" + path + "': no such file or not readable");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(path);
  while (std::getline(in, part, '.')) parts.push_back(part);
  return parts;
}

json* find_path(json& root, const std::string& path, bool create) {
  json* cur = &root;
  for (const auto& part : split_path(path)) {
    if (!cur->is_object()) {
      if (!create) return nullptr;
      *cur = json::object();
    }
    auto it = cur->find(part);
    if (it == cur->end()) {
      if (!create) return nullptr;
      cur = &(*cur)[part];
    } else {
      cur = &*it;
    }
  }
  return cur;
}

std::string range_text(const Key& k) {
  std::ostringstream s;
  s.precision(12);
  if (k.min && k.max)
    s << "[" << *k.min << ", " << *k.max << "]";
  else if (k.min)
    s << ">= " << *k.min;
  else if (k.max)
    s << "<= " << *k.max;
  return s.str();
}

void check_range(const Key& k, double x, const std::string& where, const std::string& shown) {
  if ((k.min && x < *k.min) || (k.max && x > *k.max) || std::isnan(x)) {
    std::ostringstream s;
    s.precision(12);
    s << where << ": " << k.path << " = " << shown << " is out of range ";
    if (k.min && k.max)
      s << "[" << *k.min << ", " << *k.max << "]";
    else if (k.min)
      s << "(must be >= " << *k.min << ")";
    else
      s << "(must be <= " << *k.max << ")";
    s << " -- " << k.help;
    throw input_error(s.str());
  }
}

// Checks and normalises one value against its key; returns the normalised value.
json check_value(const Key& k, const json& v, const std::string& where) {
  auto bad_type = [&](const std::string& expected) {
    return input_error(where + ": " + k.path + " must be " + expected + ", got '" +
                       short_json(v) + "' -- " + k.help);
  };
  switch (k.type) {
    case Type::integer: {
      if (!v.is_number_integer()) {
        if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
            std::fabs(v.get<double>()) < 9e15)
          return check_value(k, json(static_cast<long long>(v.get<double>())), where);
        throw bad_type("an integer");
      }
      check_range(k, double(v.get<long long>()), where, v.dump());
      return v;
    }
    case Type::real: {
      if (!v.is_number()) throw bad_type("a number");
      check_range(k, v.get<double>(), where, v.dump());
      return json(v.get<double>());
    }
    case Type::boolean:
      if (!v.is_boolean()) throw bad_type("true or false");
      return v;
    case Type::string:
      if (!v.is_string()) throw bad_type("a string");
      return v;
    case Type::choice: {
      const std::string s = v.is_string() ? v.get<std::string>() : short_json(v);
      if (std::find(k.choices.begin(), k.choices.end(), s) != k.choices.end()) return json(s);
      std::string best = k.choices.front();
      for (const auto& c : k.choices)
        if (edit_distance(s, c) < edit_distance(s, best)) best = c;
      std::string all;
      for (const auto& c : k.choices) all += (all.empty() ? "" : " | ") + c;
      throw input_error(where + ": " + k.path + " = '" + s + "' is not one of " + all +
                        " (did you mean '" + best + "'?)");
    }
    case Type::real_list:
    case Type::int_list: {
      const bool ints = k.type == Type::int_list;
      json arr = v.is_array() ? v : json::array({v});  // a single value is a one-entry list
      if (arr.empty()) throw bad_type(ints ? "a non-empty list of integers" : "a non-empty list of numbers");
      json out = json::array();
      for (const auto& e : arr) {
        if (ints ? !e.is_number_integer() : !e.is_number())
          throw bad_type(ints ? "a list of integers" : "a list of numbers");
        check_range(k, e.get<double>(), where, e.dump());
        out.push_back(ints ? json(e.get<long long>()) : json(e.get<double>()));
      }
      return out;
    }
    case Type::table_list:
      if (!v.is_array()) throw bad_type("a list of tables (- {key: value, ...})");
      return v;
    case Type::string_list: {
      json arr = v.is_array() ? v : json::array({v});  // a single value is a one-entry list
      if (arr.empty()) throw bad_type("a non-empty list of strings");
      for (const auto& e : arr) {
        if (!e.is_string()) throw bad_type("a list of strings");
        const std::string s = e.get<std::string>();
        if (k.choices.empty() || std::find(k.choices.begin(), k.choices.end(), s) != k.choices.end())
          continue;
        std::string best = k.choices.front(), all;
        for (const auto& c : k.choices) {
          if (edit_distance(s, c) < edit_distance(s, best)) best = c;
          all += (all.empty() ? "" : ", ") + c;
        }
        throw input_error(where + ": " + k.path + ": unknown entry '" + s + "' (did you mean '" +
                          best + "'? known: " + all + ")");
      }
      return arr;
    }
  }
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------- Schema

Schema& Schema::add(Key key) {
  keys_.push_back(std::move(key));
  return *this;
}

Schema& Schema::integer(const std::string& path, std::optional<long long> def,
                        std::optional<double> min, std::optional<double> max,
                        const std::string& help) {
  Key k{path, Type::integer, def ? json(*def) : json(nullptr), min, max, {}, help};
  return add(std::move(k));
}
Schema& Schema::real(const std::string& path, std::optional<double> def, std::optional<double> min,
                     std::optional<double> max, const std::string& help) {
  Key k{path, Type::real, def ? json(*def) : json(nullptr), min, max, {}, help};
  return add(std::move(k));
}
Schema& Schema::boolean(const std::string& path, bool def, const std::string& help) {
  Key k{path, Type::boolean, json(def), {}, {}, {}, help};
  return add(std::move(k));
}
Schema& Schema::string(const std::string& path, std::optional<std::string> def,
                       const std::string& help) {
  Key k{path, Type::string, def ? json(*def) : json(nullptr), {}, {}, {}, help};
  return add(std::move(k));
}
Schema& Schema::choice(const std::string& path, std::string def, std::vector<std::string> choices,
                       const std::string& help) {
  Key k{path, Type::choice, json(def), {}, {}, std::move(choices), help};
  return add(std::move(k));
}
Schema& Schema::real_list(const std::string& path, std::optional<std::vector<double>> def,
                          std::optional<double> min, std::optional<double> max,
                          const std::string& help) {
  Key k{path, Type::real_list, def ? json(*def) : json(nullptr), min, max, {}, help};
  return add(std::move(k));
}
Schema& Schema::int_list(const std::string& path, std::optional<std::vector<long long>> def,
                         std::optional<double> min, std::optional<double> max,
                         const std::string& help) {
  Key k{path, Type::int_list, def ? json(*def) : json(nullptr), min, max, {}, help};
  return add(std::move(k));
}
Schema& Schema::string_list(const std::string& path, std::optional<std::vector<std::string>> def,
                            std::vector<std::string> choices, const std::string& help) {
  Key k{path, Type::string_list, def ? json(*def) : json(nullptr), {}, {}, std::move(choices), help};
  return add(std::move(k));
}

Schema& Schema::table_list(const std::string& path, const std::string& help) {
  Key k{path, Type::table_list, json(nullptr), {}, {}, {}, help};
  return add(std::move(k));
}
Schema& Schema::required() {
  keys_.back().required = true;
  return *this;
}

Schema& Schema::nest(const Schema& other, const std::string& prefix,
                     const std::vector<std::string>& skip) {
  for (Key k : other.keys()) {
    bool skipped = false;
    for (const auto& s : skip) skipped = skipped || k.path.rfind(s, 0) == 0;
    if (skipped) continue;
    if (!k.default_value.is_null())
      k.help += " (default " + short_json(k.default_value) + " of workflow " + other.workflow() + ")";
    k.path = prefix + k.path;
    k.default_value = json(nullptr);
    if (k.path.find("[]") == std::string::npos) k.required = false;  // a row's required keys stay
    add(std::move(k));
  }
  return *this;
}

const Key* Schema::find(const std::string& path) const {
  for (const auto& k : keys_)
    if (k.path == path) return &k;
  return nullptr;
}

std::string Schema::nearest(const std::string& path) const {
  std::string best;
  std::size_t best_d = std::string::npos;
  // Sections ("lattice") are candidates too, so a misspelled section is matched to a section.
  std::vector<Key> candidates = keys_;
  for (const auto& k : keys_)
    for (auto dot = k.path.find('.'); dot != std::string::npos; dot = k.path.find('.', dot + 1))
      candidates.push_back(Key{k.path.substr(0, dot), Type::string, {}, {}, {}, {}, ""});
  for (const auto& k : candidates) {
    // Compare with the full path and with its last component (a misplaced key).
    std::size_t d = edit_distance(path, k.path);
    const auto dot = path.rfind('.');
    const auto kdot = k.path.rfind('.');
    const std::string leaf = dot == std::string::npos ? path : path.substr(dot + 1);
    const std::string kleaf = kdot == std::string::npos ? k.path : k.path.substr(kdot + 1);
    d = std::min(d, edit_distance(leaf, kleaf) + 1);
    if (d < best_d) {
      best_d = d;
      best = k.path;
    }
  }
  return best;
}

std::string Schema::describe() const {
  std::ostringstream out;
  out << "Deck keys of workflow '" << workflow_ << "' (workflow: " << workflow_ << ")\n\n";
  std::size_t w = 0;
  for (const auto& k : keys_) w = std::max(w, k.path.size());
  for (const auto& k : keys_) {
    std::string type = type_name(k.type);
    if (k.type == Type::choice || (k.type == Type::string_list && !k.choices.empty())) {
      std::string all;
      for (const auto& c : k.choices) all += (all.empty() ? "" : "|") + c;
      type = k.type == Type::choice ? all : "list of " + all;
    }
    std::string def = k.required ? "required" : (k.default_value.is_null() ? "optional" : "default " + short_json(k.default_value));
    out << "  " << k.path << std::string(w + 2 - k.path.size(), ' ') << k.help << "\n"
        << "  " << std::string(w + 2, ' ') << "[" << type << "; " << def;
    const std::string r = range_text(k);
    if (!r.empty()) out << "; range " << r;
    out << "]\n";
  }
  return out.str();
}

// ------------------------------------------------------------------------------------ Deck

namespace {

// Walks the user's tree: every leaf must be a known key; returns nothing, throws on the first
// unknown key with a suggestion.
void check_known(const Schema& schema, const json& node, const std::string& prefix,
                 const std::string& where) {
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (const Key* k = schema.find(path)) {
      if (k->type == Type::table_list && it.value().is_array()) {
        std::size_t idx = 0;
        for (const auto& row : it.value()) {
          if (!row.is_object())
            throw input_error(where + ": each entry of " + path + " must be a table (key: value)");
          for (auto r = row.begin(); r != row.end(); ++r) {
            const std::string sub = path + "[]." + r.key();
            if (!schema.find(sub))
              throw input_error(where + ": unknown key '" + r.key() + "' in " + path + "[" +
                                std::to_string(idx) + "] -- did you mean '" +
                                schema.nearest(sub).substr(path.size() + 3) + "'?");
          }
          ++idx;
        }
      }
      continue;
    }
    // A prefix of known keys: descend.
    bool is_prefix = false;
    for (const auto& k : schema.keys())
      if (k.path.rfind(path + ".", 0) == 0) is_prefix = true;
    if (is_prefix && it.value().is_object()) {
      check_known(schema, it.value(), path, where);
      continue;
    }
    if (is_prefix)
      throw input_error(where + ": '" + path + "' is a section and must hold keys (e.g. " +
                        schema.nearest(path + ".") + ": ...)");
    throw input_error(where + ": unknown key '" + path + "' -- did you mean '" +
                      schema.nearest(path) + "'? (phyflow run --help-deck " + schema.workflow() +
                      " lists every key)");
  }
}

json validate(const Schema& schema, json tree, const std::string& where) {
  check_known(schema, tree, "", where);
  for (const auto& k : schema.keys()) {
    if (k.path.find("[]") != std::string::npos) continue;  // checked per table row below
    json* slot = find_path(tree, k.path, false);
    if (slot == nullptr || slot->is_null()) {
      if (k.required)
        throw input_error(where + ": required key '" + k.path + "' is missing -- " + k.help);
      if (!k.default_value.is_null()) *find_path(tree, k.path, true) = k.default_value;
      continue;
    }
    *slot = check_value(k, *slot, where);
    if (k.type == Type::table_list) {
      for (std::size_t i = 0; i < slot->size(); ++i) {
        json& row = (*slot)[i];
        const std::string rowwhere = where + " (" + k.path + "[" + std::to_string(i) + "])";
        for (const auto& sub : schema.keys()) {
          if (sub.path.rfind(k.path + "[].", 0) != 0) continue;
          const std::string name = sub.path.substr(k.path.size() + 3);
          auto it = row.find(name);
          if (it == row.end() || it->is_null()) {
            if (sub.required)
              throw input_error(rowwhere + ": required key '" + name + "' is missing -- " + sub.help);
            if (!sub.default_value.is_null()) row[name] = sub.default_value;
            continue;
          }
          *it = check_value(sub, *it, rowwhere);
        }
      }
    }
  }
  return tree;
}

}  // namespace

std::string Deck::workflow_of_string(const std::string& text, const std::string& origin) {
  const json tree = parse_yaml_text(text, origin);
  auto it = tree.find("workflow");
  if (it == tree.end() || !it->is_string())
    throw input_error("deck '" + origin +
                      "' has no 'workflow:' key naming what to run (e.g. 'workflow: ising')");
  return it->get<std::string>();
}

std::string Deck::workflow_of_file(const std::string& path) {
  return workflow_of_string(read_file(path), path);
}

Deck Deck::load_file(const std::string& path, const std::vector<std::string>& overrides,
                     const Schema& schema) {
  return load_string(read_file(path), overrides, schema, path);
}

Deck Deck::load_string(const std::string& text, const std::vector<std::string>& overrides,
                       const Schema& schema, const std::string& origin) {
  json tree = parse_yaml_text(text, origin);
  for (const auto& ov : overrides) {
    const auto eq = ov.find('=');
    if (eq == std::string::npos || eq == 0)
      throw input_error("--set '" + ov + "' must have the form key.path=value (e.g. --set lattice.L=64)");
    const std::string path = ov.substr(0, eq);
    const std::string value = ov.substr(eq + 1);
    if (!schema.find(path))
      throw input_error("--set " + path + ": unknown key -- did you mean '" + schema.nearest(path) +
                        "'? (phyflow run --help-deck " + schema.workflow() + ")");
    json parsed;
    try {
      parsed = value.empty() ? json(nullptr) : to_json(YAML::Load(value));
    } catch (const YAML::Exception& e) {
      throw input_error("--set " + ov + ": the value is not valid YAML: " + e.msg);
    }
    *find_path(tree, path, true) = parsed;
  }
  Deck d;
  const std::string where = "deck '" + origin + "'";
  d.values_ = validate(schema, std::move(tree), where);
  d.source_text_ = text;
  d.overrides_ = overrides;
  d.origin_ = origin;
  return d;
}

const json& Deck::at(const std::string& path) const {
  json* p = find_path(const_cast<json&>(values_), path, false);
  if (p == nullptr || p->is_null())
    throw input_error("deck '" + origin_ + "': key '" + path + "' is not set");
  return *p;
}

bool Deck::has(const std::string& path) const {
  json* p = find_path(const_cast<json&>(values_), path, false);
  return p != nullptr && !p->is_null();
}

long long Deck::integer(const std::string& path) const { return at(path).get<long long>(); }
double Deck::real(const std::string& path) const { return at(path).get<double>(); }
bool Deck::boolean(const std::string& path) const { return at(path).get<bool>(); }
std::string Deck::string(const std::string& path) const { return at(path).get<std::string>(); }
std::vector<double> Deck::real_list(const std::string& path) const {
  return at(path).get<std::vector<double>>();
}
std::vector<long long> Deck::int_list(const std::string& path) const {
  return at(path).get<std::vector<long long>>();
}
std::vector<std::string> Deck::string_list(const std::string& path) const {
  return at(path).get<std::vector<std::string>>();
}

Deck Deck::with(const std::string& path, const json& value) const {
  Deck d = *this;
  *find_path(d.values_, path, true) = value;
  return d;
}

std::string Deck::resolved_yaml() const {
  YAML::Emitter out;
  out << to_yaml(values_);
  return std::string(out.c_str()) + "\n";
}

}  // namespace phyflow::config
