// What the trainer needs of a model (DESIGN.md §8): a torch::nn::Module that computes its
// loss on a Batch (the mean over the batch's samples), predicts per sample, and describes
// itself well enough to be rebuilt from a model file (kind, options, data shape).
#pragma once

#include "phyflow/ml/dataset.hpp"

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <utility>

namespace phyflow::ml {

class Model : public torch::nn::Module {
 public:
  explicit Model(std::string name) : torch::nn::Module(std::move(name)) {}
  /// The deck's model.kind ("energy_gru", "mlp", ...).
  virtual std::string kind() const = 0;
  /// The options it was built with (the deck's model section, defaults filled in).
  virtual nlohmann::json options() const = 0;
  /// The samples it was built for.
  virtual DataShape data_shape() const = 0;

  /// Mean loss over the batch (a 0-dim tensor); gradients flow from it.
  virtual torch::Tensor loss(const Batch& batch) = 0;
  /// One prediction per sample, shape (B, prediction...), comparable with target().
  virtual torch::Tensor predict(const Batch& batch) = 0;
  /// predict() and loss() of one batch, as evaluation needs them (under NoGradGuard). A model
  /// that can take both from one forward pass overrides it; the values must equal the two
  /// calls' (default: the two calls).
  virtual std::pair<torch::Tensor, torch::Tensor> predict_and_loss(const Batch& batch) {
    return {predict(batch), loss(batch)};
  }
  /// What predict() is compared with for metrics (default: the batch's y).
  virtual torch::Tensor target(const Batch& batch) const { return batch.y; }
  /// Name, meaning and units of the prediction in output files (e.g. "energy").
  virtual std::string prediction_name() const = 0;
  virtual std::string prediction_meaning() const = 0;
  virtual std::string prediction_units() const = 0;
};

using ModelPtr = std::shared_ptr<Model>;

}  // namespace phyflow::ml
