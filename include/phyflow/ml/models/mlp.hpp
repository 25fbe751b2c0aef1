// A plain multilayer perceptron on the regression layout (/x (N, k) -> /y (N, m)), trained by
// mean squared error: the baseline that structured models are compared with.
#pragma once

#include "phyflow/ml/model.hpp"

#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <vector>

namespace phyflow::ml {

struct MlpOptions {
  int layers = 2;  ///< hidden layers
  int width = 64;
  std::string activation = "tanh";  ///< tanh | relu | silu | softplus
};

/// `layers` hidden layers of `width` units with `activation`, then a linear layer to `out`
/// (the baseline's network, reused by the scalar models); input_error for an unknown activation.
torch::nn::Sequential make_mlp(std::int64_t in, int layers, int width, const std::string& activation,
                               std::int64_t out);

/// Flattened (row-major, a * n + b) indices of the upper triangle a <= b of an n x n matrix,
/// in torch::triu_indices' order: the scalar models' Gram entries by one index_select.
std::vector<std::int64_t> upper_triangle_index(std::int64_t n);

class Mlp : public Model {
 public:
  Mlp(const MlpOptions& options, const DataShape& shape);
  std::string kind() const override { return "mlp"; }
  nlohmann::json options() const override;
  DataShape data_shape() const override { return shape_; }
  torch::Tensor loss(const Batch& batch) override;
  torch::Tensor predict(const Batch& batch) override;
  std::string prediction_name() const override { return "y"; }
  std::string prediction_meaning() const override { return "the model's estimate of /y"; }
  std::string prediction_units() const override { return "as /y"; }

 private:
  MlpOptions o_;
  DataShape shape_;
  torch::nn::Sequential net_{nullptr};
};

}  // namespace phyflow::ml
