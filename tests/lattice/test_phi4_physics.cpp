// phi^4 physics with error bars (fixed seeds, tolerances of a few sigma from each run's own
// Gamma-method errors): the free field's <phi^2> exact (phi4_action.hpp: free_field_phi2) for
// Metropolis and HMC in d = 1, 2, 3, 4; <exp(-dH)> = 1 for HMC; Metropolis and HMC agree on
// the interacting theory at the AKS tutorial point (d = 2, L = 8, m2 = -4, lambda = 8).
#include "phyflow/lattice/autocorrelation.hpp"
#include "phyflow/lattice/phi4_action.hpp"
#include "phyflow/lattice/phi4_field.hpp"
#include "phyflow/lattice/phi4_observables.hpp"
#include "phyflow/lattice/phi4_updates.hpp"

#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace {

using namespace phyflow::lattice;

struct Chain {
  std::vector<double> m, action, phi2, correlator, exp_minus_dh;
  double acceptance = 0.0;
};

enum class Algo { metropolis, leapfrog, omelyan };

Chain run(Algo algo, int d, int L, Phi4Couplings c, int therm, int samples, int between,
          double param, int steps = 10, std::uint64_t seed = 1) {
  Phi4Field field(CartDecomposition(MPI_COMM_WORLD, std::vector<int>(std::size_t(d), L)));
  field.fill_random(seed);
  const Phi4Metropolis metro(c, algo == Algo::metropolis ? param : 1.0, 1);
  const Phi4Hmc hmc(c, algo == Algo::omelyan ? Phi4Integrator::omelyan : Phi4Integrator::leapfrog,
                    std::max(steps, 1), algo == Algo::metropolis ? 1.0 : param);
  Chain out;
  double accepted = 0, tried = 0;
  std::uint64_t step = 0;
  auto update = [&](bool measuring) {
    if (algo == Algo::metropolis) {
      const auto a = metro.sweep(field, seed, step++);
      if (measuring) accepted += double(a), tried += double(field.global_sites());
    } else {
      const HmcResult r = hmc.trajectory(field, seed, step++);
      if (measuring) {
        accepted += r.accepted, tried += 1;
        out.exp_minus_dh.push_back(std::exp(-r.delta_h));
      }
    }
  };
  for (int i = 0; i < therm; ++i) update(false);
  for (int s = 0; s < samples; ++s) {
    for (int i = 0; i < between; ++i) update(true);
    const Phi4Sample x = phi4_measure(field, c);
    out.m.push_back(x.magnetization);
    out.action.push_back(x.action);
    out.phi2.push_back(x.phi2);
    out.correlator.insert(out.correlator.end(), x.correlator.begin(), x.correlator.end());
  }
  out.acceptance = accepted / tried;
  return out;
}

void expect_free_phi2(const Chain& ch, int d, int L, double m2) {
  const auto st = gamma_method(ch.phi2);
  const double exact = free_field_phi2(d, L, m2);
  EXPECT_TRUE(st.window_converged) << "d=" << d << " tau_int " << st.tau_int << " n " << st.n;
  EXPECT_LT(std::fabs(st.mean - exact), 4.0 * st.error)
      << "d=" << d << " L=" << L << ": <phi^2> = " << st.mean << " +- " << st.error
      << " (tau_int " << st.tau_int << "), exact " << exact;
  EXPECT_LT(st.error, 0.03 * exact);  // the test has power
}

TEST(Phi4FreeField, MetropolisPhi2Exact) {
  const double m2 = 0.5;
  expect_free_phi2(run(Algo::metropolis, 1, 16, {m2, 0.0}, 200, 4000, 2, 1.5), 1, 16, m2);
  expect_free_phi2(run(Algo::metropolis, 2, 8, {m2, 0.0}, 200, 3000, 2, 1.2), 2, 8, m2);
  expect_free_phi2(run(Algo::metropolis, 3, 4, {m2, 0.0}, 200, 1500, 2, 1.0), 3, 4, m2);
}

TEST(Phi4FreeField, HmcPhi2Exact) {
  const double m2 = 0.5;
  expect_free_phi2(run(Algo::leapfrog, 1, 16, {m2, 0.0}, 100, 3000, 1, 1.0, 8), 1, 16, m2);
  expect_free_phi2(run(Algo::omelyan, 2, 8, {m2, 0.0}, 100, 2000, 1, 1.0, 5), 2, 8, m2);
  // Free modes turn by omega tau per trajectory, omega^2 = 2 (khat^2 + m2) (S has no 1/2):
  // at tau = 1 the khat^2 = 4 mode turns by ~pi (phi -> -phi), so phi^2 hardly decorrelates;
  // tau = 0.45 keeps every mode of 4^4 below 2.6 rad.
  expect_free_phi2(run(Algo::leapfrog, 4, 4, {m2, 0.0}, 50, 600, 1, 0.45, 4), 4, 4, m2);
}

TEST(Phi4Hmc, ExpMinusDeltaHIsOne) {
  // Coarse steps so that dH is far from 0 and the identity is a real check.
  const Chain ch = run(Algo::leapfrog, 2, 8, {-4.0, 8.0}, 50, 3000, 1, 1.0, 8);
  const auto st = gamma_method(ch.exp_minus_dh);
  EXPECT_LT(ch.acceptance, 0.95);
  EXPECT_LT(std::fabs(st.mean - 1.0), 4.0 * st.error)
      << "<exp(-dH)> = " << st.mean << " +- " << st.error << ", acceptance " << ch.acceptance;
  EXPECT_LT(st.error, 0.05);
}

TEST(Phi4Interacting, MetropolisAndHmcAgreeOnChi2) {
  const int L = 8;
  const Chain a = run(Algo::metropolis, 2, L, {-4.0, 8.0}, 500, 6000, 2, 1.4, 0, 3);
  const Chain b = run(Algo::omelyan, 2, L, {-4.0, 8.0}, 100, 4000, 1, 1.0, 5, 4);
  const Phi4Analysis x = phi4_analyse(a.m, a.action, a.phi2, a.correlator, L, 64.0);
  const Phi4Analysis y = phi4_analyse(b.m, b.action, b.phi2, b.correlator, L, 64.0);
  const double sigma = std::hypot(x.chi2_error, y.chi2_error);
  EXPECT_LT(std::fabs(x.chi2 - y.chi2), 4.0 * sigma)
      << "Metropolis chi2 " << x.chi2 << " +- " << x.chi2_error << " (acc " << a.acceptance
      << "), HMC " << y.chi2 << " +- " << y.chi2_error << " (acc " << b.acceptance << ")";
  const double s_sigma = std::hypot(x.action_per_site.error, y.action_per_site.error);
  EXPECT_LT(std::fabs(x.action_per_site.mean - y.action_per_site.mean), 4.0 * s_sigma);
  const double m_sigma = std::hypot(x.abs_m.error, y.abs_m.error);
  EXPECT_LT(std::fabs(x.abs_m.mean - y.abs_m.mean), 4.0 * m_sigma);
  // The published HMC value at this point (AKS tutorial): 0.75 +- 0.01.
  EXPECT_LT(std::fabs(y.chi2 - 0.75), 4.0 * std::hypot(y.chi2_error, 0.01)) << y.chi2;
  EXPECT_LT(sigma, 0.1);
  std::printf("chi2: Metropolis %.4f +- %.4f (tau_int M^2 %.2f), HMC %.4f +- %.4f (tau_int %.2f); "
              "<|m|> %.4f +- %.4f vs %.4f +- %.4f; acceptance %.3f / %.3f\n",
              x.chi2, x.chi2_error, x.chi2_estimator.tau_int, y.chi2, y.chi2_error,
              y.chi2_estimator.tau_int, x.abs_m.mean, x.abs_m.error, y.abs_m.mean, y.abs_m.error,
              a.acceptance, b.acceptance);
}

}  // namespace
