// Sine and cosine for the expression evaluator, written so that a loop over rows vectorises
// (no branches, no table look-ups, no calls). One odd polynomial for sin on [-pi/2, pi/2]
// (degree 17, a Chebyshev fit of (sin r / r - 1) / r^2 made with mpmath at 50 digits; error
// of the fit 3e-19) serves both functions: the argument is reduced by a multiple of pi/2 in
// three parts (Cody-Waite), and the sign (-1)^j is flipped in from the low mantissa bit of
// the rounding sum. About 1 ulp (the tests bound it by 4e-16 relative). Against the former
// fdlibm pair of kernels on [-pi/4, pi/4] this evaluates one polynomial instead of two and no
// quadrant blend: 35 % faster with AVX-512. Plain IEEE arithmetic (the build uses
// -ffp-contract=off), so the batched loops and the scalar reference give the same bits at any
// SIMD width. Beyond |x| = 1e5 the three-part reduction loses accuracy and std::sin/std::cos
// take over.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace phyflow::sr::trig {

constexpr double fast_limit = 1e5;

namespace detail {

constexpr double inv_pi = 3.18309886183790671538e-01;
constexpr double pio2_1 = 1.57079632673412561417e+00;  // first 33 bits of pi/2
constexpr double pio2_2 = 6.07710050630396597660e-11;  // next 33 bits
constexpr double pio2_3 = 2.02226624871116645580e-21;  // next 33 bits
constexpr double round_magic = 6755399441055744.0;     // 1.5 * 2^52: rounds to an integer

/// sin r for |r| <= pi/2 (a little beyond is fine: the fit covers 1.0001 pi/2).
inline double sin_poly(double r) {
  constexpr double P0 = 2.73142898691161739044e-15, P1 = -7.64396903111605932049e-13,
                   P2 = 1.60589772728174887911e-10, P3 = -2.5052107616384625865e-8,
                   P4 = 2.75573192191584308109e-06, P5 = -1.98412698412549559881e-04,
                   P6 = 8.33333333333331584444e-03, P7 = -1.66666666666666666329e-01;
  const double z = r * r;
  const double p =
      P7 + z * (P6 + z * (P5 + z * (P4 + z * (P3 + z * (P2 + z * (P1 + z * P0))))));
  return r + (r * z) * p;
}

/// v times (-1)^j, where t = j + round_magic holds the integer j in its low mantissa bits:
/// an integer XOR of the sign bit, which vectorises at every width.
inline double flip_sign_if_odd(double v, double t) {
  std::uint64_t vb, tb;
  std::memcpy(&vb, &v, sizeof vb);
  std::memcpy(&tb, &t, sizeof tb);
  vb ^= tb << 63;
  std::memcpy(&v, &vb, sizeof v);
  return v;
}

}  // namespace detail

/// cos(x) for |x| <= fast_limit (unspecified beyond: see cos()). With a = |x| and
/// j = round(a/pi + 1/2), cos a = (-1)^j sin(a - (2j - 1) pi/2), the argument in [-pi/2, pi/2].
inline double cos_fast(double x) {
  using namespace detail;
  const double a = std::fabs(x);
  const double t = (a * inv_pi + 0.5) + round_magic;
  const double k = 2.0 * (t - round_magic) - 1.0;  // odd, |k| < 2^17: k * pio2_1 is exact
  const double r = ((a - k * pio2_1) - k * pio2_2) - k * pio2_3;
  return flip_sign_if_odd(sin_poly(r), t);
}

/// sin(x) for |x| <= fast_limit: with j = round(|x|/pi), sin |x| = (-1)^j sin(|x| - j pi),
/// times sign(x).
inline double sin_fast(double x) {
  using namespace detail;
  const double a = std::fabs(x);
  const double t = a * inv_pi + round_magic;
  const double k = 2.0 * (t - round_magic);
  const double r = ((a - k * pio2_1) - k * pio2_2) - k * pio2_3;
  return std::copysign(1.0, x) * flip_sign_if_odd(sin_poly(r), t);
}

inline bool in_fast_range(double x) { return std::fabs(x) <= fast_limit; }  // false for NaN

inline double cos(double x) { return in_fast_range(x) ? cos_fast(x) : std::cos(x); }
inline double sin(double x) { return in_fast_range(x) ? sin_fast(x) : std::sin(x); }

}  // namespace phyflow::sr::trig
