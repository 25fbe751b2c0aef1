// Sequential single-spin-flip Metropolis chain, replicated on every rank.
#include "phyflow/lattice/single_flip_chain.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/core/rng.hpp"

#include <string>

namespace phyflow::lattice {

SingleFlipChain::SingleFlipChain(std::vector<int> extent, const IsingCouplings& couplings,
                                 std::uint64_t seed)
    : extent_(std::move(extent)), couplings_(couplings), seed_(seed) {
  const int d = static_cast<int>(extent_.size());
  thresholds_ = metropolis_thresholds(couplings_, d);  // also checks d and the couplings
  stride_.assign(d, 1);
  sites_ = 1;
  for (int k = d - 1; k >= 0; --k) {
    if (extent_[k] < 2)
      throw input_error("lattice.L = " + std::to_string(extent_[k]) + " must be at least 2");
    stride_[k] = sites_;
    sites_ *= extent_[k];
  }
  spins_.assign(static_cast<std::size_t>(sites_), 1);
  recompute_sums();
}

int SingleFlipChain::neighbour_sum(std::int64_t site) const {
  int sum = 0;
  for (std::size_t k = 0; k < extent_.size(); ++k) {
    const std::int64_t x = (site / stride_[k]) % extent_[k];
    const std::int64_t up = x + 1 == extent_[k] ? -x : 1;    // periodic steps in units of
    const std::int64_t down = x == 0 ? extent_[k] - 1 : -1;  // the stride of dimension k
    sum += spins_[site + up * stride_[k]] + spins_[site + down * stride_[k]];
  }
  return sum;
}

bool SingleFlipChain::step(std::uint64_t n) {
  const rng::Words w = rng::Stream(seed_, rng::purpose("single_flip"))(n, 0);
  // Uniform site from 64 random bits by multiply-shift: bias below sites / 2^64.
  const std::uint64_t bits = (static_cast<std::uint64_t>(w.w[0]) << 32) | w.w[1];
  const auto site = static_cast<std::int64_t>(
      (static_cast<unsigned __int128>(bits) * static_cast<std::uint64_t>(sites_)) >> 64);
  const int s = spins_[site];
  const int nsum = neighbour_sum(site);
  const int d = static_cast<int>(extent_.size());
  const int index = (s > 0) * (2 * d + 1) + (nsum + 2 * d) / 2;
  if (!(rng::accept_below(w.w[2], thresholds_.below[index]) || thresholds_.always[index] != 0))
    return false;
  spins_[site] = static_cast<std::int8_t>(-s);
  sums_.bond_sum -= 2 * s * nsum;
  sums_.magnetization -= 2 * s;
  return true;
}

void SingleFlipChain::run(std::uint64_t first, std::uint64_t count) {
  for (std::uint64_t n = first; n < first + count; ++n) step(n);
}

void SingleFlipChain::recompute_sums() {
  sums_ = IsingSums{};
  for (std::int64_t i = 0; i < sites_; ++i) {
    sums_.magnetization += spins_[i];
    // Bonds towards +1 in every dimension: each bond once.
    for (std::size_t k = 0; k < extent_.size(); ++k) {
      const std::int64_t x = (i / stride_[k]) % extent_[k];
      const std::int64_t up = x + 1 == extent_[k] ? -x : 1;
      sums_.bond_sum += spins_[i] * spins_[i + up * stride_[k]];
    }
  }
}

void SingleFlipChain::set_spins(const std::vector<std::int8_t>& spins) {
  if (static_cast<std::int64_t>(spins.size()) != sites_)
    throw input_error("spin configuration has " + std::to_string(spins.size()) +
                      " sites but the lattice has " + std::to_string(sites_));
  for (std::size_t i = 0; i < spins.size(); ++i)
    if (spins[i] != 1 && spins[i] != -1)
      throw input_error("spin configuration holds the value " + std::to_string(spins[i]) +
                        " at site " + std::to_string(i) + "; Ising spins must be +1 or -1");
  spins_ = spins;
  recompute_sums();
}

void SingleFlipChain::fill_random(std::uint64_t init_seed) {
  const rng::Stream stream(init_seed, rng::purpose("init"));
  for (std::int64_t i = 0; i < sites_; ++i) {
    const auto site = static_cast<std::uint64_t>(i);
    spins_[i] = (stream(site / 4, 0).w[site % 4] >> 31) ? 1 : -1;
  }
  recompute_sums();
}

void SingleFlipChain::fill_cold(int value) {
  if (value != 1 && value != -1)
    throw runtime_error("SingleFlipChain::fill_cold: spin value must be +1 or -1");
  spins_.assign(static_cast<std::size_t>(sites_), static_cast<std::int8_t>(value));
  recompute_sums();
}

void SingleFlipChain::copy_block(const CartDecomposition& dec, std::int8_t* block) const {
  if (dec.global_extent() != extent_)
    throw runtime_error("SingleFlipChain::copy_block: decomposition of a different lattice");
  const int d = dec.dims();
  const auto& n = dec.local_extent();
  const auto& o = dec.local_offset();
  const std::int64_t count = dec.local_sites();
  for (std::int64_t i = 0; i < count; ++i) {
    std::int64_t rest = i, global = 0;
    for (int k = d - 1; k >= 0; --k) {
      global += (o[k] + rest % n[k]) * stride_[k];
      rest /= n[k];
    }
    block[i] = spins_[global];
  }
}

}  // namespace phyflow::lattice
