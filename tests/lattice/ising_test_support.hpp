// Shared pieces of the Ising tests: gathering a distributed configuration, brute-force sums on
// the host, exact enumeration of tiny lattices, binned error bars. Convention as in the
// library: H = -J sum_<ij> s_i s_j - h sum_i s_i, periodic, C order with x_0 slowest.
#pragma once

#include "phyflow/lattice/ising_observables.hpp"
#include "phyflow/lattice/spin_field.hpp"

#include <mpi.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace phyflow::lattice::testing {

/// The whole configuration (C order over the global extents) on every rank.
inline std::vector<std::int8_t> gather_configuration(const SpinField& field) {
  const CartDecomposition& dec = field.decomposition();
  const int d = dec.dims();
  const std::int64_t block = dec.local_sites();
  std::vector<std::int8_t> mine(block);
  field.copy_interior_to_host(mine.data());
  std::vector<std::int8_t> blocks(block * dec.size());
  MPI_Allgather(mine.data(), static_cast<int>(block), MPI_INT8_T, blocks.data(),
                static_cast<int>(block), MPI_INT8_T, dec.comm());
  std::vector<int> offsets(d * dec.size());
  MPI_Allgather(dec.local_offset().data(), d, MPI_INT, offsets.data(), d, MPI_INT, dec.comm());
  std::vector<std::int8_t> global(dec.global_sites());
  const auto& n = dec.local_extent();
  const auto& G = dec.global_extent();
  for (int r = 0; r < dec.size(); ++r)
    for (std::int64_t i = 0; i < block; ++i) {
      std::int64_t rest = i, g = 0, stride = 1;
      for (int k = d - 1; k >= 0; --k) {
        g += (offsets[r * d + k] + rest % n[k]) * stride;
        rest /= n[k];
        stride *= G[k];
      }
      global[g] = blocks[r * block + i];
    }
  return global;
}

/// Periodic neighbour of site `i` one step `dir` (+1 or -1) along dimension k.
inline std::int64_t neighbour(const std::vector<int>& G, std::int64_t i, int k, int dir) {
  std::int64_t stride = 1;
  for (int j = static_cast<int>(G.size()) - 1; j > k; --j) stride *= G[j];
  const std::int64_t x = (i / stride) % G[k];
  const std::int64_t y = (x + dir + G[k]) % G[k];
  return i + (y - x) * stride;
}

/// Bond sum (bonds towards +1 in every dimension) and magnetisation, by brute force.
inline IsingSums brute_force_sums(const std::vector<std::int8_t>& s, const std::vector<int>& G) {
  IsingSums sums;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(s.size()); ++i) {
    sums.magnetization += s[i];
    for (std::size_t k = 0; k < G.size(); ++k)
      sums.bond_sum += s[i] * s[neighbour(G, i, static_cast<int>(k), +1)];
  }
  return sums;
}

struct ExactMoments {
  double energy = 0;        ///< <H>
  double magnetization = 0; ///< <M>
  double abs_magnetization = 0;
};

/// Exact Boltzmann averages by enumerating all 2^N states (N <= 24).
inline ExactMoments enumerate_exact(const std::vector<int>& G, double J, double h, double beta) {
  std::int64_t n = 1;
  for (int g : G) n *= g;
  std::vector<std::int8_t> s(n);
  // Weights relative to the ground state energy bound keep exp() in range.
  const double shift = -(std::abs(J) * static_cast<double>(G.size()) + std::abs(h)) * n;
  double Z = 0, E = 0, M = 0, absM = 0;
  for (std::int64_t state = 0; state < (std::int64_t{1} << n); ++state) {
    for (std::int64_t i = 0; i < n; ++i) s[i] = (state >> i) & 1 ? 1 : -1;
    const IsingSums sums = brute_force_sums(s, G);
    const double energy = ising_energy(sums, J, h);
    const double w = std::exp(-beta * (energy - shift));
    Z += w;
    E += w * energy;
    M += w * static_cast<double>(sums.magnetization);
    absM += w * std::abs(static_cast<double>(sums.magnetization));
  }
  return ExactMoments{E / Z, M / Z, absM / Z};
}

struct BinnedMean {
  double mean = 0, error = 0;
};

/// Mean and its error from `bins` equal consecutive bins (correlated series).
inline BinnedMean binned_mean(const std::vector<double>& x, int bins = 50) {
  const std::size_t per = x.size() / bins;
  std::vector<double> means(bins, 0.0);
  for (int b = 0; b < bins; ++b) {
    for (std::size_t i = 0; i < per; ++i) means[b] += x[b * per + i];
    means[b] /= static_cast<double>(per);
  }
  double mean = 0;
  for (double m : means) mean += m;
  mean /= bins;
  double var = 0;
  for (double m : means) var += (m - mean) * (m - mean);
  var /= (bins - 1);
  return BinnedMean{mean, std::sqrt(var / bins)};
}

/// FNV-1a hash of a configuration, for compact comparisons.
inline std::uint64_t hash_configuration(const std::vector<std::int8_t>& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::int8_t v : s) {
    h ^= static_cast<std::uint8_t>(v);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace phyflow::lattice::testing
