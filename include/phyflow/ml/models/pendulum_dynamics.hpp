// Learned dynamics of the double spring pendulum from scalars (Yao, Villar et al., "A simple
// equivariant machine learning method for dynamics based on scalars", NeurIPS 2021 ML4PS):
//   hnn         H = MLP(s(z)); dz/dt = (dH/dp, -dH/dx) (a Hamiltonian network; dH/dz by the
//               chain rule written out as tensor operations, so the weights' gradients need one
//               backward pass, not autograd's double backward)
//   neural_ode  dz/dt = sum_j c_kj(s(z)) v_j for each output vector k (an equivariant Neural ODE)
// where v = (x1, x2, p1, p2, g), g = e_z the gravity direction, and s(z) the inner products
// <v_i, v_j> plus |x1| and |x1 - x2|: invariant under rotations and reflections of space that
// fix g. Trained on chunks of workflow: dataset kind pendulum (x = z(t0), y = z(t0 + k dt))
// through classical RK4 (model.substeps steps per dt); the loss is the MSE of the states.
#pragma once

#include "phyflow/ml/models/mlp.hpp"

#include <torch/nn/modules/linear.h>

namespace phyflow::ml {

struct PendulumModelOptions {
  bool hamiltonian = true;  ///< hnn; false: neural_ode
  int layers = 2;
  int width = 64;
  std::string activation = "tanh";
  double dt = 0.2;   ///< spacing of the states in /y (the data set's pendulum.dt)
  int substeps = 4;  ///< RK4 steps per dt
};

class PendulumModel : public Model {
 public:
  PendulumModel(const PendulumModelOptions& options, const DataShape& shape);
  std::string kind() const override { return o_.hamiltonian ? "hnn" : "neural_ode"; }
  nlohmann::json options() const override;
  DataShape data_shape() const override { return shape_; }
  torch::Tensor loss(const Batch& batch) override;
  /// The states z(t0 + k dt), k = 1..y columns / 12, from x = z(t0): (B, steps x 12).
  torch::Tensor predict(const Batch& batch) override;
  std::string prediction_name() const override { return "y"; }
  std::string prediction_meaning() const override {
    return "pendulum states z(t0 + k dt) integrated (RK4) from /x with the learned " +
           std::string(o_.hamiltonian ? "Hamiltonian" : "vector field");
  }
  std::string prediction_units() const override { return "as /y"; }

  /// The invariant features s(z) of states (B, 12).
  torch::Tensor scalars(const torch::Tensor& z) const;
  /// hnn: the learned H (B).
  torch::Tensor hamiltonian(const torch::Tensor& z);
  /// dz/dt (B, 12); differentiable w.r.t. the weights while grad mode is on.
  torch::Tensor field(const torch::Tensor& z);
  /// `steps` states after z0 at spacing dt: (B, steps, 12).
  torch::Tensor rollout(const torch::Tensor& z0, std::int64_t steps);

 private:
  PendulumModelOptions o_;
  DataShape shape_;
  torch::nn::Sequential net_{nullptr};
  enum class Activation { tanh, softplus, silu, relu };
  Activation activation_ = Activation::tanh;  ///< hnn: o_.activation, resolved once
  std::vector<std::shared_ptr<torch::nn::LinearImpl>> linears_;  ///< net_'s linear layers, in order
  /// (B, 5, 3): x1, x2, p1, p2 and the unit vector g along z.
  torch::Tensor vectors(const torch::Tensor& z) const;
  /// s(z) from v = vectors(z): the 15 Gram entries and the 2 norms (B, 17).
  torch::Tensor scalars_of(const torch::Tensor& v, const torch::Tensor& z) const;
  /// hnn: J dH/dz (B, 12) by the chain rule through net_ and s(z) (see the .cpp).
  torch::Tensor hamiltonian_field(const torch::Tensor& z);
  // Constants of scalars(), made once (it runs 4 x substeps x steps times per batch): the
  // flattened indices of the Gram matrix's upper triangle, and the unit vector g as (1, 1, 3)
  // in the dtype and device of the last call (both moved to the input's device once).
  mutable torch::Tensor upper_;
  mutable torch::Tensor g_;
  /// (17, 20): dH/ds -> the coefficients (4 x 5) of J dH/dz on the vectors v (see the .cpp);
  /// kept in the dtype and device of the last call.
  torch::Tensor to_field_;
};

}  // namespace phyflow::ml
