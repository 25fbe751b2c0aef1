// Decks: YAML run descriptions checked against a declared schema (DESIGN.md §1).
// Every key has a type, a default, a range and one help line. An unknown key is an error
// naming the nearest known key; overrides (--set a.b=c) pass through the same checks.
// The validated deck is held as JSON (defaults filled in) so that no YAML type leaks into
// other headers, and it is written verbatim into output provenance and run summaries.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace phyflow::config {

enum class Type {
  integer,
  real,
  boolean,
  string,
  choice,      ///< a string from a fixed list
  real_list,   ///< non-empty list of reals
  int_list,    ///< non-empty list of integers
  table_list,  ///< list of maps, each checked against the keys named "<path>[].<key>"
  string_list, ///< non-empty list of strings, each from `choices` when choices are given
};

struct Key {
  std::string path;                ///< dotted path, e.g. "lattice.L"; "splits[].seed" in a table list
  Type type = Type::real;
  nlohmann::json default_value;    ///< null: no default (required unless optional)
  std::optional<double> min, max;  ///< inclusive range for numbers and list entries
  std::vector<std::string> choices;
  std::string help;
  bool required = false;
};

/// The declared keys of one workflow.
class Schema {
 public:
  explicit Schema(std::string workflow) : workflow_(std::move(workflow)) {}

  Schema& integer(const std::string& path, std::optional<long long> def, std::optional<double> min,
                  std::optional<double> max, const std::string& help);
  Schema& real(const std::string& path, std::optional<double> def, std::optional<double> min,
               std::optional<double> max, const std::string& help);
  Schema& boolean(const std::string& path, bool def, const std::string& help);
  Schema& string(const std::string& path, std::optional<std::string> def, const std::string& help);
  Schema& choice(const std::string& path, std::string def, std::vector<std::string> choices,
                 const std::string& help);
  Schema& real_list(const std::string& path, std::optional<std::vector<double>> def,
                    std::optional<double> min, std::optional<double> max, const std::string& help);
  Schema& int_list(const std::string& path, std::optional<std::vector<long long>> def,
                   std::optional<double> min, std::optional<double> max, const std::string& help);
  Schema& table_list(const std::string& path, const std::string& help);
  Schema& string_list(const std::string& path, std::optional<std::vector<std::string>> def,
                      std::vector<std::string> choices, const std::string& help);
  /// Marks the last added key as required (an error if the deck omits it).
  Schema& required();
  /// Takes the keys of another workflow's schema under `prefix` (e.g. the N-body keys as
  /// "simulate.system.law"), leaving out those whose path starts with one of `skip`. The
  /// nested keys are optional and get no default here (the help text names the other
  /// workflow's): the caller builds the other workflow's deck from what was given and loads
  /// it with that workflow's schema, which fills the defaults. So `has(prefix...)` tells
  /// whether the user wrote the section.
  Schema& nest(const Schema& other, const std::string& prefix, const std::vector<std::string>& skip);

  const std::string& workflow() const { return workflow_; }
  const std::vector<Key>& keys() const { return keys_; }
  const Key* find(const std::string& path) const;
  /// The known key nearest to `path` (edit distance), for "did you mean" messages.
  std::string nearest(const std::string& path) const;
  /// Human-readable table of keys: type, default, range, help.
  std::string describe() const;

 private:
  Schema& add(Key key);
  std::string workflow_;
  std::vector<Key> keys_;
};

/// A deck checked against a schema, with defaults filled in.
class Deck {
 public:
  Deck() = default;

  /// Reads `path`, applies overrides ("a.b=value", value parsed as YAML) and validates it
  /// against the schema of the workflow named in the deck's `workflow:` key.
  /// Throws input_error naming the file, the key and the fix.
  static Deck load_file(const std::string& path, const std::vector<std::string>& overrides,
                        const Schema& schema);
  static Deck load_string(const std::string& text, const std::vector<std::string>& overrides,
                          const Schema& schema, const std::string& origin = "<deck>");
  /// The `workflow:` value of a deck file (before any schema is known).
  static std::string workflow_of_file(const std::string& path);
  static std::string workflow_of_string(const std::string& text, const std::string& origin);

  const nlohmann::json& values() const { return values_; }
  const nlohmann::json& at(const std::string& path) const;
  bool has(const std::string& path) const;

  long long integer(const std::string& path) const;
  double real(const std::string& path) const;
  bool boolean(const std::string& path) const;
  std::string string(const std::string& path) const;
  std::vector<double> real_list(const std::string& path) const;
  std::vector<long long> int_list(const std::string& path) const;
  std::vector<std::string> string_list(const std::string& path) const;

  /// Returns a copy with `path` set to `value` (no re-validation: for derived decks).
  Deck with(const std::string& path, const nlohmann::json& value) const;

  /// The deck as given (file text) plus the overrides applied, for provenance.
  const std::string& source_text() const { return source_text_; }
  const std::vector<std::string>& overrides() const { return overrides_; }
  const std::string& origin() const { return origin_; }
  /// The resolved deck (defaults filled, overrides applied) as YAML text.
  std::string resolved_yaml() const;

 private:
  nlohmann::json values_;
  std::string source_text_;
  std::vector<std::string> overrides_;
  std::string origin_;
};

/// Levenshtein distance, used for suggestions.
std::size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace phyflow::config
