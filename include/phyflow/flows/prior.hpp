// Priors (base distributions) of the flows, sampled from Philox streams keyed by global sample
// index: draw `step` of the configurations first..first+n-1 under (seed, purpose) is the same
// whichever rank draws it and with whatever neighbours in its batch (DESIGN.md §4), so a batch
// split over ranks is a pure function of (seed, step). The noise is always drawn on the host
// and moved to the flow's device, so a GPU run consumes the same random numbers as a CPU run.
//   normal:     z_x ~ N(0, 1) independently;
//   free_field: the Gaussian exp(-S_free) of the AKS action with lambda = 0 and mass m2 > 0,
//               sampled exactly in momentum space: covariance (2 A)^-1 with
//               A_k = khat^2 + m2, khat^2 = sum_mu 4 sin^2(pi q_mu / L).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "phyflow/flows/action.hpp"

namespace phyflow::flows {

/// n configurations (n, L, ..., L) of independent N(0, 1) float64 numbers: configuration
/// first + i uses Philox counters ((first + i) * ceil(V/2) + pair, step) under (seed, purpose),
/// one Box-Muller pair per two sites.
torch::Tensor normal_noise(const LatticeShape& shape, std::int64_t first, std::int64_t n,
                           std::uint64_t seed, std::uint32_t purpose, std::uint64_t step);

class Prior {
 public:
  virtual ~Prior() = default;
  virtual std::string kind() const = 0;
  /// Configurations first..first+n-1 of draw `step` (n, L, ..., L) in `dtype` on `device`.
  virtual torch::Tensor sample(std::int64_t first, std::int64_t n, std::uint64_t seed,
                               std::uint32_t purpose, std::uint64_t step, torch::ScalarType dtype,
                               const torch::Device& device) const = 0;
  /// Normalised log density of each configuration (B), on z's device.
  virtual torch::Tensor log_prob(const torch::Tensor& z) const = 0;
};

/// kind "normal" or "free_field" (m2 > 0: the free field's mass); input_error otherwise.
std::shared_ptr<Prior> make_prior(const std::string& kind, const LatticeShape& shape, double m2);

}  // namespace phyflow::flows
