// The model kinds a training deck can name (model.kind), their options and data layouts, and
// the one place that builds a model from a kind and its options -- for `workflow: train`,
// for `phyflow predict` (from a model file's attributes) and for tests.
#pragma once

#include "phyflow/ml/model.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace phyflow::ml {

struct ModelKind {
  std::string name;
  std::string description;
  DataLayout layout;
  std::vector<std::string> options;  ///< the model.* keys it reads
};

const std::vector<ModelKind>& model_kinds();
/// input_error naming the nearest kind when `name` is unknown.
const ModelKind& model_kind(const std::string& name);

/// Every model option with its default (the deck schema declares these).
const nlohmann::json& model_option_defaults();

/// Input error when `section` (the deck's model: map, defaults filled) sets an option the kind
/// does not read, or options that contradict each other. `where` prefixes messages.
void check_model_options(const std::string& kind, const nlohmann::json& section,
                         const std::string& where);

/// Builds the model. `options` holds at least the kind's options (missing ones default).
ModelPtr make_model(const std::string& kind, const nlohmann::json& options, const DataShape& shape);

}  // namespace phyflow::ml
