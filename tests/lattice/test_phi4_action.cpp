// The phi^4 action and its conventions: each convention's action written out from its own
// formula agrees with the AKS action at the converted couplings and rescaled field; the
// published tutorial point has the hopping form the references derive; the gradient matches
// finite differences; the free-field <phi^2> and chi2 match a direct inversion of the
// quadratic form.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "phyflow/core/error.hpp"
#include "phyflow/lattice/phi4_action.hpp"

namespace {

using namespace phyflow::lattice;

/// Site coordinates <-> row-major index, independent of the library's own helpers.
struct Lattice {
  int d, L;
  std::size_t volume() const { return static_cast<std::size_t>(std::pow(L, d) + 0.5); }
  std::size_t shifted(std::size_t x, int mu, int step) const {
    std::vector<int> c(d);
    for (int nu = d - 1; nu >= 0; --nu) {
      c[nu] = static_cast<int>(x % L);
      x /= L;
    }
    c[mu] = (c[mu] + step + L) % L;
    std::size_t y = 0;
    for (int nu = 0; nu < d; ++nu) y = y * L + c[nu];
    return y;
  }
};

std::vector<double> random_field(std::size_t n, unsigned seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<double> phi(n);
  for (auto& p : phi) p = normal(rng);
  return phi;
}

/// AKS eq. 20 term by term, with both the forward and the backward neighbour.
double aks_written_out(const Lattice& g, const std::vector<double>& phi, double m2, double lam) {
  double s = 0.0;
  for (std::size_t x = 0; x < g.volume(); ++x) {
    for (int mu = 0; mu < g.d; ++mu)
      s += 2 * phi[x] * phi[x] - phi[x] * phi[g.shifted(x, mu, 1)] -
           phi[x] * phi[g.shifted(x, mu, -1)];
    s += m2 * phi[x] * phi[x] + lam * std::pow(phi[x], 4);
  }
  return s;
}

double normflow_written_out(const Lattice& g, const std::vector<double>& phi, double kappa,
                            double m_sq, double lam) {
  double s = 0.0;
  for (std::size_t x = 0; x < g.volume(); ++x) {
    for (int mu = 0; mu < g.d; ++mu) s += kappa / 2 * std::pow(phi[g.shifted(x, mu, 1)] - phi[x], 2);
    s += m_sq / 2 * phi[x] * phi[x] + lam * std::pow(phi[x], 4);
  }
  return s;
}

double hopping_written_out(const Lattice& g, const std::vector<double>& phi, double kappa,
                           double lam_h) {
  double s = 0.0;
  for (std::size_t x = 0; x < g.volume(); ++x) {
    for (int mu = 0; mu < g.d; ++mu) s += -2 * kappa * phi[x] * phi[g.shifted(x, mu, 1)];
    s += (1 - 2 * lam_h) * phi[x] * phi[x] + lam_h * std::pow(phi[x], 4);
  }
  return s;
}

std::vector<double> scaled(std::vector<double> v, double a) {
  for (auto& x : v) x *= a;
  return v;
}

TEST(Phi4Action, EqualsTheAksFormulaInEveryDimension) {
  for (int d = 1; d <= 4; ++d) {
    const Lattice g{d, d == 4 ? 3 : 4};
    const auto phi = random_field(g.volume(), 11 + d);
    const double expected = aks_written_out(g, phi, -4.0, 8.0);
    EXPECT_NEAR(phi4_action(phi.data(), d, g.L, {-4.0, 8.0}), expected, 1e-12 * std::abs(expected))
        << "d = " << d;
  }
}

TEST(Phi4Action, NormflowConventionIsTheSameTheory) {
  // kappa = 2 with m_sq = 2 m2 is the AKS action itself (REFERENCES.md); any kappa after the
  // field rescaling.
  const Lattice g{2, 5};
  const auto phi = random_field(g.volume(), 3);
  for (double kappa : {2.0, 0.7, 3.5}) {
    const Phi4Normflow nf{kappa, -1.3, 0.9};
    const Phi4InAks aks = from_normflow(nf);
    const double s_nf = normflow_written_out(g, phi, nf.kappa, nf.m_sq, nf.lambda);
    const auto phi_aks = scaled(phi, aks.field_scale);
    EXPECT_NEAR(phi4_action(phi_aks.data(), 2, g.L, aks.couplings), s_nf, 1e-12 * std::abs(s_nf));
    const Phi4Normflow back = to_normflow(aks.couplings, kappa);
    EXPECT_NEAR(back.m_sq, nf.m_sq, 1e-14);
    EXPECT_NEAR(back.lambda, nf.lambda, 1e-14);
  }
  const Phi4InAks two = from_normflow({2.0, -8.0, 8.0});
  EXPECT_DOUBLE_EQ(two.field_scale, 1.0);
  EXPECT_DOUBLE_EQ(two.couplings.m2, -4.0);
  EXPECT_DOUBLE_EQ(two.couplings.lambda, 8.0);
}

TEST(Phi4Action, HoppingConventionIsTheSameTheory) {
  for (int d = 1; d <= 3; ++d) {
    const Lattice g{d, 4};
    const auto phi = random_field(g.volume(), 7 + d);
    const Phi4Hopping h{0.18, 0.3};
    const Phi4InAks aks = from_hopping(h, d);
    const double s_h = hopping_written_out(g, phi, h.kappa, h.lambda);
    const auto phi_aks = scaled(phi, aks.field_scale);
    EXPECT_NEAR(phi4_action(phi_aks.data(), d, g.L, aks.couplings), s_h, 1e-12 * std::abs(s_h));
    const Phi4Hopping back = to_hopping(aks.couplings, d);
    EXPECT_NEAR(back.kappa, h.kappa, 1e-14);
    EXPECT_NEAR(back.lambda, h.lambda, 1e-14);
  }
}

TEST(Phi4Action, TutorialPointInHoppingForm) {
  // d = 2, m2 = -4, lambda = 8  <=>  kappa = 0.25, lambda_h = 0.5 (REFERENCES.md).
  const Phi4Hopping h = to_hopping({-4.0, 8.0}, 2);
  EXPECT_NEAR(h.kappa, 0.25, 1e-15);
  EXPECT_NEAR(h.lambda, 0.5, 1e-15);
  EXPECT_THROW(to_hopping({-5.0, 0.0}, 2), phyflow::Error);
  EXPECT_THROW(from_hopping({0.0, 0.5}, 2), phyflow::Error);
  EXPECT_THROW(from_normflow({-1.0, 1.0, 1.0}), phyflow::Error);
  EXPECT_THROW(phi4_volume(5, 4), phyflow::Error);
  EXPECT_THROW(phi4_volume(2, 1), phyflow::Error);
}

TEST(Phi4Action, GradientMatchesFiniteDifferences) {
  const Lattice g{3, 3};
  auto phi = random_field(g.volume(), 5);
  const Phi4Couplings c{-2.5, 1.7};
  std::vector<double> grad(g.volume());
  phi4_action_gradient(phi.data(), 3, g.L, c, grad.data());
  const double h = 1e-5;
  for (std::size_t x = 0; x < g.volume(); x += 4) {
    const double keep = phi[x];
    phi[x] = keep + h;
    const double up = phi4_action(phi.data(), 3, g.L, c);
    phi[x] = keep - h;
    const double down = phi4_action(phi.data(), 3, g.L, c);
    phi[x] = keep;
    EXPECT_NEAR(grad[x], (up - down) / (2 * h), 1e-6 * (1 + std::abs(grad[x])));
  }
}

/// (2A)^-1 of the quadratic form S = phi^T A phi by Gauss-Jordan, A read off the action.
/// The inverse of the Hessian of S (the free field's covariance); log_det: log det of the
/// Hessian (the product of the elimination's pivots).
std::vector<double> free_covariance(const Lattice& g, double m2, double* log_det = nullptr) {
  const std::size_t n = g.volume();
  std::vector<double> a(n * n), inv(n * n, 0.0);
  std::vector<double> e(n, 0.0), grad(n);
  for (std::size_t j = 0; j < n; ++j) {  // column j of 2A = gradient of S at the unit vector
    e.assign(n, 0.0);
    e[j] = 1.0;
    phi4_action_gradient(e.data(), g.d, g.L, {m2, 0.0}, grad.data());
    for (std::size_t i = 0; i < n; ++i) a[i * n + j] = grad[i];
    inv[j * n + j] = 1.0;
  }
  for (std::size_t p = 0; p < n; ++p) {
    const double pivot = a[p * n + p];
    if (log_det) *log_det += std::log(pivot);
    for (std::size_t j = 0; j < n; ++j) {
      a[p * n + j] /= pivot;
      inv[p * n + j] /= pivot;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (i == p) continue;
      const double f = a[i * n + p];
      for (std::size_t j = 0; j < n; ++j) {
        a[i * n + j] -= f * a[p * n + j];
        inv[i * n + j] -= f * inv[p * n + j];
      }
    }
  }
  return inv;
}

TEST(Phi4Action, FreeFieldReferencesMatchDirectInversion) {
  for (int d = 1; d <= 3; ++d) {
    const Lattice g{d, d == 3 ? 3 : 5};
    const double m2 = 0.6;
    double log_det = 0.0;
    const auto cov = free_covariance(g, m2, &log_det);
    const std::size_t n = g.volume();
    // Z = int exp(-S) = (2 pi)^(V/2) det(Hessian)^(-1/2).
    EXPECT_NEAR(free_field_log_z(d, g.L, m2),
                0.5 * double(n) * std::log(2.0 * M_PI) - 0.5 * log_det, 1e-10)
        << "d = " << d;
    EXPECT_NEAR(free_field_phi2(d, g.L, m2), cov[0], 1e-12) << "d = " << d;
    double chi2 = 0.0;
    for (std::size_t x = 0; x < n; ++x) chi2 += cov[x];
    EXPECT_NEAR(free_field_chi2(m2), chi2, 1e-12) << "d = " << d;
  }
  EXPECT_THROW(free_field_phi2(2, 4, 0.0), phyflow::Error);
  EXPECT_THROW(free_field_log_z(2, 4, -1.0), phyflow::Error);
}

}  // namespace
