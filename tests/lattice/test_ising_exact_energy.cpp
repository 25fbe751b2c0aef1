// The checkerboard Metropolis and heat-bath chains sample the 2D Ising model exactly: the mean
// energy per site on a periodic 16x16 lattice at T = 2.0, 2.269 and 3.0 agrees within 3 sigma
// (Gamma-method errors) with Kaufman's exact finite-lattice value, computed here from the
// partition function (Kaufman, Phys. Rev. 76, 1232 (1949)) -- no tables.
// Also: the 2D field h != 0 case against brute-force enumeration of a 4x4 lattice.
#include "phyflow/lattice/autocorrelation.hpp"
#include "phyflow/lattice/cart_decomposition.hpp"
#include "phyflow/lattice/exact_ising.hpp"
#include "phyflow/lattice/ising_observables.hpp"
#include "phyflow/lattice/ising_updates.hpp"
#include "phyflow/lattice/single_flip_chain.hpp"
#include "phyflow/lattice/spin_field.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

namespace {

using namespace phyflow::lattice;

struct Measured {
  SeriesStatistics e;
};

template <class Update>
Measured run_chain(int L, double J, double h, double T, std::uint64_t seed, int therm, int n) {
  SpinField field(CartDecomposition(MPI_COMM_WORLD, {L, L}));
  field.fill_random(seed);
  const IsingCouplings c{J, h, 1.0 / T};
  const Update update(c);
  std::uint64_t sweep = 0;
  for (int i = 0; i < therm; ++i) update.sweep(field, seed, sweep++);
  std::vector<double> e;
  e.reserve(std::size_t(n));
  for (int i = 0; i < n; ++i) {
    update.sweep(field, seed, sweep++);
    e.push_back(ising_energy(ising_sums(field), J, h) / double(L * L));
  }
  return {gamma_method(e)};
}

template <class Update>
void check_kaufman(const char* name) {
  const int L = 16;
  for (double T : {2.0, 2.269, 3.0}) {
    const double exact = ising2d_exact_energy_per_site(L, L, 1.0 / T);
    const Measured m = run_chain<Update>(L, 1.0, 0.0, T, 20240 + std::uint64_t(T * 1000), 2000, 40000);
    const double z = (m.e.mean - exact) / m.e.error;
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0)
      std::printf("%s L=16 T=%.3f: e = %.6f +- %.6f (tau_int %.2f), exact %.6f, %.2f sigma\n", name, T,
                  m.e.mean, m.e.error, m.e.tau_int, exact, z);
    EXPECT_GT(m.e.error, 0.0);
    EXPECT_LT(m.e.error, 5e-3) << "error bar too wide for a meaningful test";
    EXPECT_LT(std::fabs(z), 3.0) << name << " at T=" << T;
  }
}

TEST(IsingExactEnergy, MetropolisMatchesKaufmanL16) { check_kaufman<CheckerboardMetropolis>("metropolis"); }

TEST(IsingExactEnergy, HeatBathMatchesKaufmanL16) { check_kaufman<CheckerboardHeatBath>("heatbath"); }

// The seed's dataset chain (8x8, beta = 0.25, every attempted flip a step) samples the Ising
// distribution: its mean energy matches Kaufman's value for the 8x8 lattice.
TEST(IsingExactEnergy, SingleFlipChainMatchesKaufmanL8) {
  const int L = 8;
  const double beta = 0.25;
  SingleFlipChain chain({L, L}, IsingCouplings{1.0, 0.0, beta}, 11);
  chain.fill_random(11);
  chain.run(0, 110000);
  std::vector<double> e;
  const std::uint64_t n = 1000000;
  e.reserve(n / 4);
  for (std::uint64_t i = 0; i < n; i += 4) {
    chain.run(110000 + i, 4);
    e.push_back(ising_energy(chain.sums(), 1.0, 0.0) / double(L * L));
  }
  const auto st = gamma_method(e);
  const double exact = ising2d_exact_energy_per_site(L, L, beta);
  EXPECT_LT(st.error, 5e-3);
  EXPECT_LT(std::fabs(st.mean - exact), 3.0 * st.error)
      << st.mean << " +- " << st.error << " vs exact " << exact;
}

// With a field the exact answer comes from enumerating all 2^16 states of a 4x4 lattice.
TEST(IsingExactEnergy, FieldMatchesEnumerationL4) {
  const int L = 4, N = L * L;
  const double J = 1.0, h = 0.3, T = 2.5, beta = 1.0 / T;
  double z = 0.0, ez = 0.0;
  for (std::uint32_t s = 0; s < (1u << N); ++s) {
    auto spin = [&](int x, int y) { return ((s >> (((x + L) % L) * L + (y + L) % L)) & 1u) ? 1 : -1; };
    int bonds = 0, mag = 0;
    for (int x = 0; x < L; ++x)
      for (int y = 0; y < L; ++y) {
        bonds += spin(x, y) * (spin(x + 1, y) + spin(x, y + 1));
        mag += spin(x, y);
      }
    const double E = -J * bonds - h * mag;
    const double w = std::exp(-beta * E);
    z += w;
    ez += E * w;
  }
  const double exact = ez / z / N;
  for (int algo = 0; algo < 2; ++algo) {
    const Measured m = algo == 0 ? run_chain<CheckerboardMetropolis>(L, J, h, T, 77, 1000, 100000)
                                 : run_chain<CheckerboardHeatBath>(L, J, h, T, 78, 1000, 100000);
    EXPECT_LT(std::fabs(m.e.mean - exact), 3.0 * m.e.error)
        << (algo ? "heatbath" : "metropolis") << ": " << m.e.mean << " +- " << m.e.error
        << " vs exact " << exact;
  }
}

}  // namespace
