// Hamiltonian network and Neural ODE of the double spring pendulum (pendulum_dynamics.hpp).
#include "phyflow/ml/models/pendulum_dynamics.hpp"

#include "phyflow/core/error.hpp"

#include <torch/torch.h>

namespace phyflow::ml {

namespace {
constexpr int state = 12;
constexpr int n_vectors = 5;                     // x1, x2, p1, p2, g
constexpr int n_scalars = 15 + 2;                // Gram upper triangle + |x1|, |x1 - x2|
}  // namespace

PendulumModel::PendulumModel(const PendulumModelOptions& options, const DataShape& shape)
    : Model(options.hamiltonian ? "Hnn" : "NeuralOde"), o_(options), shape_(shape) {
  const std::string what = "model '" + kind() + "'";
  if (shape.layout != DataLayout::regression || shape.x.size() != 1 || shape.y.size() != 1 ||
      shape.kind != "pendulum")
    throw input_error(what + " trains on double spring pendulum chunks written by workflow: "
                      "dataset with kind pendulum; this data is " + shape.text());
  if (shape.x[0] != state || shape.y[0] % state != 0 || shape.y[0] == 0)
    throw input_error(what + ": pendulum data has /x (N, 12) and /y (N, steps x 12); this file has " +
                      shape.text() + " -- regenerate it with workflow: dataset");
  if (!(o_.dt > 0) || o_.substeps < 1)
    throw input_error("model.dt must be > 0 and model.substeps >= 1");
  net_ = make_mlp(n_scalars, o_.layers, o_.width, o_.activation, o_.hamiltonian ? 1 : 4 * n_vectors);
  register_module("net", net_);
  std::vector<std::int64_t> upper;  // row-major upper triangle, as torch::triu_indices
  for (int i = 0; i < n_vectors; ++i)
    for (int j = i; j < n_vectors; ++j) upper.push_back(i * n_vectors + j);
  upper_ = torch::tensor(upper, torch::kInt64);
}

nlohmann::json PendulumModel::options() const {
  return {{"layers", o_.layers}, {"width", o_.width}, {"activation", o_.activation},
          {"dt", o_.dt},         {"substeps", o_.substeps}};
}

torch::Tensor PendulumModel::vectors(const torch::Tensor& z) const {
  const auto b = z.size(0);
  if (!g_.defined() || g_.scalar_type() != z.scalar_type() || g_.device() != z.device())
    g_ = torch::tensor({0.0, 0.0, 1.0}, torch::kFloat64).to(z.options()).view({1, 1, 3});
  return torch::cat({z.view({b, 4, 3}), g_.expand({b, 1, 3})}, 1);
}

torch::Tensor PendulumModel::scalars(const torch::Tensor& z) const {
  const auto b = z.size(0);
  // the Gram matrix's upper triangle by one index_select (an advanced index with two index
  // tensors costs more, backward included)
  const auto v = vectors(z);
  const auto gram = torch::matmul(v, v.transpose(1, 2)).reshape({b, n_vectors * n_vectors});
  const auto x1 = z.narrow(1, 0, 3), x2 = z.narrow(1, 3, 3);
  if (upper_.device() != z.device()) upper_ = upper_.to(z.device());  // moved once
  return torch::cat({gram.index_select(1, upper_), x1.norm(2, 1, true),
                     (x1 - x2).norm(2, 1, true)},
                    1);
}

torch::Tensor PendulumModel::hamiltonian(const torch::Tensor& z) {
  return net_->forward(scalars(z)).squeeze(1);
}

torch::Tensor PendulumModel::field(const torch::Tensor& z) {
  if (!o_.hamiltonian) {
    const auto b = z.size(0);
    const auto c = net_->forward(scalars(z)).view({b, 4, n_vectors});
    return torch::matmul(c, vectors(z)).reshape({b, state});  // (B, 4, 3): dx1, dx2, dp1, dp2
  }
  // The weights' gradients need the graph of dH/dz (create_graph) only while training; in
  // evaluation (grad mode off) autograd is switched on just for dH/dz and the result detached.
  const bool training = torch::GradMode::is_enabled();
  torch::AutoGradMode on(true);
  auto zz = z.requires_grad() ? z : z.detach().requires_grad_(true);
  const auto h = hamiltonian(zz).sum();
  auto g = torch::autograd::grad({h}, {zz}, {}, /*retain_graph=*/true, /*create_graph=*/training)[0];
  auto f = torch::cat({g.narrow(1, 6, 6), -g.narrow(1, 0, 6)}, 1);
  return training ? f : f.detach();
}

torch::Tensor PendulumModel::rollout(const torch::Tensor& z0, std::int64_t steps) {
  const double h = o_.dt / o_.substeps;
  std::vector<torch::Tensor> out;
  auto z = z0;
  for (std::int64_t k = 0; k < steps; ++k) {
    for (int s = 0; s < o_.substeps; ++s) {
      const auto k1 = field(z);
      const auto k2 = field(z + 0.5 * h * k1);
      const auto k3 = field(z + 0.5 * h * k2);
      const auto k4 = field(z + h * k3);
      z = z + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
    }
    out.push_back(z);
  }
  return torch::stack(out, 1);
}

torch::Tensor PendulumModel::predict(const Batch& batch) {
  const auto dtype = net_->parameters().front().scalar_type();
  const auto x = batch.x.to(dtype);
  const std::int64_t steps = batch.y.defined() && batch.y.dim() == 2 ? batch.y.size(1) / state
                                                                      : shape_.y[0] / state;
  return rollout(x, steps).reshape({x.size(0), steps * state});
}

torch::Tensor PendulumModel::loss(const Batch& batch) {
  const auto p = predict(batch);
  return torch::mse_loss(p, batch.y.to(p.scalar_type()));
}

}  // namespace phyflow::ml
