// The seed project's sequential single-spin-flip Metropolis chain (REFERENCES.md, "Ising energy
// language models"): step n picks a uniformly random site from Philox(seed, "single_flip") at
// counter (n, 0) and flips it with probability min(1, exp(-beta dE)). Every attempted flip is
// one step. Inherently serial: every rank holds the whole (small) lattice and runs the identical
// chain without communication, keeping the exact bond sum and magnetisation incrementally.
// Convention as in ising_updates.hpp: H = -J sum_<ij> s_i s_j - h sum_i s_i, periodic, C order.
#pragma once

#include "phyflow/lattice/cart_decomposition.hpp"
#include "phyflow/lattice/ising_observables.hpp"
#include "phyflow/lattice/ising_updates.hpp"

#include <cstdint>
#include <vector>

namespace phyflow::lattice {

class SingleFlipChain {
 public:
  /// Lattice of the given extents (1 to 3 dimensions, each >= 2), all spins +1.
  SingleFlipChain(std::vector<int> extent, const IsingCouplings& couplings, std::uint64_t seed);

  /// Attempted flip number n; returns whether it was accepted. Steps are pure functions of
  /// (seed, n) and the configuration, so a restart continues the chain exactly.
  bool step(std::uint64_t n);
  /// Steps first, first + 1, ..., first + count - 1.
  void run(std::uint64_t first, std::uint64_t count);

  /// Exact sums of the current configuration (kept incrementally).
  IsingSums sums() const { return sums_; }
  /// The whole configuration in C order over extent().
  const std::vector<std::int8_t>& spins() const { return spins_; }
  const std::vector<int>& extent() const { return extent_; }

  /// Replaces the configuration (values must be +1 or -1) and recomputes the sums.
  void set_spins(const std::vector<std::int8_t>& spins);
  /// The same hot start as SpinField::fill_random(seed).
  void fill_random(std::uint64_t init_seed);
  void fill_cold(int value = +1);

  /// This rank's block of `decomposition` (same global extents) in C order, for output.
  void copy_block(const CartDecomposition& decomposition, std::int8_t* block) const;

 private:
  int neighbour_sum(std::int64_t site) const;
  void recompute_sums();

  std::vector<int> extent_;
  std::vector<std::int64_t> stride_;
  std::int64_t sites_ = 0;
  IsingCouplings couplings_;
  IsingThresholds thresholds_;
  std::uint64_t seed_;
  std::vector<std::int8_t> spins_;
  IsingSums sums_;
};

}  // namespace phyflow::lattice
