// Scalar-based equivariant networks (Villar, Hogg, Storey-Fisher, Yao, Blum-Smith, NeurIPS 2021,
// "Scalars are universal"): an invariant function of vectors v_1..v_n is a function of their
// inner products <v_i, v_j> (Euclidean, or Minkowski with eta = diag(1,-1,-1,-1)), and an
// equivariant tensor output is a scalar-weighted sum of outer products of the inputs.
// On the data of workflow: dataset (the file's dataset_kind says how /x groups into vectors):
//   o5       y = MLP(<x_a, x_b>, a <= b)                              (O(5)-invariant)
//   lorentz  y = MLP(<p_a, p_b>_eta, a <= b)                          (Lorentz-invariant)
//   inertia  T = sym( sum_ij f_ij r_i r_j^T + f_0 I ),  y = T row-major (O(3)-equivariant), with
//            f = MLP(m_1..m_5, <r_i, r_j>), or with permutation_invariant one MLP shared by all
//            pairs, (f_ij, g_ij) = MLP(m_i, m_j, <r_i,r_i>, <r_j,r_j>, <r_i,r_j>, [i = j]), f_0 = sum g_ij.
#pragma once

#include "phyflow/ml/models/mlp.hpp"

#include <torch/nn/modules/container/sequential.h>

namespace phyflow::ml {

struct ScalarMlpOptions {
  int layers = 2;                     ///< hidden layers
  int width = 64;                     ///< units per hidden layer
  std::string activation = "tanh";    ///< tanh | relu | silu | softplus
  std::string metric = "auto";        ///< euclidean | minkowski | auto (the data kind's)
  bool permutation_invariant = false; ///< inertia: one MLP shared by the pairs of particles
};

class ScalarMlp : public Model {
 public:
  ScalarMlp(const ScalarMlpOptions& options, const DataShape& shape);
  std::string kind() const override { return "scalar_mlp"; }
  nlohmann::json options() const override;
  DataShape data_shape() const override { return shape_; }
  torch::Tensor loss(const Batch& batch) override;
  torch::Tensor predict(const Batch& batch) override;
  std::string prediction_name() const override { return "y"; }
  std::string prediction_meaning() const override {
    return "the scalar model's estimate of /y (" + shape_.kind + ")";
  }
  std::string prediction_units() const override { return "as /y"; }

  /// The invariant features of a batch of /x rows: (B, features), for tests.
  torch::Tensor scalars(const torch::Tensor& x) const;

 private:
  ScalarMlpOptions o_;
  DataShape shape_;
  bool minkowski_ = false;
  int vectors_ = 0, dim_ = 0;
  torch::nn::Sequential net_{nullptr};
  // Constants of every forward pass, made once: the flattened indices of the Gram matrix's
  // upper triangle (one index_select; an advanced index with two index tensors costs more,
  // backward included) and the metric's diagonal, in the dtype and device of the last call.
  mutable torch::Tensor upper_, eta_;
  /// (B, n, d) vectors -> (B, n, n) Gram matrix under the model's metric.
  torch::Tensor gram(const torch::Tensor& v, bool minkowski) const;
  /// The upper triangle (a <= b) of (B, n, n) as (B, n(n+1)/2), row-major.
  torch::Tensor upper(const torch::Tensor& g) const;
};

}  // namespace phyflow::ml
