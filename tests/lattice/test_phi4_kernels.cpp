// phi^4 kernels against serial host code and against themselves on one rank: halo, action and
// force equal to the serial reference of phi4_action.hpp in d = 1..4; Metropolis sweeps and
// HMC trajectories bitwise identical to a one-rank run on any rank count (ctest: 1, 2, 4);
// HMC integrators reversible and with O(eps^2) energy error (Omelyan smaller than leapfrog).
#include "phyflow/core/error.hpp"
#include "phyflow/lattice/phi4_action.hpp"
#include "phyflow/lattice/phi4_field.hpp"
#include "phyflow/lattice/phi4_observables.hpp"
#include "phyflow/lattice/phi4_updates.hpp"

#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace {

using namespace phyflow::lattice;

std::vector<std::vector<int>> extents() {
  return {{16}, {8, 8}, {4, 4, 8}, {4, 4, 4, 4}};
}

std::string text(const std::vector<int>& G) {
  std::string t;
  for (std::size_t k = 0; k < G.size(); ++k) t += (k ? "x" : "") + std::to_string(G[k]);
  return t;
}

TEST(Phi4Field, RejectsBadGeometry) {
  EXPECT_THROW(Phi4Field::check_geometry({}), phyflow::Error);
  EXPECT_THROW(Phi4Field::check_geometry({4, 4, 4, 4, 4}), phyflow::Error);
  EXPECT_THROW(Phi4Field::check_geometry({7, 7}), phyflow::Error);
  EXPECT_NO_THROW(Phi4Field::check_geometry({2, 2, 2, 2}));
}

TEST(ExactSum, OrderIndependentAndAccurate) {
  std::vector<double> x;
  for (int i = 0; i < 1000; ++i) x.push_back(std::sin(i * 1.7) * std::pow(10.0, i % 7 - 3));
  ExactSum a, b;
  double plain = 0.0;
  for (double v : x) a.add(v), plain += v;
  for (auto it = x.rbegin(); it != x.rend(); ++it) b.add(*it);
  a.normalise();
  b.normalise();
  EXPECT_EQ(a.hi, b.hi);
  EXPECT_EQ(a.lo, b.lo);
  EXPECT_NEAR(a.value(), plain, 1e-9);
  ExactSum neg;
  neg.add(-2.25);
  neg.normalise();
  EXPECT_EQ(neg.value(), -2.25);
}

// Device lambdas live in free functions: nvcc refuses extended lambdas inside a TEST body
// (GoogleTest's TestBody is a private member function).
double sum_of_constant(const Phi4Field& field, double c) {
  return field.sum(KOKKOS_LAMBDA(std::int64_t) { return c; }).value();
}
double sum_of_shifted(const Phi4Field& field, double shift) {
  const auto phi = field.data();
  return field.sum(KOKKOS_LAMBDA(std::int64_t p) { return shift + phi(p); }).value();
}
template <class View>
void negate(const View& p) {
  Kokkos::parallel_for(p.extent(0), KOKKOS_LAMBDA(std::size_t i) { p(i) = -p(i); });
}

TEST(ExactSum, FieldSumsWithCarries) {
  // Fractions near 1 on every site: the fraction sums carry many times per row.
  Phi4Field field(CartDecomposition(MPI_COMM_WORLD, std::vector<int>{64, 512}));
  field.fill(-0.3);
  const double s = sum_of_constant(field, -0.3);
  EXPECT_NEAR(s, -0.3 * 64 * 512, 1e-7);
  const double q = sum_of_shifted(field, 1e6);
  EXPECT_NEAR(q, (1e6 - 0.3) * 64 * 512, 1e-3);
}

// A site's term replaced by `spike` where phi > 0.9 (a free function: see above).
ExactSum sum_with_spikes(const Phi4Field& field, double spike) {
  const auto phi = field.data();
  return field.sum(KOKKOS_LAMBDA(std::int64_t p) { return phi(p) > 0.9 ? spike : phi(p); });
}

TEST(ExactSum, OutOfRangeTermsAreCountedNotWrapped) {
  // Converting a double of 2^63 or more (or NaN) to int64 is undefined; such terms used to
  // wrap around and a diverged HMC trajectory could come out with dH <= 0 and be accepted.
  ExactSum s;
  s.add(1.5);
  s.add(std::ldexp(1.0, 60));
  s.add(std::numeric_limits<double>::infinity());
  s.add(std::numeric_limits<double>::quiet_NaN());
  s.add(-std::ldexp(1.0, 52));
  EXPECT_EQ(s.out_of_range, 4);
  EXPECT_FALSE(s.exact());
  EXPECT_TRUE(std::isnan(s.value()));
  ExactSum edge;
  edge.add(std::ldexp(1.0, 52) - 0.5);
  edge.add(-std::ldexp(1.0, 52) + 1.0);
  edge.normalise();
  EXPECT_TRUE(edge.exact());
  EXPECT_EQ(edge.value(), 0.5);
  ExactSum diff = edge - s;  // an inexact operand makes the difference inexact
  EXPECT_TRUE(std::isnan(diff.value()));

  // The field sum counts the same sites on any rank count (ctest: 1, 2, 4).
  Phi4Field field(CartDecomposition(MPI_COMM_WORLD, std::vector<int>{8, 8}));
  field.fill_random(3);
  std::int64_t spikes = 0;
  double rest = 0.0;
  for (double x : field.gather()) {
    if (x > 0.9)
      ++spikes;
    else
      rest += x;
  }
  ASSERT_GT(spikes, 0);
  for (double spike : {1e20, -std::ldexp(1.0, 52), std::numeric_limits<double>::infinity(),
                       std::numeric_limits<double>::quiet_NaN()}) {
    const ExactSum t = sum_with_spikes(field, spike);
    EXPECT_EQ(t.out_of_range, spikes) << spike;
    EXPECT_TRUE(std::isnan(t.value())) << spike;
  }
  const ExactSum fine = sum_with_spikes(field, 0.0);
  EXPECT_TRUE(fine.exact());
  EXPECT_NEAR(fine.value(), rest, 1e-9);
}

TEST(Phi4Field, ActionAndForceMatchSerialReference) {
  const Phi4Couplings c{-1.3, 0.7};
  for (const auto& G : extents()) {
    SCOPED_TRACE(text(G));
    Phi4Field field(CartDecomposition(MPI_COMM_WORLD, G));
    field.fill_random(11);
    const std::vector<double> phi = field.gather();
    const int d = static_cast<int>(G.size());
    // Serial reference (cubic lattices only, as phi4_action.hpp).
    bool cubic = true;
    for (int e : G) cubic = cubic && e == G[0];
    // Halo: every ghost equals its periodic neighbour (checked through the force below), and
    // the exact-sum action equals the serial one.
    const double s = phi4_field_action(field, c).value();
    double s_ref = 0.0;
    std::vector<double> grad_ref(phi.size(), 0.0);
    {
      // Brute force over the global lattice with general extents.
      std::vector<long> stride(d, 1);
      for (int k = d - 2; k >= 0; --k) stride[k] = stride[k + 1] * G[k + 1];
      auto nb = [&](long i, int k, int dir) {
        const long x = (i / stride[k]) % G[k];
        return i + (((x + dir + G[k]) % G[k]) - x) * stride[k];
      };
      for (long i = 0; i < static_cast<long>(phi.size()); ++i) {
        double fwd = 0.0, both = 0.0;
        for (int k = 0; k < d; ++k) {
          fwd += phi[nb(i, k, +1)];
          both += phi[nb(i, k, +1)] + phi[nb(i, k, -1)];
        }
        const double x = phi[i];
        s_ref += (2 * d + c.m2) * x * x - 2 * x * fwd + c.lambda * x * x * x * x;
        grad_ref[i] = 2 * (2 * d + c.m2) * x - 2 * both + 4 * c.lambda * x * x * x;
      }
    }
    EXPECT_NEAR(s, s_ref, 1e-9 * std::fabs(s_ref) + 1e-9);
    if (cubic) EXPECT_NEAR(s, phi4_action(phi.data(), d, G[0], c), 1e-9 * std::fabs(s_ref) + 1e-9);
    if (cubic) {
      std::vector<double> g2(phi.size());
      phi4_action_gradient(phi.data(), d, G[0], c, g2.data());
      for (std::size_t i = 0; i < g2.size(); ++i) ASSERT_NEAR(grad_ref[i], g2[i], 1e-12);
    }
    // Force: a kick of eps = 1 on zero momenta leaves p = -dS/dphi.
    Phi4Hmc hmc(c, Phi4Integrator::leapfrog, 1, 1.0);
    auto p = hmc.make_momenta(field);
    hmc.kick(field, p, 1.0);
    Phi4Field pf(field.decomposition());
    Kokkos::deep_copy(pf.data(), p);
    const std::vector<double> force = pf.gather();
    for (std::size_t i = 0; i < force.size(); ++i) ASSERT_NEAR(-force[i], grad_ref[i], 1e-12) << i;
  }
}

TEST(Phi4Updates, RankIndependentBitwise) {
  const Phi4Couplings c{-4.0, 8.0};
  for (const auto& G : extents()) {
    SCOPED_TRACE(text(G));
    Phi4Field dist(CartDecomposition(MPI_COMM_WORLD, G));
    Phi4Field one(CartDecomposition(MPI_COMM_SELF, G));
    dist.fill_random(3);
    one.fill_random(3);
    const Phi4Metropolis metro(c, 0.9, 2);
    std::int64_t acc_d = 0, acc_1 = 0;
    for (std::uint64_t s = 0; s < 5; ++s) {
      acc_d += metro.sweep(dist, 7, s);
      acc_1 += metro.sweep(one, 7, s);
    }
    EXPECT_EQ(acc_d, acc_1);
    EXPECT_GT(acc_d, 0);
    for (auto integ : {Phi4Integrator::leapfrog, Phi4Integrator::omelyan}) {
      const Phi4Hmc hmc(c, integ, 5, 0.5);
      for (std::uint64_t t = 0; t < 4; ++t) {
        const HmcResult a = hmc.trajectory(dist, 7, t), b = hmc.trajectory(one, 7, t);
        EXPECT_EQ(a.accepted, b.accepted);
        EXPECT_EQ(std::memcmp(&a.delta_h, &b.delta_h, sizeof(double)), 0);
      }
    }
    const std::vector<double> x = dist.gather(), y = one.gather();
    ASSERT_EQ(x.size(), y.size());
    EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(double)), 0);
    if (G.size() == 1 || G[0] == G.back()) {
      const Phi4Sample sd = phi4_measure(dist, c);
      const Phi4Sample s1 = phi4_measure(one, c);
      EXPECT_EQ(std::memcmp(&sd.magnetization, &s1.magnetization, sizeof(double)), 0);
      EXPECT_EQ(std::memcmp(&sd.action, &s1.action, sizeof(double)), 0);
      EXPECT_EQ(std::memcmp(sd.correlator.data(), s1.correlator.data(),
                            sd.correlator.size() * sizeof(double)), 0);
    }
  }
}

TEST(Phi4Observables, SliceCorrelatorByBruteForce) {
  const std::vector<int> G{8, 8};
  Phi4Field field(CartDecomposition(MPI_COMM_WORLD, G));
  field.fill_random(5);
  const std::vector<double> phi = field.gather();
  const Phi4Sample s = phi4_measure(field, {0.5, 0.1});
  double M = 0.0, p2 = 0.0;
  for (double v : phi) M += v, p2 += v * v;
  EXPECT_NEAR(s.magnetization, M / 64.0, 1e-12);
  EXPECT_NEAR(s.phi2, p2 / 64.0, 1e-12);
  double sum_c = 0.0;
  for (int t = 0; t < 8; ++t) {
    // C(t) = 1/(V d) sum_mu sum_x sum_{y: y_mu = x_mu + t} phi_x phi_y.
    double ref = 0.0;
    for (int a = 0; a < 64; ++a)
      for (int b = 0; b < 64; ++b) {
        if ((a / 8 + t) % 8 == b / 8) ref += phi[a] * phi[b];
        if ((a % 8 + t) % 8 == b % 8) ref += phi[a] * phi[b];
      }
    EXPECT_NEAR(s.correlator[t], ref / (64.0 * 2), 1e-11) << t;
    sum_c += s.correlator[t];
  }
  EXPECT_NEAR(sum_c, M * M / 64.0, 1e-10);
}

TEST(Phi4Hmc, Reversible) {
  const Phi4Couplings c{-4.0, 8.0};
  for (const auto& G : extents()) {
    for (auto integ : {Phi4Integrator::leapfrog, Phi4Integrator::omelyan}) {
      SCOPED_TRACE(text(G));
      Phi4Field field(CartDecomposition(MPI_COMM_WORLD, G));
      field.fill_random(21);
      const std::vector<double> start = field.gather();
      const Phi4Hmc hmc(c, integ, 10, 1.0);
      auto p = hmc.make_momenta(field);
      hmc.draw_momenta(field, p, 4, 0);
      Phi4Field pf(field.decomposition());
      Kokkos::deep_copy(pf.data(), p);
      const std::vector<double> p0 = pf.gather();
      hmc.integrate(field, p);
      const double moved = [&] {
        const auto mid = field.gather();
        double m = 0.0;
        for (std::size_t i = 0; i < mid.size(); ++i) m = std::max(m, std::fabs(mid[i] - start[i]));
        return m;
      }();
      EXPECT_GT(moved, 1e-2);  // the trajectory went somewhere
      negate(p);
      hmc.integrate(field, p);
      const std::vector<double> back = field.gather();
      Kokkos::deep_copy(pf.data(), p);
      const std::vector<double> p1 = pf.gather();
      for (std::size_t i = 0; i < back.size(); ++i) {
        ASSERT_NEAR(back[i], start[i], 1e-10) << i;
        ASSERT_NEAR(-p1[i], p0[i], 1e-10) << i;
      }
    }
  }
}

TEST(Phi4Hmc, DivergedTrajectoryIsRejectedAndTheFieldRestored) {
  const Phi4Couplings c{-4.0, 8.0};
  Phi4Field field(CartDecomposition(MPI_COMM_WORLD, std::vector<int>{8, 8}));
  field.fill_random(5);
  const std::vector<double> start = field.gather();
  // eps = 3 against a quartic force: the leapfrog overflows within a few steps.
  const Phi4Hmc wild(c, Phi4Integrator::leapfrog, 10, 30.0);
  const HmcResult r = wild.trajectory(field, 7, 0);
  EXPECT_TRUE(r.diverged);
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(r.delta_h, std::numeric_limits<double>::infinity());
  EXPECT_EQ(field.gather(), start);
  // A sane step from the same field is neither flagged nor infinite.
  const Phi4Hmc tame(c, Phi4Integrator::leapfrog, 10, 1.0);
  const HmcResult ok = tame.trajectory(field, 7, 1);
  EXPECT_FALSE(ok.diverged);
  EXPECT_TRUE(std::isfinite(ok.delta_h));
  // A field already out of range is an error, and its observables are NaN, not garbage.
  field.fill(1e14);
  EXPECT_THROW(tame.trajectory(field, 7, 2), phyflow::Error);
  const Phi4Sample bad = phi4_measure(field, c);
  EXPECT_TRUE(std::isnan(bad.magnetization));
  EXPECT_TRUE(std::isnan(bad.phi2));
  EXPECT_TRUE(std::isnan(bad.action));
}

/// sqrt(<dH^2>) over a few momentum draws from one configuration.
double rms_energy_error(Phi4Integrator integ, int steps) {
  const Phi4Couplings c{-4.0, 8.0};
  Phi4Field field(CartDecomposition(MPI_COMM_WORLD, std::vector<int>{8, 8}));
  field.fill_random(8);
  const Phi4Hmc hmc(c, integ, steps, 1.0);
  double sum2 = 0.0;
  const int draws = 8;
  for (int t = 0; t < draws; ++t) {
    field.fill_random(8);
    auto p = hmc.make_momenta(field);
    hmc.draw_momenta(field, p, 13, static_cast<std::uint64_t>(t));
    const ExactSum h0 = hmc.hamiltonian(field, p);
    hmc.integrate(field, p);
    const double dh = (hmc.hamiltonian(field, p) - h0).value();
    sum2 += dh * dh;
  }
  return std::sqrt(sum2 / draws);
}

TEST(Phi4Hmc, EnergyErrorScalesAsEpsSquared) {
  for (auto integ : {Phi4Integrator::leapfrog, Phi4Integrator::omelyan}) {
    const double e1 = rms_energy_error(integ, 40), e2 = rms_energy_error(integ, 80);
    const double ratio = e1 / e2;  // eps halved: dH / 4
    EXPECT_GT(ratio, 3.3) << (integ == Phi4Integrator::leapfrog ? "leapfrog" : "omelyan");
    EXPECT_LT(ratio, 4.7) << (integ == Phi4Integrator::leapfrog ? "leapfrog" : "omelyan");
  }
  EXPECT_LT(rms_energy_error(Phi4Integrator::omelyan, 40),
            0.5 * rms_energy_error(Phi4Integrator::leapfrog, 40));
}

}  // namespace
