// Exact 2D Ising thermodynamics: Kaufman's finite periodic lattice, Onsager's energy and Yang's
// magnetisation. See exact_ising.hpp for the convention and docs/analysis.md for the derivation.
#include "phyflow/lattice/exact_ising.hpp"

#include "phyflow/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace phyflow::lattice {
namespace {

constexpr double kLog2 = 0.69314718055994530942;
constexpr double kPi = 3.14159265358979323846;

// Kaufman (1949), as written by Beale (1996), with K = beta J and N = L M:
//
//   Z = 1/2 (2 sinh 2K)^{N/2} (Z1 + Z2 + Z3 + Z4),
//   Z1 = prod_{r=0}^{L-1} 2 cosh(M gamma_{2r+1}/2),   Z2 = same with sinh,
//   Z3 = prod_{r=0}^{L-1} 2 cosh(M gamma_{2r}/2),     Z4 = same with sinh,
//   cosh gamma_k = cosh 2K coth 2K - cos(pi k / L)   (gamma_k > 0 for k >= 1),
//   gamma_0 = 2K + ln tanh K                          (signed: < 0 above T_c, so Z4 < 0 there).
//
// Evaluating this literally fails three ways: the products overflow, Z3 + Z4 cancel at high T,
// and the prefactor's derivative N coth 2K cancels against that of the gamma_k at small K. So
// we absorb one factor (2 sinh 2K)^{M/2} into every factor of every product. With s = sinh 2K
// and psi_k = gamma_k + ln s,
//
//   (2s)^{M/2} 2 cosh(M gamma_k/2) = e^{Phi_k} (1 + e^{-M gamma_k}),
//   (2s)^{M/2} 2 sinh(M gamma_k/2) = e^{Phi_k} (1 - e^{-M gamma_k})   (times sign gamma_0, k = 0),
//   Phi_k = (M/2)(ln 2 + psi_k).
//
// psi_k has a closed form free of cancellation: with h = sin^2(pi k / 2L),
//   A = (1 - s)^2 + 2 s h,   B = 1 + s^2 + 2 s h,   s e^{gamma_k} = (sqrt A + sqrt B)^2 / 2,
// (from cosh gamma_k = (s^2 + 1 - s cos theta)/s = (A + B)/(2s) and A B = (s cosh gamma_k)^2 - s^2)
// so psi_k = G(s) := 2 ln(sqrt A + sqrt B) - ln 2. G(s) is O(1) for s <= 1; for s > 1 the
// duality s -> 1/s gives psi_k = 2 ln s + G(1/s), which never overflows. Derivatives with respect
// to K follow by the chain rule through s (ds/dK = 2 cosh 2K, d^2s/dK^2 = 4 s).

/// sinh 2K in the forms the formulas need, safe for every K > 0.
struct Coupling {
  double K;
  double log_s;   ///< ln sinh 2K
  double s;       ///< sinh 2K (+inf for K > ~355; only used where s <= 1)
  double t;       ///< 1 / sinh 2K
  double coth2k;  ///< coth 2K
};

Coupling make_coupling(double K) {
  Coupling c{};
  c.K = K;
  if (K < 20.0) {
    c.s = std::sinh(2.0 * K);
    c.log_s = std::log(c.s);
    c.t = 1.0 / c.s;
  } else {
    const double e4 = std::exp(-4.0 * K);
    c.log_s = 2.0 * K - kLog2 + std::log1p(-e4);
    c.t = 2.0 * std::exp(-2.0 * K) / (1.0 - e4);
    c.s = std::sinh(2.0 * K);
  }
  c.coth2k = 1.0 / std::tanh(2.0 * K);
  return c;
}

/// G(x) = 2 ln(sqrt A + sqrt B) - ln 2 and its first two x-derivatives (h fixed, h > 0 or x != 1).
struct GValue {
  double g, gx, gxx;
};

GValue g_function(double x, double h) {
  const double a = std::sqrt((1.0 - x) * (1.0 - x) + 2.0 * x * h);
  const double b = std::sqrt(1.0 + x * x + 2.0 * x * h);
  const double ax = (x - 1.0 + h) / a;  // d sqrt(A)/dx
  const double bx = (x + h) / b;
  const double axx = (1.0 - ax * ax) / a;  // from A'' = 2
  const double bxx = (1.0 - bx * bx) / b;
  const double sum = a + b;
  const double d1 = (ax + bx) / sum;
  return {2.0 * std::log(sum) - kLog2, 2.0 * d1, 2.0 * (axx + bxx) / sum - 2.0 * d1 * d1};
}

/// One mode k: |gamma_k| and psi_k = |gamma_k| + ln s with their K-derivatives.
/// For k = 0 gamma/dgamma/d2gamma are the *signed* gamma_0 and its derivatives, sign its sign.
struct Mode {
  double gamma, dgamma, d2gamma;
  double psi, dpsi, d2psi;
  double sign;
};

Mode zero_mode(const Coupling& c) {
  // gamma_0 = 2K + ln tanh K; d/dK = 2 + 2/s; d^2/dK^2 = -4 cosh 2K / s^2.
  Mode m{};
  const double K = c.K;
  m.gamma = 2.0 * K + std::log(std::tanh(K));
  m.dgamma = 2.0 + 2.0 * c.t;
  m.d2gamma = -4.0 * c.coth2k * c.t;
  m.sign = m.gamma >= 0.0 ? 1.0 : -1.0;
  // psi_0 = |gamma_0| + ln s; its derivative sign*gamma_0' + 2 coth 2K simplifies to
  // -2 + 2 tanh K (above T_c) or 2 + 2 coth K (below), forms without cancellation.
  m.psi = std::fabs(m.gamma) + c.log_s;
  if (m.sign < 0.0) {
    const double ch = std::cosh(K);
    m.dpsi = -2.0 + 2.0 * std::tanh(K);
    m.d2psi = 2.0 / (ch * ch);
  } else {
    const double sh = std::sinh(K);
    m.dpsi = 2.0 + 2.0 / std::tanh(K);
    m.d2psi = -2.0 / (sh * sh);
  }
  return m;
}

Mode nonzero_mode(const Coupling& c, double h) {
  Mode m{};
  m.sign = 1.0;
  if (c.t >= 1.0) {  // s <= 1: psi = G(s)
    const GValue g = g_function(c.s, h);
    const double ds = 2.0 * std::sqrt(1.0 + c.s * c.s);
    m.psi = g.g;
    m.dpsi = g.gx * ds;
    m.d2psi = g.gxx * ds * ds + g.gx * 4.0 * c.s;
  } else {  // s > 1: psi = 2 ln s + G(t), t = 1/s
    const GValue g = g_function(c.t, h);
    const double root = std::sqrt(1.0 + c.t * c.t);  // = coth 2K
    const double dt = -2.0 * c.t * root;
    const double d2t = 4.0 * c.t + 8.0 * c.t * c.t * c.t;
    m.psi = 2.0 * c.log_s + g.g;
    m.dpsi = 4.0 * root + g.gx * dt;
    m.d2psi = -8.0 * c.t * c.t + g.gxx * dt * dt + g.gx * d2t;
  }
  m.gamma = m.psi - c.log_s;
  m.dgamma = m.dpsi - 2.0 * c.coth2k;
  m.d2gamma = m.d2psi + 4.0 * c.t * c.t;
  return m;
}

/// Sum over factors of ln(factor) and its first two K-derivatives.
struct LogSums {
  double value = 0.0, d1 = 0.0, d2 = 0.0;
};

/// Adds ln[e^{Phi}(1 + e^{-M gamma})] (cosh) or ln[e^{Phi}(1 - e^{-M gamma})] (sinh, gamma > 0).
void add_factor(LogSums& sums, const Mode& m, double M, bool hyperbolic_sine) {
  const double half_m = 0.5 * M;
  const double x = M * m.gamma;
  const double dx = M * m.dgamma;
  const double d2x = M * m.d2gamma;
  sums.value += half_m * (kLog2 + m.psi);
  sums.d1 += half_m * m.dpsi;
  sums.d2 += half_m * m.d2psi;
  // The corrections below are skipped once e^{-x} underflows: at extreme beta the derivatives
  // dx, d2x overflow while their weights are exactly 0, and 0 * inf must not poison the sums.
  if (hyperbolic_sine) {
    const double q = 1.0 / std::expm1(x);  // e^{-x}/(1 - e^{-x})
    sums.value += std::log(-std::expm1(-x));
    if (q > 0.0) {
      sums.d1 += dx * q;
      sums.d2 += d2x * q - dx * dx * q * (1.0 + q);
    }
  } else {
    const double e = std::exp(-x);
    const double p = e / (1.0 + e);
    sums.value += std::log1p(e);
    if (p > 0.0) {
      sums.d1 += -dx * p;
      sums.d2 += -d2x * p + dx * dx * p * (1.0 - p);
    }
  }
}

void check_arguments(const char* function, int L, int M, double beta) {
  if (L < 2 || M < 2) {
    throw input_error(std::string(function) + ": the lattice must be at least 2 x 2 (got L = " +
                      std::to_string(L) + ", M = " + std::to_string(M) +
                      "); pass the side lengths of the periodic lattice");
  }
  if (!(beta > 0.0) || !std::isfinite(beta)) {
    throw input_error(std::string(function) + ": beta must be finite and > 0 (got " +
                      std::to_string(beta) + ")");
  }
}

}  // namespace

IsingExactThermodynamics ising2d_exact_thermodynamics(int L, int M, double beta) {
  check_arguments("ising2d_exact_thermodynamics", L, M, beta);
  const Coupling c = make_coupling(beta);
  const double Md = static_cast<double>(M);

  // Each product as e^{lambda} v with derivatives e^{lambda} v', and the centred second
  // derivative  [T'' - 2 m T' + m^2 T] / e^{lambda}  supplied as a function of m (the mean
  // d ln Z/dK), because sum_i (T_i'' - 2 m T_i' + m^2 T_i) / W = d^2 ln Z/dK^2 avoids the
  // O(N^2) cancellation of <E^2> - <E>^2.
  LogSums odd_cosh, odd_sinh, even_cosh, even_sinh_rest;
  for (int k = 1; k < 2 * L; ++k) {
    const double sh = std::sin(kPi * k / (2.0 * L));
    const Mode m = nonzero_mode(c, sh * sh);
    if (k % 2 == 1) {
      add_factor(odd_cosh, m, Md, false);
      add_factor(odd_sinh, m, Md, true);
    } else {
      add_factor(even_cosh, m, Md, false);
      add_factor(even_sinh_rest, m, Md, true);
    }
  }
  const Mode m0 = zero_mode(c);
  Mode m0_abs = m0;  // cosh is even in gamma_0, so Z3 takes |gamma_0| like every other mode
  m0_abs.gamma = std::fabs(m0.gamma);
  m0_abs.dgamma = m0.sign * m0.dgamma;
  m0_abs.d2gamma = m0.sign * m0.d2gamma;
  add_factor(even_cosh, m0_abs, Md, false);

  // Z4's k = 0 factor (2s)^{M/2} 2 sinh(M gamma_0/2) = e^{Phi_0} f with f = sign (1 - E0),
  // E0 = e^{-M |gamma_0|}. f and its derivatives stay finite through T_c, where gamma_0 = 0
  // and ln|f| is singular, so this factor is carried linearly, not in log form.
  const double phi0 = 0.5 * Md * (kLog2 + m0.psi);
  const double dphi0 = 0.5 * Md * m0.dpsi;
  const double d2phi0 = 0.5 * Md * m0.d2psi;
  const double e0 = std::exp(-Md * std::fabs(m0.gamma));
  const double signed_d = m0.sign * -std::expm1(-Md * std::fabs(m0.gamma));
  const double f = signed_d;
  double df = dphi0 * signed_d;
  double d2f = signed_d * (dphi0 * dphi0 + d2phi0);
  if (e0 > 0.0) {
    df += Md * m0.dgamma * e0;
    d2f += Md * e0 * (2.0 * Md * c.coth2k * m0.dgamma + m0.d2gamma);
  }

  struct Term {
    double lambda, v, dv;
    double q1, q2;      // log-derivative sums of the log-form part
    double f, df, d2f;  // linear part (1, 0, 0 for pure log-form terms)
  };
  const Term terms[4] = {
      {odd_cosh.value, 1.0, odd_cosh.d1, odd_cosh.d1, odd_cosh.d2, 1.0, 0.0, 0.0},
      {odd_sinh.value, 1.0, odd_sinh.d1, odd_sinh.d1, odd_sinh.d2, 1.0, 0.0, 0.0},
      {even_cosh.value, 1.0, even_cosh.d1, even_cosh.d1, even_cosh.d2, 1.0, 0.0, 0.0},
      {even_sinh_rest.value + phi0, f, df + f * even_sinh_rest.d1, even_sinh_rest.d1,
       even_sinh_rest.d2, f, df, d2f},
  };

  double lambda_max = terms[0].lambda;
  for (const Term& t : terms) lambda_max = std::max(lambda_max, t.lambda);
  double s0 = 0.0, s1 = 0.0;
  double weight[4];
  for (int i = 0; i < 4; ++i) {
    weight[i] = std::exp(terms[i].lambda - lambda_max);
    s0 += weight[i] * terms[i].v;
    s1 += weight[i] * terms[i].dv;
  }
  const double mean = s1 / s0;  // d ln Z / dK
  double s2 = 0.0;
  for (int i = 0; i < 4; ++i) {
    const Term& t = terms[i];
    const double u = t.q1 - mean;
    s2 += weight[i] * (t.d2f + 2.0 * t.df * u + t.f * (t.q2 + u * u));
  }
  const double curvature = s2 / s0;  // d^2 ln Z / dK^2

  const double n_sites = static_cast<double>(L) * Md;
  IsingExactThermodynamics out{};
  out.log_z = lambda_max + std::log(s0) - kLog2;
  out.energy_per_site = -mean / n_sites;
  // beta^2 overflows before the curvature underflows to exactly 0 (beta ~ 1e300).
  out.specific_heat_per_site = curvature == 0.0 ? 0.0 : beta * (beta * curvature / n_sites);
  return out;
}

double ising2d_exact_log_z(int L, int M, double beta) {
  return ising2d_exact_thermodynamics(L, M, beta).log_z;
}

double ising2d_exact_energy_per_site(int L, int M, double beta) {
  return ising2d_exact_thermodynamics(L, M, beta).energy_per_site;
}

double ising2d_exact_specific_heat_per_site(int L, int M, double beta) {
  return ising2d_exact_thermodynamics(L, M, beta).specific_heat_per_site;
}

double onsager_energy_per_site(double beta) {
  if (!(beta > 0.0) || !std::isfinite(beta)) {
    throw input_error("onsager_energy_per_site: beta must be finite and > 0 (got " +
                      std::to_string(beta) + ")");
  }
  // With s = sinh 2K: 2 tanh^2 2K - 1 = (s^2 - 1)/(s^2 + 1) = sign(s - 1) k', where
  // k' = sqrt(1 - k^2) = |1 - s^2|/(1 + s^2) is the complementary modulus, and
  // K_1(k) = pi / (2 AGM(1, k')). Hence u = -coth 2K [1 + sign(s - 1) k' / AGM(1, k')].
  // At high T, 1 - k'/AGM is O(s^2) and would cancel, so the AGM runs on the deviations
  // a_n = 1 - alpha_n, b_n = 1 - beta_n (alpha_0 = 0, beta_0 = 1 - k' = 2x^2/(1 + x^2) with
  // x = min(s, 1/s), by duality), for which both steps are free of cancellation:
  //   alpha' = (alpha + beta)/2,
  //   beta'  = 1 - sqrt(a b) = (alpha + beta - alpha beta)/(1 + sqrt(a b)).
  const Coupling c = make_coupling(beta);
  const double x = c.t >= 1.0 ? c.s : c.t;
  const double beta0 = 2.0 * x * x / (1.0 + x * x);
  if (beta0 == 1.0) return -c.coth2k;  // T_c: k' = 0 and the K_1 term vanishes
  double dev_a = 0.0, dev_b = beta0;
  for (int it = 0; it < 64 && std::fabs(dev_a - dev_b) > 4e-16 * std::max(dev_a, dev_b); ++it) {
    const double root = std::sqrt((1.0 - dev_a) * (1.0 - dev_b));
    const double next_b = (dev_a + dev_b - dev_a * dev_b) / (1.0 + root);
    dev_a = 0.5 * (dev_a + dev_b);
    dev_b = next_b;
  }
  const double agm = 1.0 - dev_a;                                   // AGM(1, k')
  const double bracket = c.t >= 1.0 ? (beta0 - dev_a) / agm         // 1 - k'/AGM
                                    : (2.0 - beta0 - dev_a) / agm;  // 1 + k'/AGM
  return -c.coth2k * bracket;
}

double yang_magnetization(double beta) {
  if (!(beta > 0.0) || !std::isfinite(beta)) {
    throw input_error("yang_magnetization: beta must be finite and > 0 (got " +
                      std::to_string(beta) + ")");
  }
  const double t = make_coupling(beta).t;  // 1 / sinh 2 beta
  if (t >= 1.0) return 0.0;
  const double t2 = t * t;
  return std::pow(1.0 - t2 * t2, 0.125);
}

}  // namespace phyflow::lattice
