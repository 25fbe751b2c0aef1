// Batched phi^4 action (action.hpp).
#include "phyflow/flows/action.hpp"

#include <torch/torch.h>

#include "phyflow/core/error.hpp"

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

torch::Tensor phi4_action(const torch::Tensor& phi, int dims, const lattice::Phi4Couplings& c) {
  if (phi.dim() != dims + 1)
    throw runtime_error("phi4_action: fields of shape " + c10::str(phi.sizes()) +
                        " are not (B, L^" + std::to_string(dims) + ")");
  const auto phi2 = phi * phi;
  auto density = (2.0 * dims + c.m2) * phi2;
  for (int mu = 1; mu <= dims; ++mu) density = density - 2.0 * phi * torch::roll(phi, {-1}, {mu});
  if (c.lambda != 0.0) density = density + c.lambda * phi2 * phi2;
  return density.reshape({phi.size(0), -1}).sum(1);
}

}  // namespace phyflow::flows
