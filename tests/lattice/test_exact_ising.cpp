// Exact 2D Ising references against independent truths: enumeration of every state of small
// lattices, Beale's published 32 x 32 partition-function coefficients, Onsager's L -> infinity
// energy, and numerical derivatives of log Z.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "phyflow/core/error.hpp"
#include "phyflow/lattice/exact_ising.hpp"

namespace {

using namespace phyflow::lattice;

/// log Z, <E>/N and C/N of the periodic L x M lattice by summing over all 2^(LM) states
/// (energies are integers, so the density of states is exact; the Boltzmann sum is in long
/// double around the largest term).
struct Enumerated {
  long double log_z, energy_per_site, specific_heat_per_site;
};

class DensityOfStates {
 public:
  DensityOfStates(int L, int M) : n_(L * M), count_(4 * L * M + 1, 0) {
    for (std::uint32_t state = 0; state < (1u << n_); ++state) {
      int bond_sum = 0;
      for (int y = 0; y < M; ++y) {
        for (int x = 0; x < L; ++x) {
          const int s = spin(state, y * L + x);
          bond_sum += s * spin(state, y * L + (x + 1) % L);
          bond_sum += s * spin(state, ((y + 1) % M) * L + x);
        }
      }
      ++count_[bond_sum + 2 * n_];  // E = -bond_sum
    }
  }

  Enumerated at(double beta) const {
    long double largest = -1e300L;
    for (int j = 0; j <= 4 * n_; ++j) {
      if (count_[j] > 0) largest = std::max(largest, static_cast<long double>(beta) * (j - 2 * n_));
    }
    long double z = 0, e1 = 0, e2 = 0;
    for (int j = 0; j <= 4 * n_; ++j) {
      if (count_[j] == 0) continue;
      const long double energy = -(j - 2 * n_);
      const long double w =
          count_[j] * std::exp(-static_cast<long double>(beta) * energy - largest);
      z += w;
      e1 += w * energy;
      e2 += w * energy * energy;
    }
    e1 /= z;
    e2 /= z;
    return {std::log(z) + largest, e1 / n_, beta * beta * (e2 - e1 * e1) / n_};
  }

 private:
  static int spin(std::uint32_t state, int site) { return ((state >> site) & 1u) ? 1 : -1; }
  int n_;
  std::vector<long long> count_;
};

double relative(double a, long double b) { return static_cast<double>(std::fabs((a - b) / b)); }

const double kBetas[] = {0.1, 0.3, 0.44, ising2d_critical_beta, 1.0 / 2.269, 0.6, 1.0};

TEST(ExactIsing, MatchesEnumerationOfAllStates) {
  // Even sizes are what the Monte Carlo uses; odd and non-square ones check the formula's
  // general validity (and L <-> M symmetry, since 4 x 2 and 2 x 4 are enumerated separately).
  const std::pair<int, int> sizes[] = {{2, 2}, {4, 2}, {2, 4}, {4, 4}, {3, 3}, {5, 3}, {2, 6}};
  for (const auto& [L, M] : sizes) {
    const DensityOfStates dos(L, M);
    for (double beta : kBetas) {
      SCOPED_TRACE(testing::Message() << L << " x " << M << ", beta = " << beta);
      const Enumerated truth = dos.at(beta);
      const IsingExactThermodynamics exact = ising2d_exact_thermodynamics(L, M, beta);
      EXPECT_LT(relative(exact.log_z, truth.log_z), 1e-12);
      EXPECT_LT(relative(exact.energy_per_site, truth.energy_per_site), 1e-12);
      EXPECT_LT(relative(exact.specific_heat_per_site, truth.specific_heat_per_site), 1e-10);
      EXPECT_EQ(ising2d_exact_log_z(L, M, beta), exact.log_z);
      EXPECT_EQ(ising2d_exact_energy_per_site(L, M, beta), exact.energy_per_site);
      EXPECT_EQ(ising2d_exact_specific_heat_per_site(L, M, beta), exact.specific_heat_per_site);
    }
  }
}

TEST(ExactIsing, MatchesBealesPublished32x32Coefficients) {
  // P. D. Beale's table (spot.colorado.edu/~beale/IsingExactMathematica.html, companion to
  // PRL 76, 78 (1996)): Z_{32,32} = e^{2048 K} sum_k g_k x^{2k}, x = e^{-2K}. Terms to x^64 are
  // listed; at K >= 1 the remainder is below 1e-19 of the sum.
  const std::pair<int, double> terms[] = {
      {0, 2.0},
      {4, 2048.0},
      {6, 4096.0},
      {8, 1057792.0},
      {10, 4218880.0},
      {12, 371621888.0},
      {14, 2191790080.0},
      {16, 100903637504.0},
      {18, 768629792768.0},
      {20, 22748079183872.0},
      {22, 205394991329280.0},
      {24, 4449893079195648.0},
      {26, 44743561136807936.0},
      {28, 776335369907888128.0},
      {30, 8296338816339398656.0},
      {32, 122868315209973770496.0},
      {34, 1348964107338697842688.0},
      {36, 17832940430689993684992.0},
      {38, 196523971814021975830528.0},
      {40, 2391406180740483290926080.0},
      {42, 26065481800659863486496768.0},
      {44, 298044124622553465145298944.0},
      {46, 3185666524478313863851044864.0},
      {48, 34699120806036636726464401408.0},
      {50, 362130971398695260784899284992.0},
      {52, 3791345208840452468065820620800.0},
      {54, 38569361472886182609543396929536.0},
      {56, 390468333064795797623009891880960.0},
      {58, 3871553755823196043657602074615808.0},
      {60, 38057017987760849668592216619089920.0},
      {62, 368038492491826519223092138855485440.0},
      {64, 3523173455605142701375696893142359104.0},
  };
  for (double K : {1.0, 1.5}) {
    SCOPED_TRACE(testing::Message() << "K = " << K);
    long double sum = 0, x_dsum_dx = 0;  // sum g x^p and sum p g x^p
    for (const auto& [power, g] : terms) {
      const long double term = g * std::exp(-2.0L * K * power);
      sum += term;
      x_dsum_dx += power * term;
    }
    const double n = 1024.0;
    const long double log_z = 2048.0L * K + std::log(sum);
    // E = -d ln Z/dK = -2048 + 2 x (dS/dx)/S, since dx/dK = -2x.
    const long double energy_per_site = (-2048.0L + 2.0L * x_dsum_dx / sum) / n;
    const IsingExactThermodynamics exact = ising2d_exact_thermodynamics(32, 32, K);
    EXPECT_NEAR(exact.log_z - 2048.0 * K, static_cast<double>(log_z - 2048.0L * K), 1e-11);
    EXPECT_LT(relative(exact.energy_per_site, energy_per_site), 1e-13);
  }
}

TEST(ExactIsing, ApproachesOnsagerAwayFromTc) {
  // Off T_c the correlation length is a few sites and finite-size corrections on a torus are
  // exponentially small in L/xi: far below the 1e-3 the Monte Carlo tests need.
  for (int L : {64, 128}) {
    for (double T : {1.0, 2.0, 3.0, 5.0}) {
      SCOPED_TRACE(testing::Message() << "L = " << L << ", T = " << T);
      const double e = ising2d_exact_energy_per_site(L, L, 1.0 / T);
      EXPECT_NEAR(e, onsager_energy_per_site(1.0 / T), 1e-10);
    }
  }
  // At T_c the finite-size correction is O(1/L) (Ferdinand & Fisher 1969): L (E_L - E_inf)
  // tends to a constant.
  const double e_inf = onsager_energy_per_site(ising2d_critical_beta);
  const double scaled64 =
      64.0 * (ising2d_exact_energy_per_site(64, 64, ising2d_critical_beta) - e_inf);
  const double scaled256 =
      256.0 * (ising2d_exact_energy_per_site(256, 256, ising2d_critical_beta) - e_inf);
  EXPECT_LT(scaled64, -0.1);
  EXPECT_NEAR(scaled64, scaled256, 0.01 * std::fabs(scaled256));
}

TEST(ExactIsing, EnergyAndSpecificHeatAreDerivativesOfLogZ) {
  // Five-point central differences: truncation O((h L)^4) near T_c (where ln Z varies on the
  // scale 1/L), rounding ~ eps |ln Z| / h (first) and eps |ln Z| / h^2 (second); h = 0.004/L
  // keeps both well below the tolerances.
  for (int L : {4, 16, 64}) {
    const double h = 0.004 / L;
    for (double beta : {0.2, 0.4, ising2d_critical_beta, 0.5, 0.8}) {
      SCOPED_TRACE(testing::Message() << "L = " << L << ", beta = " << beta);
      const double n = static_cast<double>(L) * L;
      auto log_z = [&](double b) { return ising2d_exact_log_z(L, L, b); };
      const double f0 = log_z(beta), fp = log_z(beta + h), fm = log_z(beta - h);
      const double fpp = log_z(beta + 2 * h), fmm = log_z(beta - 2 * h);
      const double d1 = (fmm - 8 * fm + 8 * fp - fpp) / (12 * h);
      const double d2 = (-fmm + 16 * fm - 30 * f0 + 16 * fp - fpp) / (12 * h * h);
      const IsingExactThermodynamics exact = ising2d_exact_thermodynamics(L, L, beta);
      EXPECT_GT(exact.specific_heat_per_site, 0.0);
      EXPECT_LT(relative(exact.energy_per_site, -d1 / n), 1e-9);
      EXPECT_LT(relative(exact.specific_heat_per_site, beta * beta * d2 / n), 1e-6);
      // C = -beta^2 dE/dbeta, from the analytic energy.
      auto energy = [&](double b) { return ising2d_exact_energy_per_site(L, L, b); };
      const double de = (energy(beta - 2 * h) - 8 * energy(beta - h) + 8 * energy(beta + h) -
                         energy(beta + 2 * h)) /
                        (12 * h);
      EXPECT_LT(relative(exact.specific_heat_per_site, -beta * beta * de), 1e-8);
    }
  }
}

TEST(ExactIsing, IsSymmetricInLAndM) {
  for (double beta : {0.3, ising2d_critical_beta, 0.7}) {
    const auto a = ising2d_exact_thermodynamics(16, 6, beta);
    const auto b = ising2d_exact_thermodynamics(6, 16, beta);
    EXPECT_LT(relative(a.log_z, b.log_z), 1e-14);
    EXPECT_LT(relative(a.energy_per_site, b.energy_per_site), 1e-13);
    EXPECT_LT(relative(a.specific_heat_per_site, b.specific_heat_per_site), 1e-11);
  }
}

TEST(ExactIsing, LimitsAtHighAndLowTemperature) {
  for (int L : {4, 256}) {
    const double n = static_cast<double>(L) * L;
    // beta -> 0: ln Z -> N ln 2 + 2N ln cosh(beta) and E/N -> -2 tanh(beta) (no closed loop
    // shorter than 4 bonds, or than L for the wrapping ones).
    const double small = 1e-5;
    const auto hot = ising2d_exact_thermodynamics(L, L, small);
    EXPECT_LT(relative(hot.log_z, n * (std::log(2.0) + 2.0 * std::log(std::cosh(small)))), 1e-14);
    EXPECT_LT(relative(hot.energy_per_site, -2.0 * std::tanh(small)), 1e-9);
    // beta -> infinity: two ground states with E = -2N.
    for (double beta : {20.0, 400.0, 1e6}) {
      const auto cold = ising2d_exact_thermodynamics(L, L, beta);
      EXPECT_LT(relative(cold.log_z, 2.0 * n * beta + std::log(2.0)), 1e-15);
      EXPECT_DOUBLE_EQ(cold.energy_per_site, -2.0);
      EXPECT_TRUE(std::isfinite(cold.specific_heat_per_site));
      EXPECT_LT(std::fabs(cold.specific_heat_per_site), 1e-20);
    }
  }
}

TEST(ExactIsing, CriticalPointConstants) {
  EXPECT_NEAR(ising2d_critical_temperature, 2.0 / std::log(1.0 + std::sqrt(2.0)), 1e-15);
  EXPECT_NEAR(ising2d_critical_beta * ising2d_critical_temperature, 1.0, 1e-15);
  EXPECT_NEAR(std::sinh(2.0 * ising2d_critical_beta), 1.0, 1e-15);  // self-dual point
}

TEST(ExactIsing, OnsagerEnergy) {
  EXPECT_NEAR(onsager_energy_per_site(ising2d_critical_beta), -std::sqrt(2.0), 1e-15);
  // Continuous through T_c (the K_1 log divergence is multiplied by 2 tanh^2 2K - 1 -> 0).
  EXPECT_NEAR(onsager_energy_per_site(ising2d_critical_beta * (1 + 1e-9)), -std::sqrt(2.0), 1e-7);
  EXPECT_NEAR(onsager_energy_per_site(ising2d_critical_beta * (1 - 1e-9)), -std::sqrt(2.0), 1e-7);
  // High-temperature series for the square lattice, u = -2v - 4v^3 - 8v^5 + O(v^7), v = tanh K
  // (from ln Z/N = ln 2 + 2 ln cosh K + v^4 + 2 v^6 + ...).
  for (double beta : {1e-6, 1e-3, 0.02}) {
    const double v = std::tanh(beta);
    const double series = -2 * v - (4 * std::pow(v, 3) + 12 * std::pow(v, 5)) * (1 - v * v);
    EXPECT_LT(relative(onsager_energy_per_site(beta), series), 60 * std::pow(v, 6) + 1e-14);
  }
  // Low-temperature series, u = -2 + 8 x^4 + 24 x^6 + 36 x^8 + ..., x = e^{-2K} (from
  // ln Z/N = 2K + x^4 + 2 x^6 + 9/2 x^8 + ..., the coefficients of Beale's table per site).
  const double x = std::exp(-2.0 * 1.5);
  EXPECT_NEAR(onsager_energy_per_site(1.5), -2.0 + 8 * std::pow(x, 4) + 24 * std::pow(x, 6),
              100 * std::pow(x, 8));
  EXPECT_NEAR(onsager_energy_per_site(1e6), -2.0, 1e-15);
}

TEST(ExactIsing, YangMagnetization) {
  EXPECT_EQ(yang_magnetization(0.1), 0.0);
  EXPECT_EQ(yang_magnetization(ising2d_critical_beta * (1 - 1e-12)), 0.0);
  EXPECT_NEAR(yang_magnetization(0.5), std::pow(1.0 - std::pow(std::sinh(1.0), -4.0), 0.125),
              1e-15);
  EXPECT_NEAR(yang_magnetization(0.5), 0.911319377877496, 1e-12);
  EXPECT_DOUBLE_EQ(yang_magnetization(1e6), 1.0);
  // Critical exponent 1/8: M ~ (beta - beta_c)^{1/8}.
  const double m1 = yang_magnetization(ising2d_critical_beta * (1 + 1e-6));
  const double m2 = yang_magnetization(ising2d_critical_beta * (1 + 1e-8));
  EXPECT_NEAR(std::log(m1 / m2) / std::log(100.0), 0.125, 1e-5);
}

TEST(ExactIsing, RejectsBadArguments) {
  auto expect_input_error = [](auto&& call) {
    try {
      call();
      ADD_FAILURE() << "no exception";
    } catch (const phyflow::Error& e) {
      EXPECT_EQ(e.code(), phyflow::ExitCode::bad_input);
    }
  };
  expect_input_error([] { ising2d_exact_log_z(1, 4, 0.4); });
  expect_input_error([] { ising2d_exact_log_z(4, 0, 0.4); });
  expect_input_error([] { ising2d_exact_energy_per_site(4, 4, 0.0); });
  expect_input_error([] { ising2d_exact_specific_heat_per_site(4, 4, -1.0); });
  expect_input_error([] { ising2d_exact_log_z(4, 4, std::nan("")); });
  expect_input_error([] { onsager_energy_per_site(0.0); });
  expect_input_error([] { yang_magnetization(-0.5); });
}

}  // namespace
