// Sine and cosine for the expression evaluator, written so that a loop over rows vectorises
// (no branches, no table look-ups, no calls): Cody-Waite reduction by pi/2 in three parts and
// the fdlibm kernels on [-pi/4, pi/4] (Sun fdlibm k_sin.c / k_cos.c coefficients), about
// 1 ulp. They are plain IEEE arithmetic (the build uses -ffp-contract=off), so the batched
// loops and the scalar reference give the same bits at any SIMD width. Beyond |x| = 1e5
// the three-part reduction loses accuracy and std::sin/std::cos take over.
#pragma once

#include <cmath>

namespace phyflow::sr::trig {

constexpr double fast_limit = 1e5;

namespace detail {

/// x >= 0, x <= fast_limit: r in [-pi/4, pi/4] and the quadrant m in {0, 1, 2, 3} (as a
/// double, so the selects below stay in vector registers).
inline void reduce(double x, double& r, double& m) {
  constexpr double two_over_pi = 6.36619772367581382433e-01;
  constexpr double pio2_1 = 1.57079632673412561417e+00;  // first 33 bits of pi/2
  constexpr double pio2_2 = 6.07710050630396597660e-11;  // next 33 bits
  constexpr double pio2_3 = 2.02226624871116645580e-21;  // next 33 bits
  constexpr double round_magic = 6755399441055744.0;     // 1.5 * 2^52: rounds to an integer
  const double q = (x * two_over_pi + round_magic) - round_magic;
  r = ((x - q * pio2_1) - q * pio2_2) - q * pio2_3;
  // q mod 4 without integer conversion: floor(q / 4) = round(q / 4 - 3/8) for integer q.
  const double q4 = (q * 0.25 - 0.375 + round_magic) - round_magic;
  m = q - 4.0 * q4;
}

inline double kernel_sin(double r) {
  constexpr double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                   S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                   S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
  const double z = r * r, v = z * r;
  const double p = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
  return r + v * (S1 + z * p);
}

inline double kernel_cos(double r) {
  constexpr double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
                   C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
                   C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
  const double z = r * r;
  const double p = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
  const double hz = 0.5 * z, w = 1.0 - hz;
  return w + (((1.0 - w) - hz) + z * p);
}

}  // namespace detail

/// cos(x) for |x| <= fast_limit (unspecified beyond: see cos()). With x = m pi/2 + r,
/// cos x = cos(m pi/2) cos r - sin(m pi/2) sin r; the factors {1,0,-1,0} and {0,1,0,-1} are
/// computed arithmetically from m so the loop has no select to if-convert.
inline double cos_fast(double x) {
  double r, m;
  detail::reduce(std::fabs(x), r, m);
  const double cm = std::fabs(m - 2.0) - 1.0, sm = 1.0 - std::fabs(m - 1.0);
  return cm * detail::kernel_cos(r) - sm * detail::kernel_sin(r);
}

/// sin(x) for |x| <= fast_limit: sin |x| = sin(m pi/2) cos r + cos(m pi/2) sin r, times sign(x).
inline double sin_fast(double x) {
  double r, m;
  detail::reduce(std::fabs(x), r, m);
  const double cm = std::fabs(m - 2.0) - 1.0, sm = 1.0 - std::fabs(m - 1.0);
  return std::copysign(1.0, x) * (sm * detail::kernel_cos(r) + cm * detail::kernel_sin(r));
}

inline bool in_fast_range(double x) { return std::fabs(x) <= fast_limit; }  // false for NaN

inline double cos(double x) { return in_fast_range(x) ? cos_fast(x) : std::cos(x); }
inline double sin(double x) { return in_fast_range(x) ? sin_fast(x) : std::sin(x); }

}  // namespace phyflow::sr::trig
