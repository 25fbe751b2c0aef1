// Elementary functions that give the same bits on every machine and every backend.
//
// libm's exp, log, sin, cos and pow are accurate to about an ulp, but which ulp differs
// between implementations: glibc on the host, CUDA's libdevice on a GPU, another libm on a
// cluster. Where such a value steers a run (a Metropolis threshold, an HMC momentum, an
// adaptive step size, a Gaussian initial condition), one differing ulp changes the chain or
// the trajectory, and the CPU and GPU builds of the same deck part ways (found on an H200:
// phi^4 HMC and N-body rk45, docs/install.md "GPU check"). These versions are built from
// IEEE +, -, *, /, floor and exponent-field arithmetic only, evaluated in a fixed order; with floating-point contraction off (CMakeLists.txt: -ffp-contract=off on the host,
// -fmad=false for nvcc) every compiler and device computes them bit for bit alike
// (DESIGN.md §4: the same output on any Kokkos backend).
//
// Accuracy (tests/core/test_portable_math.cpp, against long double): exp, log, sin and cos
// within 1 ulp; pow(x, y) = exp(y log x) within (2 + |y log x|) ulp. The polynomials'
// truncation stays below 2e-17 relative on the reduced ranges. On one core of the 2-core VM
// exp and log cost 1.6-1.9x glibc's with Horner's scheme; Estrin's (below) narrows that.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "phyflow/core/host_device.hpp"

namespace phyflow::pmath {

namespace detail {
PHYFLOW_HOST_DEVICE std::uint64_t bits_of(double x) {
  std::uint64_t u = 0;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
PHYFLOW_HOST_DEVICE double from_bits(std::uint64_t u) {
  double x = 0.0;
  std::memcpy(&x, &u, sizeof x);
  return x;
}
/// 2^k for k in [-1022, 1023], exactly.
PHYFLOW_HOST_DEVICE double pow2(int k) {
  return from_bits(static_cast<std::uint64_t>(k + 1023) << 52);
}
}  // namespace detail

/// Natural logarithm: log(0) = -inf, log(x < 0) = NaN, log(inf) = inf.
PHYFLOW_HOST_DEVICE double log(double x) {
  if (!(x > 0.0)) return x == 0.0 ? -HUGE_VAL : (x - x) / (x - x);
  if (x > 0x1.fffffffffffffp+1023) return x;
  constexpr double ln2_hi = 0x1.62e42feep-1;  // ln 2 to 32 bits: k ln2_hi is exact
  constexpr double ln2_lo = 0x1.a39ef35793c76p-33;
  // x = m 2^e with m in [1, 2), from the exponent field (subnormals scaled up by 2^54 first)
  std::uint64_t u = detail::bits_of(x);
  int e = static_cast<int>(u >> 52) - 1023;
  if (e == -1023) {
    u = detail::bits_of(x * 0x1p54);
    e = static_cast<int>(u >> 52) - 1023 - 54;
  }
  double m = detail::from_bits((u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
  if (m > 0x1.6a09e667f3bcdp+0) {  // sqrt(2)
    m *= 0.5;
    ++e;
  }
  // m in [sqrt(1/2), sqrt(2)], f = m - 1 exact; log(1 + f) = 2 atanh(s) with s = f / (2 + f),
  // |s| < 0.172: 2 atanh(s) = 2 s + s R(s^2), R(z) = sum_j 2 z^j / (2 j + 1), written as
  // f - (f^2/2 - s (f^2/2 + R)) so that the large terms are exact.
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double z = s * s;
  // R(z) = z P(z), P the near-minimax polynomial of degree 6 (Chebyshev fit, mpmath) of
  // (2 atanh(s) - 2 s) / s^3 on [0, 0.0295]: error < 3.2e-16 in P, < 5e-18 relative in log.
  // Estrin's scheme (independent pairs, then z^2 and z^4) halves the dependent chain of Horner.
  const double z2 = z * z;
  const double p01 = 0x1.5555555555558p-1 + z * 0x1.99999999952d7p-2;
  const double p23 = 0x1.2492492df281ap-2 + z * 0x1.c71c62e3f11e6p-3;
  const double p45 = 0x1.7462b51cb66b1p-3 + z * 0x1.39fe51a7c18f9p-3;
  const double p46 = p45 + z2 * 0x1.2b5900de53b32p-3;
  const double R = z * ((p01 + z2 * p23) + (z2 * z2) * p46);
  const double hfsq = 0.5 * f * f;
  const double k = static_cast<double>(e);
  return k * ln2_hi - ((hfsq - (s * (hfsq + R) + k * ln2_lo)) - f);
}

namespace detail {
/// exp(x) = 2^k y for |x| < 746: returns y = exp(r) in (0.70, 1.42), r = x - k ln 2.
PHYFLOW_HOST_DEVICE double exp_reduced(double x, int& k_out) {
  constexpr double ln2_hi = 0x1.62e42feep-1;  // ln 2 to 32 bits: k ln2_hi is exact
  constexpr double ln2_lo = 0x1.a39ef35793c76p-33;
  // x / ln 2 rounded to an integer by adding and taking away 1.5 2^52 (exact, |x / ln 2| < 2^51)
  const double k = (x * 0x1.71547652b82fep+0 + 0x1.8p52) - 0x1.8p52;
  const double hi = x - k * ln2_hi;  // exact
  const double lo = k * ln2_lo;
  const double r = hi - lo;  // |r| <= ln(2)/2
  // exp(r) = 1 + r + r^2 q(r), q the near-minimax polynomial of degree 9 (Chebyshev fit,
  // mpmath) of (e^r - 1 - r) / r^2 on |r| <= ln(2)/2: error < 1.1e-16 in q, < 1.3e-17
  // relative in exp. Estrin's scheme, as in log.
  const double r2 = r * r, r4 = r2 * r2;
  const double q01 = 0x1.0000000000001p-1 + r * 0x1.5555555555556p-3;
  const double q23 = 0x1.5555555553d63p-5 + r * 0x1.11111111109b3p-7;
  const double q45 = 0x1.6c16c1788bd90p-10 + r * 0x1.a01a01a7c41d5p-13;
  const double q67 = 0x1.a019b90d2ae7ap-16 + r * 0x1.71de0dae63bb3p-19;
  const double q89 = 0x1.289185613a3d6p-22 + r * 0x1.af38a9b0ec855p-26;
  const double q = ((q01 + r2 * q23) + r4 * (q45 + r2 * q67)) + (r4 * r4) * q89;
  k_out = static_cast<int>(k);
  return 1.0 + (hi - (lo - r2 * q));  // r + r^2 q with r unrounded: hi - lo
}
}  // namespace detail

/// Exponential: exp(x) = 2^k exp(r), k = round(x / ln 2), |r| <= ln(2)/2.
PHYFLOW_HOST_DEVICE double exp(double x) {
  int k = 0;
  if (x > -708.0 && x < 709.0) {  // normal results, 2^k a normal number: one branch
    const double y = detail::exp_reduced(x, k);
    return y * detail::pow2(k);  // exact
  }
  if (x != x) return x;
  if (x > 0x1.62e42fefa39efp+9) return HUGE_VAL;  // the largest x with a finite exp(x)
  if (x < -745.1332191019412) return 0.0;         // below half the least subnormal
  const double y = detail::exp_reduced(x, k);
  if (k > 1023) return (y * 2.0) * detail::pow2(k - 1);
  if (k >= -1021) return y * detail::pow2(k);
  return (y * detail::pow2(k + 1000)) * detail::pow2(-1000);  // one rounding into subnormals
}

/// x^y for x >= 0 as exp(y log x) (pow(0, y) = 0 for y > 0, inf for y < 0; pow(x, 0) = 1).
PHYFLOW_HOST_DEVICE double pow(double x, double y) {
  if (y == 0.0) return 1.0;
  if (x == 0.0) return y > 0.0 ? 0.0 : HUGE_VAL;
  return pmath::exp(y * pmath::log(x));
}

/// sin(2 pi u) and cos(2 pi u). The argument is reduced in turns, exactly (for u >= 0), so no
/// rounded 2 pi u enters: the angle is (q + t) pi/2 with q an integer and |t| <= 1/2.
PHYFLOW_HOST_DEVICE void sincos_2pi(double u, double& sin_out, double& cos_out) {
  if (!(u - u == 0.0)) {  // inf or NaN
    sin_out = cos_out = u - u;
    return;
  }
  const double v = 4.0 * (u - std::floor(u));  // quarter turns in [0, 4]
  double q = std::floor(v);
  double t = v - q;
  if (t > 0.5) {
    t -= 1.0;
    q += 1.0;
  }
  // a = t pi/2 as a_hi + a_lo, |a| <= pi/4: a_hi = t * P rounded, its error exact by
  // Dekker's product (P split into 26-bit halves; t split by Veltkamp), plus t times pi/2 - P.
  constexpr double pio2 = 0x1.921fb54442d18p+0, pio2_lo = 0x1.1a62633145c07p-54;
  constexpr double pio2_h = 0x1.921fb58p+0, pio2_l = -0x1.dde974p-27;  // pio2_h + pio2_l = pio2
  const double a_hi = t * pio2;
  const double tc = 134217729.0 * t;  // 2^27 + 1
  const double t_h = tc - (tc - t), t_l = t - t_h;
  const double a_lo =
      (((t_h * pio2_h - a_hi) + t_h * pio2_l + t_l * pio2_h) + t_l * pio2_l) + t * pio2_lo;
  const double a2 = a_hi * a_hi;
  // Taylor series to a^17/17! and a^16/16!: the next terms < 1e-19 and 3e-18 on |a| <= pi/4.
  // sin(a_hi + a_lo) = a_hi + (a_lo + a_hi^3 S(a2)); cos = (1 - a2/2) + a2^2 C(a2) - a_hi a_lo,
  // with 1 - a2/2 split into w and its rounding error.
  const double S =
      -0x1.5555555555555p-3 +
      a2 * (0x1.1111111111111p-7 +
            a2 * (-0x1.a01a01a01a01ap-13 +
                  a2 * (0x1.71de3a556c734p-19 +
                        a2 * (-0x1.ae64567f544e4p-26 +
                              a2 * (0x1.6124613a86d09p-33 +
                                    a2 * (-0x1.ae7f3e733b81fp-41 + a2 * 0x1.952c77030ad4ap-49))))));
  const double C =
      0x1.5555555555555p-5 +
      a2 * (-0x1.6c16c16c16c17p-10 +
            a2 * (0x1.a01a01a01a01ap-16 +
                  a2 * (-0x1.27e4fb7789f5cp-22 +
                        a2 * (0x1.1eed8eff8d898p-29 +
                              a2 * (-0x1.93974a8c07c9dp-37 + a2 * 0x1.ae7f3e733b81fp-45)))));
  const double sn = a_hi + (a_lo + a_hi * a2 * S);
  const double hz = 0.5 * a2;
  const double w = 1.0 - hz;
  const double cs = w + (((1.0 - w) - hz) + (a2 * a2 * C - a_hi * a_lo));
  switch (static_cast<int>(q) & 3) {
    case 0: sin_out = sn; cos_out = cs; break;
    case 1: sin_out = cs; cos_out = -sn; break;
    case 2: sin_out = -sn; cos_out = -cs; break;
    default: sin_out = -cs; cos_out = sn; break;
  }
}

/// cos(2 pi u) alone (sincos_2pi's value).
PHYFLOW_HOST_DEVICE double cos_2pi(double u) {
  double s = 0.0, c = 0.0;
  sincos_2pi(u, s, c);
  return c;
}

}  // namespace phyflow::pmath
