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
  for (const auto& child : net_->children())
    if (auto linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(child))
      linears_.emplace_back(linear);
  // The written-out dH/dz (hamiltonian_field) needs act' of the activation.
  if (o_.hamiltonian) {
    const std::pair<const char*, Activation> known[] = {
        {"tanh", Activation::tanh}, {"softplus", Activation::softplus},
        {"silu", Activation::silu}, {"relu", Activation::relu}};
    bool found = false;
    for (const auto& [name, a] : known)
      if (o_.activation == name) activation_ = a, found = true;
    if (!found)
      throw input_error("model 'hnn': model.activation '" + o_.activation +
                        "' has no derivative in the Hamiltonian field; use tanh, softplus, silu or relu");
  }
  const auto upper = upper_triangle_index(n_vectors);
  int at[n_vectors][n_vectors];  // (i, j) -> its position among the 15 Gram scalars
  for (std::size_t k = 0; k < upper.size(); ++k) {
    const auto i = upper[k] / n_vectors, j = upper[k] % n_vectors;
    at[i][j] = at[j][i] = int(k);
  }
  upper_ = torch::tensor(upper, torch::kInt64);
  // J dH/dz as a linear map of q = (dH/ds_0..14, dH/d|x1| / |x1|, dH/d|x1-x2| / |x1-x2|):
  // dH/dv_k = sum_j C_kj v_j with C_kj = dH/ds_(kj) for k != j, 2 dH/ds_(kk) on the diagonal,
  // plus the norms' terms (d|x1|/dx1 = x1/|x1|, d|x1-x2|/dx1 = -d|x1-x2|/dx2 = (x1-x2)/|x1-x2|).
  // The field's rows are (dx1, dx2, dp1, dp2)/dt = (dH/dp1, dH/dp2, -dH/dx1, -dH/dx2).
  auto m = torch::zeros({n_scalars, 4 * n_vectors}, torch::kFloat64);
  auto c = m.accessor<double, 2>();
  const int row_of[4] = {2, 3, 0, 1};          // the vector whose gradient each row is
  const double sign_of[4] = {1, 1, -1, -1};
  for (int r = 0; r < 4; ++r) {
    const int k = row_of[r];
    const double sgn = sign_of[r];
    for (int j = 0; j < n_vectors; ++j) c[at[k][j]][r * n_vectors + j] += sgn * (k == j ? 2.0 : 1.0);
    if (k == 0) {
      c[15][r * n_vectors + 0] += sgn;                                   // x1 / |x1|
      c[16][r * n_vectors + 0] += sgn, c[16][r * n_vectors + 1] -= sgn;  // (x1 - x2) / |x1 - x2|
    } else if (k == 1) {
      c[16][r * n_vectors + 0] -= sgn, c[16][r * n_vectors + 1] += sgn;
    }
  }
  to_field_ = m;
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
  return scalars_of(vectors(z), z);
}

torch::Tensor PendulumModel::scalars_of(const torch::Tensor& v, const torch::Tensor& z) const {
  const auto b = z.size(0);
  // the Gram matrix's upper triangle by one index_select (an advanced index with two index
  // tensors costs more, backward included)
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
  return hamiltonian_field(z);
}

// dH/dz written out. With a_l = W_l h_(l-1) + b_l, h_l = act(a_l), h_(-1) = s and H = W_L h_(L-1) + b_L:
//   dH/da_(L-1) = W_L act'(a_(L-1)),  dH/da_(l-1) = (dH/da_l W_l) act'(a_(l-1)),  dH/ds = dH/da_0 W_0,
// then through s(z) by the constant map to_field_ (constructor). Every step is a tensor
// operation, so while grad mode is on the result is differentiable in the weights with one
// ordinary backward pass: the same numbers as autograd's dH/dz with create_graph, without the
// double backward (a training step evaluates the field 4 x substeps x steps times). The
// tests compare it with autograd's dH/dz and with finite differences of H.
torch::Tensor PendulumModel::hamiltonian_field(const torch::Tensor& z) {
  const auto b = z.size(0);
  const auto v = vectors(z);
  const auto s = scalars_of(v, z);
  const auto hidden = linears_.size() - 1;
  std::vector<torch::Tensor> slope(hidden);  // act'(a_l)
  auto h = s;
  for (std::size_t l = 0; l < hidden; ++l) {
    const auto a = torch::linear(h, linears_[l]->weight, linears_[l]->bias);
    switch (activation_) {
      case Activation::tanh:
        h = torch::tanh(a);
        slope[l] = 1 - h * h;
        break;
      case Activation::softplus:  // log(1 + e^a); the module's linear branch above a = 20,
        h = torch::softplus(a);   // where sigmoid(a) = 1 to 2e-9
        slope[l] = torch::sigmoid(a);
        break;
      case Activation::silu: {
        const auto sg = torch::sigmoid(a);
        h = torch::silu(a);
        slope[l] = sg * (1 + a * (1 - sg));
        break;
      }
      case Activation::relu:
        h = torch::relu(a);
        slope[l] = (a > 0).to(a.scalar_type());
        break;
    }
  }
  const auto& w_out = linears_.back()->weight;  // (1, width)
  torch::Tensor d;                              // dH/da_l, then dH/ds (B, 17)
  if (hidden == 0) {
    d = w_out.expand({b, n_scalars});
  } else {
    d = slope[hidden - 1] * w_out;
    for (std::size_t l = hidden - 1; l > 0; --l) d = torch::mm(d, linears_[l]->weight) * slope[l - 1];
    d = torch::mm(d, linears_[0]->weight);
  }
  if (to_field_.scalar_type() != z.scalar_type() || to_field_.device() != z.device())
    to_field_ = to_field_.to(z.options());
  const auto q = torch::cat({d.narrow(1, 0, 15), d.narrow(1, 15, 2) / s.narrow(1, 15, 2)}, 1);
  return torch::matmul(torch::mm(q, to_field_).view({b, 4, n_vectors}), v).reshape({b, state});
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
