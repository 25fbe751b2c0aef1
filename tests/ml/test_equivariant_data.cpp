// The equivariant-learning data sets (ml/equivariant_data.hpp) against hand-computed values,
// their symmetries, the input distributions, and the double spring pendulum: Hamilton's
// equations against finite differences of H, its equilibrium, energy conservation of the RK4
// trajectories, and chunks cut from the same trajectories as the rollouts.
#include "phyflow/core/error.hpp"
#include "phyflow/ml/equivariant_data.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace phyflow;
using namespace phyflow::ml::equivariant;

TEST(EquivariantData, O5HandComputed) {
  // x1 = e0, x2 = 2 e1: sin 1 - 8/2 + 0.
  double x[10] = {1, 0, 0, 0, 0, 0, 2, 0, 0, 0};
  EXPECT_DOUBLE_EQ(o5_target(x), std::sin(1.0) - 4.0);
  // x1 = x2 = (3, 0, 0, 0, 4), |x| = 5: sin 5 - 125/2 + 1.
  double y[10] = {3, 0, 0, 0, 4, 3, 0, 0, 0, 4};
  EXPECT_NEAR(o5_target(y), std::sin(5.0) - 62.5 + 1.0, 1e-13);
}

TEST(EquivariantData, InertiaHandComputed) {
  // One mass 2 at (1, 2, 3), the others massless: I = 2 (14 I - r r^T).
  double x[20] = {2, 1, 2, 3};
  for (int i = 1; i < 5; ++i) {
    x[4 * i] = 0;
    x[4 * i + 1] = 5.0 * i, x[4 * i + 2] = -1, x[4 * i + 3] = 7;
  }
  double y[9];
  inertia_target(x, y);
  const double expect[9] = {26, -4, -6, -4, 20, -12, -6, -12, 10};
  for (int k = 0; k < 9; ++k) EXPECT_DOUBLE_EQ(y[k], expect[k]) << k;
  // Two unit masses at +-e_z: Ixx = Iyy = 2, Izz = 0.
  double z[20] = {1, 0, 0, 1, 1, 0, 0, -1};
  inertia_target(z, y);
  EXPECT_DOUBLE_EQ(y[0], 2);
  EXPECT_DOUBLE_EQ(y[4], 2);
  EXPECT_DOUBLE_EQ(y[8], 0);
}

TEST(EquivariantData, LorentzHandComputed) {
  // All four momenta (1, 0, 0, 0): Le = Lmu = e0 e0^T, y = 4.
  double a[16] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0};
  EXPECT_DOUBLE_EQ(lorentz_target(a), 4.0);
  // p1 = (2,1,0,0), p2 = (1,0,0,0), p3 = (1,0,0,0), p4 = (0,1,0,0):
  // p1.p3 - p1.p1 = 2 - 3 = -1 -> Le = p1 p3^T + eta; p2.p4 - p2.p2 = -1 -> Lmu = (eta p2)(eta p4)^T
  // + eta; sum Le.Lmu = 3*1 + 1*0 + 0*(-1) + 3 * (-1)(-1) = 6, y = 24.
  double b[16] = {2, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0};
  EXPECT_DOUBLE_EQ(lorentz_target(b), 24.0);
}

namespace {
/// A random orthogonal n x n matrix (Gram-Schmidt of a Gaussian matrix), row-major.
std::vector<double> random_orthogonal(int n, std::mt19937_64& gen) {
  std::normal_distribution<double> g;
  std::vector<double> q(std::size_t(n * n));
  for (auto& v : q) v = g(gen);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < i; ++j) {
      double d = 0;
      for (int k = 0; k < n; ++k) d += q[i * n + k] * q[j * n + k];
      for (int k = 0; k < n; ++k) q[i * n + k] -= d * q[j * n + k];
    }
    double s = 0;
    for (int k = 0; k < n; ++k) s += q[i * n + k] * q[i * n + k];
    for (int k = 0; k < n; ++k) q[i * n + k] /= std::sqrt(s);
  }
  return q;
}
void apply(const std::vector<double>& m, int n, double* v) {
  std::vector<double> r(std::size_t(n), 0.0);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < n; ++k) r[i] += m[i * n + k] * v[k];
  for (int i = 0; i < n; ++i) v[i] = r[i];
}
}  // namespace

TEST(EquivariantData, TargetsTransformAsTheirTypes) {
  std::mt19937_64 gen(11);
  for (std::uint64_t i = 0; i < 20; ++i) {
    double x[20], y[9], xr[20], yr[9];
    // O(5): invariant.
    draw_inputs(Kind::o5, 4, i, x);
    const auto q5 = random_orthogonal(5, gen);
    std::copy(x, x + 10, xr);
    apply(q5, 5, xr), apply(q5, 5, xr + 5);
    EXPECT_NEAR(o5_target(xr), o5_target(x), 1e-11 * (1 + std::abs(o5_target(x))));
    // O(3): I -> R I R^T.
    draw_inputs(Kind::inertia, 4, i, x);
    const auto r = random_orthogonal(3, gen);
    std::copy(x, x + 20, xr);
    for (int b = 0; b < 5; ++b) apply(r, 3, xr + 4 * b + 1);
    inertia_target(x, y), inertia_target(xr, yr);
    for (int a = 0; a < 3; ++a)
      for (int c = 0; c < 3; ++c) {
        double rir = 0;
        for (int k = 0; k < 3; ++k)
          for (int l = 0; l < 3; ++l) rir += r[a * 3 + k] * y[3 * k + l] * r[c * 3 + l];
        EXPECT_NEAR(yr[3 * a + c], rir, 1e-11 * (1 + std::abs(rir)));
      }
    // Lorentz: a boost along x with rapidity 0.7, then a rotation about z: invariant.
    draw_inputs(Kind::lorentz, 4, i, x);
    const double ch = std::cosh(0.7), sh = std::sinh(0.7), c = std::cos(1.1), s = std::sin(1.1);
    const std::vector<double> boost = {ch, sh, 0, 0, sh, ch, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    const std::vector<double> rot = {1, 0, 0, 0, 0, c, -s, 0, 0, s, c, 0, 0, 0, 0, 1};
    std::copy(x, x + 16, xr);
    for (int b = 0; b < 4; ++b) apply(boost, 4, xr + 4 * b), apply(rot, 4, xr + 4 * b);
    EXPECT_NEAR(lorentz_target(xr), lorentz_target(x), 1e-11 * (1 + std::abs(lorentz_target(x))));
  }
}

TEST(EquivariantData, InputsAreTheEmlpDistributionsAndDependOnlyOnSeedAndIndex) {
  const int n = 4000;
  double sum[20] = {}, sq[20] = {};
  double x[20], again[20];
  for (int i = 0; i < n; ++i) {
    draw_inputs(Kind::lorentz, 9, std::uint64_t(i), x);
    for (int k = 0; k < 16; ++k) sum[k] += x[k], sq[k] += x[k] * x[k];
  }
  for (int k = 0; k < 16; ++k) {
    // N(0, 1/16): mean within 5 sigma = 5 * 0.25 / sqrt(n); variance within 5 sigma.
    EXPECT_NEAR(sum[k] / n, 0.0, 5 * 0.25 / std::sqrt(double(n))) << k;
    EXPECT_NEAR(sq[k] / n, 1.0 / 16, 5 * std::sqrt(2.0) / 16 / std::sqrt(double(n))) << k;
  }
  draw_inputs(Kind::inertia, 9, 123, x);
  draw_inputs(Kind::inertia, 9, 123, again);
  for (int k = 0; k < 20; ++k) EXPECT_EQ(x[k], again[k]);
  for (int b = 0; b < 5; ++b) EXPECT_GT(x[4 * b], 0.0);  // softplus masses
  draw_inputs(Kind::inertia, 10, 123, again);
  EXPECT_NE(x[1], again[1]);
  EXPECT_THROW(kind_from_name("o3", "deck"), Error);
}

TEST(EquivariantPendulum, HamiltonsEquationsAreMinusGradientOfH) {
  double z[12];
  pendulum_initial(2, 7, z);
  double dz[12];
  pendulum_dynamics(z, dz);
  const double h = 1e-6;
  for (int i = 0; i < 12; ++i) {
    double zp[12], zm[12];
    std::copy(z, z + 12, zp), std::copy(z, z + 12, zm);
    zp[i] += h, zm[i] -= h;
    const double dH = (pendulum_energy(zp) - pendulum_energy(zm)) / (2 * h);
    // dx/dt = dH/dp, dp/dt = -dH/dx.
    const double expect = i < 6 ? -dz[i + 6] : dz[i - 6];
    EXPECT_NEAR(dH, expect, 1e-8) << i;
  }
}

TEST(EquivariantPendulum, EquilibriumIsAFixedPoint) {
  // Spring 2 carries bob 2's weight: 2 (l12 - 1) = 1; spring 1 carries both: l1 - 1 = 2.
  double z[12] = {0, 0, -3, 0, 0, -4.5, 0, 0, 0, 0, 0, 0};
  double dz[12];
  pendulum_dynamics(z, dz);
  for (double v : dz) EXPECT_DOUBLE_EQ(v, 0.0);
}

TEST(EquivariantPendulum, RolloutsConserveEnergyAndChunksAreCutFromThem) {
  PendulumSampling roll;
  roll.rollout = true;
  ASSERT_EQ(roll.steps(), 149);  // arange(0, 30, 0.2) has 150 points
  PendulumSampling chunks;
  ASSERT_EQ(chunks.steps(), 4);
  std::vector<double> y(149 * 12), yc(4 * 12);
  double x[12], xc[12];
  int later_chunks = 0;
  for (std::uint64_t i = 0; i < 6; ++i) {
    pendulum_sample(roll, 5, i, x, y.data());
    const double e0 = pendulum_energy(x);
    for (int k = 0; k < 149; ++k)
      EXPECT_NEAR(pendulum_energy(&y[std::size_t(k) * 12]), e0, 1e-6) << i << " " << k;
    pendulum_sample(chunks, 5, i, xc, yc.data());
    // The chunk starts at a state 5c of the same trajectory, and its targets follow it.
    int c = -1;
    for (int s = 0; s < 30 && c < 0; ++s) {
      const double* state = s == 0 ? x : &y[std::size_t(5 * s - 1) * 12];
      if (std::equal(xc, xc + 12, state)) c = s;
    }
    ASSERT_GE(c, 0) << "chunk of trajectory " << i << " is not on its rollout";
    later_chunks += c > 0;
    for (int k = 0; k < 4; ++k)
      for (int j = 0; j < 12; ++j) EXPECT_EQ(yc[std::size_t(k) * 12 + j], y[std::size_t(5 * c + k) * 12 + j]);
  }
  EXPECT_GT(later_chunks, 0);
}
