// phyflow's portable exp, log, pow and sin/cos of 2 pi u (core/portable_math.hpp): accuracy
// against long double over their whole ranges, the special values, Box-Muller's moments, and
// the same bits from a Kokkos kernel on the default device as from the host (on a CUDA build
// this is the check that a GPU and the host draw the same HMC momenta and step sizes).
#include "phyflow/core/portable_math.hpp"
#include "phyflow/core/rng.hpp"

#include <gtest/gtest.h>

#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

namespace {

namespace pm = phyflow::pmath;
namespace rng = phyflow::rng;

/// |got - ref| in units of the last place of the double nearest to ref.
double ulps(double got, long double ref) {
  const double r = static_cast<double>(ref);
  const double a = std::fabs(r);
  const double ulp = std::nextafter(a, std::numeric_limits<double>::infinity()) - a;
  return static_cast<double>(std::fabs(static_cast<long double>(got) - ref) / ulp);
}

/// Uniform double in [0, 1) from a Philox stream (the draws of the tests are reproducible).
struct Draws {
  rng::Stream stream{20261204, rng::purpose("test-portable-math")};
  std::uint64_t n = 0;
  double next() {
    const rng::Words w = stream(n++, 0);
    return rng::uniform53(w.w[0], w.w[1]);
  }
};

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(PortableMath, ExpWithinOneUlpOverItsRange) {
  Draws d;
  double worst = 0.0;
  for (int i = 0; i < 400000; ++i) {
    // half over the whole finite range, half in [-2, 2] where the reduction does little
    const double x = i % 2 ? -744.0 + 1453.7 * d.next() : -2.0 + 4.0 * d.next();
    const double e = pm::exp(x);
    const long double ref = std::exp(static_cast<long double>(x));
    if (ref < static_cast<long double>(std::numeric_limits<double>::min())) continue;  // subnormal
    worst = std::max(worst, ulps(e, ref));
  }
  EXPECT_LT(worst, 1.0);
  std::printf("worst: exp %.3f ulp\n", worst);
}

TEST(PortableMath, LogWithinOneUlpOverAllPositiveDoubles) {
  Draws d;
  double worst = 0.0;
  for (int i = 0; i < 400000; ++i) {
    // random exponents (subnormals included) and random mantissas, plus a dense band near 1
    // where log x -> 0 and the relative error is hardest to keep
    double x;
    if (i % 2) {
      x = std::ldexp(1.0 + d.next(), static_cast<int>(-1074 + 2097 * d.next()));
    } else {
      x = 1.0 + (d.next() - 0.5) * 0.6;
    }
    if (!(x > 0.0) || std::isinf(x) || x == 1.0) continue;
    worst = std::max(worst, ulps(pm::log(x), std::log(static_cast<long double>(x))));
  }
  EXPECT_LT(worst, 1.0);
  std::printf("worst: log %.3f ulp\n", worst);
}

TEST(PortableMath, SinCosOfTurnsWithinOneUlp) {
  Draws d;
  const long double two_pi = 6.283185307179586476925286766559005768L;
  double worst_s = 0.0, worst_c = 0.0;
  for (int i = 0; i < 400000; ++i) {
    const double u = i % 4 ? d.next() : d.next() * 64.0;  // [0, 1), and [0, 64)
    double s = 0.0, c = 0.0;
    pm::sincos_2pi(u, s, c);
    // the reference reduces u exactly in long double too (u - floor u, exact for u >= 0), so it
    // is the true sin(2 pi u) to long double precision, not sin of a rounded 2 pi u
    // and the quarter turns are taken off exactly before sinl/cosl see the angle: sinl(x) of
    // an x near pi has an absolute error ~1e-19, which near the zeros is hundreds of ulp
    const long double f = static_cast<long double>(u) - std::floor(static_cast<long double>(u));
    const long double quarters = std::nearbyint(4.0L * f);
    const long double a = (4.0L * f - quarters) * (two_pi / 4.0L);
    const long double sa = std::sin(a), ca = std::cos(a);
    const int q = static_cast<int>(quarters) & 3;
    const long double rs = q == 0 ? sa : q == 1 ? ca : q == 2 ? -sa : -ca;
    const long double rc = q == 0 ? ca : q == 1 ? -sa : q == 2 ? -ca : sa;
    if (std::fabs(rs) > 1e-300L) worst_s = std::max(worst_s, ulps(s, rs));
    if (std::fabs(rc) > 1e-300L) worst_c = std::max(worst_c, ulps(c, rc));
  }
  EXPECT_LT(worst_s, 1.0);
  EXPECT_LT(worst_c, 1.0);
  std::printf("worst: sin %.3f ulp, cos %.3f ulp\n", worst_s, worst_c);
}

TEST(PortableMath, PowWithinItsBound) {
  Draws d;
  for (int i = 0; i < 200000; ++i) {
    const double x = std::exp(-9.0 + 18.0 * d.next());  // 1e-4 .. 8e3: distances, error norms
    const double y = -3.0 + 6.0 * d.next();
    const long double ref = std::pow(static_cast<long double>(x), static_cast<long double>(y));
    const double bound = 2.0 + std::fabs(y * std::log(x));
    ASSERT_LT(ulps(pm::pow(x, y), ref), bound) << "x = " << x << ", y = " << y;
  }
}

TEST(PortableMath, SpecialValues) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(pm::exp(0.0), 1.0);
  EXPECT_EQ(pm::exp(-inf), 0.0);
  EXPECT_EQ(pm::exp(inf), inf);
  EXPECT_EQ(pm::exp(710.0), inf);
  EXPECT_EQ(pm::exp(-746.0), 0.0);
  EXPECT_TRUE(std::isnan(pm::exp(nan)));
  EXPECT_TRUE(std::isfinite(pm::exp(709.78)));
  EXPECT_GT(pm::exp(-745.0), 0.0);  // the least subnormals are reached
  EXPECT_EQ(pm::log(1.0), 0.0);
  EXPECT_EQ(pm::log(0.0), -inf);
  EXPECT_EQ(pm::log(inf), inf);
  EXPECT_TRUE(std::isnan(pm::log(-1.0)));
  EXPECT_TRUE(std::isnan(pm::log(nan)));
  EXPECT_NEAR(pm::log(std::numeric_limits<double>::denorm_min()), -744.4400719213812, 1e-12);
  EXPECT_EQ(pm::log(2.0), 0.6931471805599453);
  EXPECT_EQ(pm::pow(0.0, 2.0), 0.0);
  EXPECT_EQ(pm::pow(0.0, -1.0), inf);
  EXPECT_EQ(pm::pow(3.7, 0.0), 1.0);
  double s = 1.0, c = 0.0;
  pm::sincos_2pi(0.0, s, c);
  EXPECT_EQ(s, 0.0);
  EXPECT_EQ(c, 1.0);
  pm::sincos_2pi(0.25, s, c);  // exact quarter turns
  EXPECT_EQ(s, 1.0);
  EXPECT_EQ(c, 0.0);
  pm::sincos_2pi(0.5, s, c);
  EXPECT_EQ(s, 0.0);
  EXPECT_EQ(c, -1.0);
  pm::sincos_2pi(0.75, s, c);
  EXPECT_EQ(s, -1.0);
  EXPECT_EQ(c, 0.0);
  pm::sincos_2pi(nan, s, c);
  EXPECT_TRUE(std::isnan(s) && std::isnan(c));
}

TEST(PortableMath, BoxMullerMoments) {
  // 2 x 10^6 normals: mean 0, variance 1, third moment 0, fourth 3 (standard errors
  // 1/sqrt(n), sqrt(2/n), sqrt(15/n), sqrt(96/n)); 5 sigma bounds.
  const rng::Stream stream(7, rng::purpose("test-box-muller"));
  const int blocks = 500000;
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
  for (int i = 0; i < blocks; ++i) {
    double z[4];
    rng::normals4(stream, static_cast<std::uint64_t>(i), 0, z);
    for (double v : z) m1 += v, m2 += v * v, m3 += v * v * v, m4 += v * v * v * v;
  }
  const double n = 4.0 * blocks;
  EXPECT_NEAR(m1 / n, 0.0, 5.0 / std::sqrt(n));
  EXPECT_NEAR(m2 / n, 1.0, 5.0 * std::sqrt(2.0 / n));
  EXPECT_NEAR(m3 / n, 0.0, 5.0 * std::sqrt(15.0 / n));
  EXPECT_NEAR(m4 / n, 3.0, 5.0 * std::sqrt(96.0 / n));
}

// Device lambdas live in free functions (nvcc refuses extended lambdas inside a TEST body).
constexpr int kOutputs = 6;

Kokkos::View<double**, Kokkos::HostSpace> on_device(const std::vector<double>& in) {
  const int n = static_cast<int>(in.size());
  Kokkos::View<double*> x("x", n);
  Kokkos::View<double**> y("y", n, kOutputs);
  auto hx = Kokkos::create_mirror_view(x);
  for (int i = 0; i < n; ++i) hx(i) = in[static_cast<std::size_t>(i)];
  Kokkos::deep_copy(x, hx);
  Kokkos::parallel_for(
      "portable_math_on_device", Kokkos::RangePolicy<>(0, n), KOKKOS_LAMBDA(int i) {
        const double v = x(i);
        double s = 0.0, c = 0.0;
        phyflow::pmath::sincos_2pi(v, s, c);
        y(i, 0) = phyflow::pmath::exp(-v * 30.0);
        y(i, 1) = phyflow::pmath::log(v);
        y(i, 2) = phyflow::pmath::pow(v * 100.0, -0.2);
        y(i, 3) = s;
        y(i, 4) = c;
        double z0 = 0.0, z1 = 0.0;
        phyflow::rng::box_muller(1.0 - v, v, z0, z1);
        y(i, 5) = z0 + z1;
      });
  Kokkos::View<double**, Kokkos::HostSpace> out("out", n, kOutputs);
  auto hy = Kokkos::create_mirror_view(y);
  Kokkos::deep_copy(hy, y);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < kOutputs; ++k) out(i, k) = hy(i, k);
  return out;
}

TEST(PortableMath, DeviceGivesTheHostsBits) {
  Draws d;
  std::vector<double> in;
  for (int i = 0; i < 100000; ++i) in.push_back(d.next());
  in.push_back(0.0);
  in.push_back(0.25);
  const auto dev = on_device(in);
  for (std::size_t i = 0; i < in.size(); ++i) {
    const double v = in[i];
    double s = 0.0, c = 0.0;
    pm::sincos_2pi(v, s, c);
    double z0 = 0.0, z1 = 0.0;
    rng::box_muller(1.0 - v, v, z0, z1);
    const double host[kOutputs] = {pm::exp(-v * 30.0), pm::log(v), pm::pow(v * 100.0, -0.2),
                                   s, c, z0 + z1};
    for (int k = 0; k < kOutputs; ++k)
      ASSERT_TRUE(same_bits(dev(static_cast<int>(i), k), host[k]))
          << "input " << v << ", output " << k << ": device " << dev(static_cast<int>(i), k)
          << ", host " << host[k];
  }
}

}  // namespace
