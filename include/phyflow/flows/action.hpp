// Lattice actions as batched, differentiable LibTorch functions: the targets of the flows.
// phi4: the Albergo-Kanwar-Shanahan action (arXiv:1904.12072 eq. 20, lattice/phi4_action.hpp),
//   S = sum_x [ (2d + m2) phi_x^2 - 2 sum_mu phi_x phi_{x+mu} + lambda phi_x^4 ],
// for fields of shape (B, L, ..., L) (d lattice axes after the batch axis, periodic); the free
// field is lambda = 0. Returns S per configuration, shape (B).
#pragma once

#include <torch/types.h>

#include "phyflow/lattice/phi4_action.hpp"

namespace phyflow::flows {

/// The lattice a flow acts on: d periodic axes of L sites.
struct LatticeShape {
  int dims = 2;
  int L = 8;
  std::int64_t volume() const;
  /// {L, ..., L} (d entries), and with a leading batch size.
  std::vector<std::int64_t> sites() const;
  std::vector<std::int64_t> batch(std::int64_t n) const;
};

/// S_AKS of each configuration of `phi` (B, L, ..., L); differentiable.
torch::Tensor phi4_action(const torch::Tensor& phi, int dims, const lattice::Phi4Couplings& c);

}  // namespace phyflow::flows
