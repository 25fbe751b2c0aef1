// Ising kernels against simple host code: exact bond sums of known and random configurations,
// hot starts and checkerboard sweeps bit for bit equal to a serial natural-order reference and
// to a one-rank run, on any rank count (ctest: 1, 2, 4).
#include "ising_test_support.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/core/rng.hpp"
#include "phyflow/lattice/ising_observables.hpp"
#include "phyflow/core/host_simd.hpp"
#include "phyflow/lattice/ising_updates.hpp"
#include "phyflow/lattice/philox_block.hpp"
#include "phyflow/lattice/spin_field.hpp"

#include <gtest/gtest.h>
#include <mpi.h>

#include <string>
#include <vector>

namespace {

using namespace phyflow::lattice;
using phyflow::SimdLevel;
using phyflow::cap_simd_level;
using phyflow::detected_simd_level;
using phyflow::simd_level_name;
using phyflow::lattice::testing::brute_force_sums;
using phyflow::lattice::testing::gather_configuration;
using phyflow::lattice::testing::hash_configuration;
using phyflow::lattice::testing::neighbour;

std::string text(const std::vector<int>& G) {
  std::string t;
  for (std::size_t k = 0; k < G.size(); ++k) t += (k ? "x" : "") + std::to_string(G[k]);
  return t;
}

TEST(IsingSums, KnownConfigurations) {
  for (const std::vector<int>& G : {std::vector<int>{8, 8}, std::vector<int>{4, 4, 8}}) {
    SCOPED_TRACE(text(G));
    SpinField field(CartDecomposition(MPI_COMM_WORLD, G));
    const std::int64_t N = field.decomposition().global_sites();
    const std::int64_t d = static_cast<std::int64_t>(G.size());

    field.fill_cold(+1);
    IsingSums s = ising_sums(field);
    EXPECT_EQ(s.bond_sum, d * N);
    EXPECT_EQ(s.magnetization, N);

    field.fill_cold(-1);
    s = ising_sums(field);
    EXPECT_EQ(s.bond_sum, d * N);
    EXPECT_EQ(s.magnetization, -N);

    // Antiferromagnetic checkerboard: every bond is broken.
    const CartDecomposition& dec = field.decomposition();
    std::vector<std::int8_t> block(dec.local_sites());
    for (std::int64_t i = 0; i < dec.local_sites(); ++i) {
      std::int64_t rest = i;
      int parity = 0;
      for (int k = dec.dims() - 1; k >= 0; --k) {
        parity += dec.local_offset()[k] + static_cast<int>(rest % dec.local_extent()[k]);
        rest /= dec.local_extent()[k];
      }
      block[i] = parity % 2 ? -1 : 1;
    }
    field.set_interior_from_host(block.data());
    s = ising_sums(field);
    EXPECT_EQ(s.bond_sum, -d * N);
    EXPECT_EQ(s.magnetization, 0);

    // Random configuration against brute force over the gathered lattice.
    field.fill_random(2024);
    s = ising_sums(field);
    const IsingSums ref = brute_force_sums(gather_configuration(field), G);
    EXPECT_EQ(s.bond_sum, ref.bond_sum);
    EXPECT_EQ(s.magnetization, ref.magnetization);
    EXPECT_NE(s.magnetization, N);  // really random
  }
}

TEST(SpinField, HotStartIsTheSameOnAnyRankCount) {
  for (const std::vector<int>& G : {std::vector<int>{12, 16}, std::vector<int>{4, 6, 8}}) {
    SCOPED_TRACE(text(G));
    SpinField field(CartDecomposition(MPI_COMM_WORLD, G));
    field.fill_random(7);
    SpinField alone(CartDecomposition(MPI_COMM_SELF, G));
    alone.fill_random(7);
    const auto config = gather_configuration(field);
    EXPECT_EQ(config, gather_configuration(alone));
    // The documented rule: top bit of Philox(seed, "init") at (site / 4, 0), lane site % 4.
    const phyflow::rng::Stream stream(7, phyflow::rng::purpose("init"));
    for (std::uint64_t i = 0; i < config.size(); ++i)
      ASSERT_EQ(config[i], (stream(i / 4, 0).w[i % 4] >> 31) ? 1 : -1) << "site " << i;
  }
}

/// Serial natural-order checkerboard sweep: the documented update rule written plainly.
void reference_sweep(std::vector<std::int8_t>& s, const std::vector<int>& G,
                     const IsingThresholds& T, const phyflow::rng::Stream& stream,
                     std::uint64_t sweep, bool heat_bath) {
  const int d = static_cast<int>(G.size());
  for (int c = 0; c < 2; ++c) {
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(s.size()); ++i) {
      std::int64_t rest = i;
      std::vector<std::int64_t> x(d);
      for (int k = d - 1; k >= 0; --k) {
        x[k] = rest % G[k];
        rest /= G[k];
      }
      std::int64_t parity = 0;
      for (auto v : x) parity += v;
      if (parity % 2 != c) continue;
      std::uint64_t compact = 0;
      for (int k = 0; k < d; ++k)
        compact = compact * static_cast<std::uint64_t>(k == d - 1 ? G[k] / 2 : G[k]) +
                  static_cast<std::uint64_t>(k == d - 1 ? x[k] / 2 : x[k]);
      const std::uint32_t word = stream(compact / 4, 2 * sweep + c).w[compact % 4];
      int nsum = 0;
      for (int k = 0; k < d; ++k) nsum += s[neighbour(G, i, k, +1)] + s[neighbour(G, i, k, -1)];
      const int index = (s[i] > 0) * (2 * d + 1) + (nsum + 2 * d) / 2;
      const bool hit = word < T.below[index] || T.always[index] != 0;
      if (heat_bath)
        s[i] = hit ? 1 : -1;
      else if (hit)
        s[i] = static_cast<std::int8_t>(-s[i]);
    }
  }
}

void check_sweeps(const std::vector<int>& G, bool heat_bath, double h,
                  const std::vector<int>& grid = {}) {
  SCOPED_TRACE(text(G) + (heat_bath ? " heat bath" : " Metropolis") + " h = " +
               std::to_string(h) + (grid.empty() ? "" : " grid " + text(grid)));
  const IsingCouplings couplings{1.0, h, G.size() == 2 ? 0.42 : 0.22};
  const std::uint64_t seed = 99, sweeps = 20;
  const CheckerboardMetropolis metropolis(couplings);
  const CheckerboardHeatBath heat(couplings);
  auto run = [&](SpinField& f) {
    f.fill_random(5);
    for (std::uint64_t n = 0; n < sweeps; ++n)
      heat_bath ? heat.sweep(f, seed, n) : metropolis.sweep(f, seed, n);
  };
  SpinField field(CartDecomposition(MPI_COMM_WORLD, G, grid));
  const auto start = [&] {
    field.fill_random(5);
    return gather_configuration(field);
  }();
  run(field);
  const auto config = gather_configuration(field);

  SpinField alone(CartDecomposition(MPI_COMM_SELF, G));
  run(alone);
  EXPECT_EQ(hash_configuration(config), hash_configuration(gather_configuration(alone)));

  std::vector<std::int8_t> ref = start;
  const int d = static_cast<int>(G.size());
  const phyflow::rng::Stream stream(
      seed, phyflow::rng::purpose(heat_bath ? "heatbath" : "metropolis"));
  for (std::uint64_t n = 0; n < sweeps; ++n)
    reference_sweep(ref, G, heat_bath ? heat.thresholds(d) : metropolis.thresholds(d), stream,
                    n, heat_bath);
  EXPECT_EQ(config, ref);
  EXPECT_NE(config, start);  // the sweeps did something
  // The sums after the sweeps are exact.
  const IsingSums s = ising_sums(field), b = brute_force_sums(config, G);
  EXPECT_EQ(s.bond_sum, b.bond_sum);
  EXPECT_EQ(s.magnetization, b.magnetization);
}

// Extents chosen to cover: Philox groups aligned with rows (16x16, 8x32, 8x8x16) or not
// (12x12, 4x6x4), blocks of one row along a dimension, and tiny lattices where both
// neighbours are the same site (2x4).
const std::vector<std::vector<int>> sweep_extents = {{16, 16}, {12, 12}, {8, 32}, {40, 40},
                                                     {2, 4},   {8, 8, 16}, {4, 6, 4}};

int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

/// The SIMD levels this CPU runs; each must give the same configurations.
std::vector<SimdLevel> levels() {
  std::vector<SimdLevel> out;
  for (SimdLevel l : {SimdLevel::generic, SimdLevel::avx2, SimdLevel::avx512})
    if (static_cast<int>(l) <= static_cast<int>(detected_simd_level())) out.push_back(l);
  return out;
}

TEST(CheckerboardMetropolis, SweepsMatchSerialReferenceOnAnyRankCount) {
  for (SimdLevel level : levels()) {
    cap_simd_level(level);
    SCOPED_TRACE(simd_level_name(level));
    for (const auto& G : sweep_extents) {
      check_sweeps(G, false, 0.1);
      check_sweeps(G, false, 0.0);
    }
    // The last dimension split over all ranks: rows long enough (2 ranks) for updating
    // their ends before the halo exchange and the middle while it runs.
    check_sweeps({8, 192}, false, 0.0, {1, world_size()});
    // 3D rows batched for the random numbers (last dimension whole on every rank).
    check_sweeps({4, 8, 64}, false, 0.0);
  }
  cap_simd_level(SimdLevel::avx512);
}

TEST(CheckerboardHeatBath, SweepsMatchSerialReferenceOnAnyRankCount) {
  for (SimdLevel level : levels()) {
    cap_simd_level(level);
    SCOPED_TRACE(simd_level_name(level));
    for (const auto& G : sweep_extents) check_sweeps(G, true, 0.1);
    check_sweeps({8, 192}, true, 0.1, {1, world_size()});
    check_sweeps({4, 8, 64}, true, 0.0);
  }
  cap_simd_level(SimdLevel::avx512);
}

TEST(PhiloxBlock, EverySimdLevelGivesTheStreamsWords) {
  const phyflow::rng::Stream stream(0x123456789abcdefull, phyflow::rng::purpose("metropolis"));
  std::vector<std::uint32_t> words(4 * 200);
  for (SimdLevel level : levels())
    for (int groups : {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 200})
      for (std::uint32_t lo : {0u, 12345u, 0xffffffffu - 200u})
        for (std::uint32_t hi : {0u, 7u})
          for (std::uint64_t step : {std::uint64_t{0}, std::uint64_t{5}, (std::uint64_t{1} << 40) + 3}) {
            std::fill(words.begin(), words.end(), 0u);
            philox_block_host(level, words.data(), stream, lo, hi, step, groups);
            for (int j = 0; j < groups; ++j) {
              const std::uint64_t index = (std::uint64_t{hi} << 32) + lo + static_cast<std::uint64_t>(j);
              const phyflow::rng::Words w = stream(index, step);
              for (int i = 0; i < 4; ++i)
                ASSERT_EQ(words[4 * j + i], w.w[i])
                    << simd_level_name(level) << " groups " << groups << " j " << j;
            }
          }
}

TEST(IsingThresholds, CertainOutcomesAreExact) {
  const IsingCouplings hot{1.0, 0.0, 0.0};
  const IsingThresholds m = metropolis_thresholds(hot, 2);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(m.always[i], 0xffffffffu);  // beta = 0: always flip
  const IsingCouplings cold{1.0, 0.0, 1e3};
  const IsingThresholds c = metropolis_thresholds(cold, 2);
  // s = +1 with 4 up neighbours (index 5 + 4 = 9): dE = 8, never; s = -1 likewise (index 0).
  EXPECT_EQ(c.below[9], 0u);
  EXPECT_EQ(c.always[9], 0u);
  EXPECT_EQ(c.below[0], 0u);
  // dE < 0 (s = -1, 4 up neighbours: index 4): always.
  EXPECT_EQ(c.always[4], 0xffffffffu);
  EXPECT_THROW(metropolis_thresholds(IsingCouplings{1.0, 0.0, -1.0}, 2), phyflow::Error);
}

}  // namespace
