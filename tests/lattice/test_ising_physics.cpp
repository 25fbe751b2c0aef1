// Ising samplers against exact Boltzmann averages: checkerboard Metropolis and heat bath on
// lattices small enough to enumerate (2D 4x4 and 3D 2x2x4: 2^16 states each), heat bath at
// beta = 0, and detailed balance of the sequential single-flip chain on a 3x3 lattice
// (visited-state histogram against Boltzmann weights, chi-square).
#include "ising_test_support.hpp"

#include "phyflow/lattice/ising_observables.hpp"
#include "phyflow/lattice/ising_updates.hpp"
#include "phyflow/lattice/single_flip_chain.hpp"
#include "phyflow/lattice/spin_field.hpp"

#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace phyflow::lattice;
using phyflow::lattice::testing::binned_mean;
using phyflow::lattice::testing::brute_force_sums;
using phyflow::lattice::testing::enumerate_exact;

struct Series {
  std::vector<double> energy, magnetization;
};

template <class Update>
Series run_chain(const std::vector<int>& G, const Update& update, std::uint64_t seed,
                 int thermalize, int samples) {
  SpinField field(CartDecomposition(MPI_COMM_WORLD, G));
  field.fill_random(seed + 1);
  const IsingCouplings& c = update.couplings();
  Series out;
  for (int n = 0; n < thermalize + samples; ++n) {
    update.sweep(field, seed, static_cast<std::uint64_t>(n));
    if (n < thermalize) continue;
    const IsingSums s = ising_sums(field);
    out.energy.push_back(ising_energy(s, c.J, c.h));
    out.magnetization.push_back(static_cast<double>(s.magnetization));
  }
  return out;
}

/// |measured - exact| within 4 binned standard errors, and the error bar is meaningful.
void expect_agrees(const std::vector<double>& series, double exact, double max_error,
                   const std::string& what) {
  const auto m = binned_mean(series);
  if (std::getenv("PHYFLOW_TEST_VERBOSE"))
    std::printf("%s: %.4f +- %.4f (exact %.4f)\n", what.c_str(), m.mean, m.error, exact);
  EXPECT_LT(std::abs(m.mean - exact), 4 * m.error)
      << what << ": measured " << m.mean << " +- " << m.error << ", exact " << exact;
  EXPECT_LT(m.error, max_error) << what;
}

TEST(CheckerboardMetropolis, EnergyOf4x4MatchesEnumeration) {
  const std::vector<int> G = {4, 4};
  const IsingCouplings c{1.0, 0.0, 0.4};
  const auto exact = enumerate_exact(G, c.J, c.h, c.beta);
  const Series s = run_chain(G, CheckerboardMetropolis(c), 11, 200, 12000);
  expect_agrees(s.energy, exact.energy, 0.25, "2D Metropolis <H>");
}

TEST(CheckerboardHeatBath, EnergyAndMagnetizationOf4x4InAFieldMatchEnumeration) {
  const std::vector<int> G = {4, 4};
  const IsingCouplings c{1.0, 0.15, 0.3};
  const auto exact = enumerate_exact(G, c.J, c.h, c.beta);
  const Series s = run_chain(G, CheckerboardHeatBath(c), 12, 200, 12000);
  expect_agrees(s.energy, exact.energy, 0.25, "2D heat bath <H>");
  expect_agrees(s.magnetization, exact.magnetization, 0.25, "2D heat bath <M>");
}

TEST(CheckerboardMetropolis, EnergyOf3DLatticeMatchesEnumeration) {
  const std::vector<int> G = {2, 2, 4};
  const IsingCouplings c{1.0, -0.1, 0.2};
  const auto exact = enumerate_exact(G, c.J, c.h, c.beta);
  const Series m = run_chain(G, CheckerboardMetropolis(c), 13, 200, 12000);
  expect_agrees(m.energy, exact.energy, 0.3, "3D Metropolis <H>");
  expect_agrees(m.magnetization, exact.magnetization, 0.3, "3D Metropolis <M>");
  const Series h = run_chain(G, CheckerboardHeatBath(c), 14, 200, 12000);
  expect_agrees(h.energy, exact.energy, 0.3, "3D heat bath <H>");
}

TEST(CheckerboardHeatBath, InfiniteTemperatureIsUncorrelated) {
  const std::vector<int> G = {8, 8};
  const Series s = run_chain(G, CheckerboardHeatBath(IsingCouplings{1.0, 0.0, 0.0}), 3, 0, 4000);
  expect_agrees(s.energy, 0.0, 1.0, "beta = 0 <H>");
  expect_agrees(s.magnetization, 0.0, 0.5, "beta = 0 <M>");
  // Independent spins: <M^2> = N exactly (64), sample variance within a few percent.
  double m2 = 0;
  for (double m : s.magnetization) m2 += m * m;
  m2 /= static_cast<double>(s.magnetization.size());
  EXPECT_NEAR(m2, 64.0, 64.0 * 4 * std::sqrt(2.0 / 4000.0));
}

TEST(SingleFlipChain, SumsStayExact) {
  SingleFlipChain chain({6, 8}, IsingCouplings{1.0, 0.2, 0.35}, 5);
  chain.fill_random(8);
  for (int block = 0; block < 5; ++block) {
    chain.run(static_cast<std::uint64_t>(block) * 1000, 1000);
    const IsingSums b = brute_force_sums(chain.spins(), chain.extent());
    EXPECT_EQ(chain.sums().bond_sum, b.bond_sum);
    EXPECT_EQ(chain.sums().magnetization, b.magnetization);
  }
  // Its block for output on a decomposition matches the full configuration.
  CartDecomposition dec(MPI_COMM_WORLD, {6, 8});
  std::vector<std::int8_t> block(dec.local_sites());
  chain.copy_block(dec, block.data());
  for (std::int64_t i = 0; i < dec.local_sites(); ++i) {
    const int x0 = dec.local_offset()[0] + static_cast<int>(i / dec.local_extent()[1]);
    const int x1 = dec.local_offset()[1] + static_cast<int>(i % dec.local_extent()[1]);
    ASSERT_EQ(block[i], chain.spins()[x0 * 8 + x1]);
  }
}

TEST(SingleFlipChain, VisitsStatesWithBoltzmannWeights) {
  // 3x3, in a field: 512 states. Record every 3 sweeps (27 attempted flips) so records are
  // nearly independent; chi-square over states against exact Boltzmann probabilities.
  const std::vector<int> G = {3, 3};
  const IsingCouplings c{1.0, 0.1, 0.15};
  const int sites = 9, states = 1 << sites, interval = 27, records = 150000;
  SingleFlipChain chain(G, c, 17);
  std::vector<double> weight(states);
  double Z = 0;
  std::vector<std::int8_t> s(sites);
  for (int state = 0; state < states; ++state) {
    for (int i = 0; i < sites; ++i) s[i] = (state >> i) & 1 ? 1 : -1;
    weight[state] = std::exp(-c.beta * ising_energy(brute_force_sums(s, G), c.J, c.h));
    Z += weight[state];
  }
  std::vector<double> count(states, 0.0);
  std::uint64_t n = 0;
  chain.run(n, 1000);
  n += 1000;
  for (int r = 0; r < records; ++r) {
    chain.run(n, interval);
    n += interval;
    int state = 0;
    for (int i = 0; i < sites; ++i) state |= (chain.spins()[i] > 0) << i;
    count[state] += 1;
  }
  double chi2 = 0;
  for (int state = 0; state < states; ++state) {
    const double expected = records * weight[state] / Z;
    chi2 += (count[state] - expected) * (count[state] - expected) / expected;
  }
  // 511 degrees of freedom: mean 511, sd 32. Residual correlation inflates chi2 slightly;
  // a wrong acceptance rule or site choice gives thousands.
  EXPECT_LT(chi2, 511 + 6 * 32) << "chi2 = " << chi2;
  EXPECT_GT(chi2, 511 - 6 * 32) << "chi2 = " << chi2;
}

TEST(SingleFlipChain, EnergyOf4x4MatchesEnumeration) {
  const std::vector<int> G = {4, 4};
  const IsingCouplings c{1.0, 0.0, 0.4};
  const auto exact = enumerate_exact(G, c.J, c.h, c.beta);
  SingleFlipChain chain(G, c, 23);
  chain.fill_random(1);
  std::vector<double> energy;
  std::uint64_t n = 0;
  for (int sweep = 0; sweep < 20200; ++sweep, n += 16) {
    chain.run(n, 16);
    if (sweep >= 200) energy.push_back(ising_energy(chain.sums(), c.J, c.h));
  }
  expect_agrees(energy, exact.energy, 0.25, "single flip <H>");
}

}  // namespace
