// Batched phi^4 action (action.hpp).
#include "phyflow/flows/action.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "phyflow/core/error.hpp"
#include "phyflow/flows/prior.hpp"
#include "phyflow/lattice/exact_ising.hpp"

namespace phyflow::flows {

std::int64_t LatticeShape::volume() const { return std::int64_t(lattice::phi4_volume(dims, L)); }

std::vector<std::int64_t> LatticeShape::sites() const {
  return std::vector<std::int64_t>(std::size_t(dims), L);
}

std::vector<std::int64_t> LatticeShape::batch(std::int64_t n) const {
  auto s = sites();
  s.insert(s.begin(), n);
  return s;
}

namespace {
// The action on the host as one autograd node: the lattice module's serial definition
// (lattice::phi4_action and its gradient, site sums in double) per configuration, in place of
// ~4 d + 6 LibTorch ops forward and their backward nodes (a fixed cost per training step on
// the tutorial's small lattices).
class Phi4ActionFunction : public torch::autograd::Function<Phi4ActionFunction> {
 public:
  static torch::Tensor compute(const torch::Tensor& phi, int dims,
                               const lattice::Phi4Couplings& c) {
    const auto p = phi.contiguous();
    const std::int64_t B = p.size(0),
                       V = p.numel() / B;  // B > 0: phi4_action sends empty batches to the ops
    auto S = torch::empty({B}, p.options());
    AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "phi4_action", [&] {
      for (std::int64_t b = 0; b < B; ++b)
        S.data_ptr<scalar_t>()[b] =
            scalar_t(lattice::phi4_action(p.data_ptr<scalar_t>() + b * V, dims, int(p.size(1)), c));
    });
    return S;
  }
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& phi,
                               int dims, double m2, double lambda) {
    ctx->save_for_backward({phi});
    ctx->saved_data["dims"] = std::int64_t(dims);
    ctx->saved_data["m2"] = m2;
    ctx->saved_data["lambda"] = lambda;
    return compute(phi, dims, {m2, lambda});
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto p = ctx->get_saved_variables()[0].contiguous();
    const int dims = int(ctx->saved_data["dims"].toInt());
    const lattice::Phi4Couplings c{ctx->saved_data["m2"].toDouble(),
                                   ctx->saved_data["lambda"].toDouble()};
    const auto g = grads[0].contiguous();
    const std::int64_t B = p.size(0),
                       V = p.numel() / B;  // B > 0: phi4_action sends empty batches to the ops
    auto dphi = torch::empty_like(p);
    AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "phi4_action_backward", [&] {
      for (std::int64_t b = 0; b < B; ++b)  // dS_b/dphi scaled by the gradient of S_b
        lattice::phi4_action_gradient(p.data_ptr<scalar_t>() + b * V, dims, int(p.size(1)), c,
                                      dphi.data_ptr<scalar_t>() + b * V,
                                      double(g.data_ptr<scalar_t>()[b]));
    });
    return {dphi, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};
}  // namespace

torch::Tensor phi4_action(const torch::Tensor& phi, int dims, const lattice::Phi4Couplings& c) {
  if (phi.dim() != dims + 1)
    throw runtime_error("phi4_action: fields of shape " + c10::str(phi.sizes()) +
                        " are not (B, L^" + std::to_string(dims) + ")");
  const auto type = phi.scalar_type();
  if (phi.device().is_cpu() && (type == torch::kFloat32 || type == torch::kFloat64) &&
      phi.numel() > 0) {
    if (!torch::GradMode::is_enabled() || !phi.requires_grad())
      return Phi4ActionFunction::compute(phi, dims, c);
    return Phi4ActionFunction::apply(phi, dims, c.m2, c.lambda);
  }
  const auto phi2 = phi * phi;
  auto density = (2.0 * dims + c.m2) * phi2;
  for (int mu = 1; mu <= dims; ++mu) density = density - 2.0 * phi * torch::roll(phi, {-1}, {mu});
  if (c.lambda != 0.0) density = density + c.lambda * phi2 * phi2;
  return density.flatten(1).sum(1);
}

}  // namespace phyflow::flows

namespace phyflow::flows {

namespace {
std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.10g", v);
  return b;
}
}  // namespace

Phi4Target::Phi4Target(LatticeShape shape, lattice::Phi4Couplings couplings)
    : Target(shape), couplings_(couplings) {}

std::string Phi4Target::describe() const {
  return kind() + " d = " + std::to_string(shape_.dims) + ", L = " + std::to_string(shape_.L) +
         ", m2 = " + fmt(couplings_.m2) + ", lambda = " + fmt(couplings_.lambda);
}

torch::Tensor Phi4Target::action(const torch::Tensor& x) const {
  return phi4_action(x, shape_.dims, couplings_);
}

torch::Tensor lattice_adjacency(const LatticeShape& shape) {
  const std::int64_t V = shape.volume(), L = shape.L;
  auto A = torch::zeros({V, V}, torch::kFloat64);
  auto a = A.accessor<double, 2>();
  for (std::int64_t i = 0; i < V; ++i) {
    std::int64_t stride = 1;
    for (int mu = shape.dims - 1; mu >= 0; --mu, stride *= L) {
      const std::int64_t c = (i / stride) % L;
      const std::int64_t j = i + ((c + 1) % L - c) * stride;  // x + mu
      a[i][j] += 1.0;
      a[j][i] += 1.0;
    }
  }
  return A;
}

IsingHsTarget::IsingHsTarget(LatticeShape shape, double T) : Target(shape), T_(T) {
  if (!(T > 0.0)) throw runtime_error("ising_hs: the temperature must be > 0, got " + fmt(T));
  const std::int64_t V = shape.volume();
  const int L = shape.L, d = shape.dims;
  const double two_pi = 6.283185307179586476925286766559;
  // Eigenvalues of A: sum_mu 2 cos(2 pi k_mu / L); the smallest is d times the smallest term.
  double min_term = 2.0;
  for (int k = 0; k < L; ++k) min_term = std::min(min_term, 2.0 * std::cos(two_pi * k / L));
  const double c = 0.1 - double(d) * min_term / T;
  double log_det = 0.0;  // log det K = sum_k log(lambda_k / T + c)
  for (std::int64_t k = 0; k < V; ++k) {
    double lam = 0.0;
    for (std::int64_t r = k, mu = 0; mu < d; ++mu, r /= L)
      lam += 2.0 * std::cos(two_pi * double(r % L) / L);
    log_det += std::log(lam / T + c);
  }
  log_z_offset_ = double(V) * c / 2.0 + 0.5 * log_det + double(V) / 2.0 * std::log(two_pi) -
                  double(V) * std::log(2.0);
  const auto K = lattice_adjacency(shape) / T + c * torch::eye(V, torch::kFloat64);
  k_ = K;
  k_inverse_ = torch::inverse(K);
  k_cholesky_ = torch::linalg_cholesky(K);
}

torch::Tensor IsingHsTarget::field_from_spins(const torch::Tensor& spins, std::uint64_t seed,
                                              std::uint32_t purpose) const {
  const auto want = shape_.batch(spins.size(0));
  if (spins.sizes() != c10::IntArrayRef(want))
    throw runtime_error("field_from_spins: spins of shape " + c10::str(spins.sizes()) +
                        " are not (N, L^" + std::to_string(shape_.dims) + ")");
  const std::int64_t N = spins.size(0);
  const auto s = spins.to(torch::kFloat64).reshape({N, -1});
  const auto xi = normal_noise(shape_, 0, N, seed, purpose, 0).reshape({N, -1});
  return (s.matmul(k_) + xi.matmul(k_cholesky_.t())).reshape(want);
}

std::string IsingHsTarget::describe() const {
  return "ising_hs d = " + std::to_string(shape_.dims) + ", L = " + std::to_string(shape_.L) +
         ", T = " + fmt(T_);
}

torch::Tensor IsingHsTarget::action(const torch::Tensor& x) const {
  const auto xf = x.flatten(1);
  // K^-1 in x's dtype and on its device: converted once, not on every call (V^2 numbers).
  if (!k_inverse_cast_.defined() || k_inverse_cast_.device() != xf.device() ||
      k_inverse_cast_.scalar_type() != xf.scalar_type())
    k_inverse_cast_ = k_inverse_.to(xf.options());
  const auto& k_inv = k_inverse_cast_;
  const auto quad = 0.5 * (xf.matmul(k_inv) * xf).sum(1);
  const auto ax = xf.abs();
  // log cosh x = |x| + log(1 + e^{-2|x|}) - log 2, stable for large |x|.
  const auto log_cosh = ax + torch::log1p(torch::exp(-2.0 * ax)) - std::log(2.0);
  return quad - log_cosh.sum(1);
}

torch::Tensor IsingHsTarget::ising_energy_per_site(const torch::Tensor& x) const {
  if (x.dim() != shape_.dims + 1)
    throw runtime_error("ising_energy_per_site: fields of shape " + c10::str(x.sizes()) +
                        " are not (B, L^" + std::to_string(shape_.dims) + ")");
  const auto t = torch::tanh(x.to(torch::kFloat64));
  auto bonds = torch::zeros_like(t);
  for (int mu = 1; mu <= shape_.dims; ++mu) bonds = bonds + t * torch::roll(t, {-1}, {mu});
  return -bonds.flatten(1).sum(1) / double(shape_.volume());
}

double IsingHsTarget::exact_loss_bound() const {
  if (shape_.dims != 2) throw runtime_error("ising_hs: exact values exist for d = 2 only");
  return -(lattice::ising2d_exact_log_z(shape_.L, shape_.L, 1.0 / T_) + log_z_offset_);
}

double IsingHsTarget::exact_energy_per_site() const {
  if (shape_.dims != 2) throw runtime_error("ising_hs: exact values exist for d = 2 only");
  return lattice::ising2d_exact_energy_per_site(shape_.L, shape_.L, 1.0 / T_);
}

}  // namespace phyflow::flows
