// The N-body force laws against independent truths: the written formulas of REFERENCES.md at
// chosen distances, central finite differences of the potentials at random seed-like
// configurations, Newton's third law, momentum conservation, the seed's damping, the exact
// inverse-square law, and the same results from inside a Kokkos kernel.
#include <gtest/gtest.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "phyflow/core/error.hpp"
#include "phyflow/core/rng.hpp"
#include "phyflow/nbody/force_laws.hpp"

namespace {

using namespace phyflow::nbody;

const ForceLaw every_law[] = {ForceLaw::spring, ForceLaw::r1,     ForceLaw::r2,
                              ForceLaw::charge, ForceLaw::damped, ForceLaw::discontinuous,
                              ForceLaw::gravity, ForceLaw::power};

ForceLawSpec spec_of(ForceLaw law) {
  ForceLawSpec s;
  s.law = law;
  s.gravity_G = 1.3;  // not 1, so a missing G would show
  s.gravity_eps = 0.2;
  s.power_A = 0.7;  // a deck-defined law: U = 0.7 m_i m_j r'^-1.5
  s.power_exponent = -1.5;
  s.power_coupling = PowerLaw::mass;
  return s;
}

/// N(0, 1) draws by Box-Muller from a counter-based stream (one Philox call per draw).
class Normals {
 public:
  explicit Normals(std::uint64_t seed) : stream_(seed, phyflow::rng::purpose("nbody-test")) {}
  double operator()() {
    const auto w = stream_(index_++, 0);
    const double u1 = phyflow::rng::uniform53_open0(w.w[0], w.w[1]);
    const double u2 = phyflow::rng::uniform53(w.w[2], w.w[3]);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  phyflow::rng::Stream stream_;
  std::uint64_t index_ = 0;
};

/// n bodies in the seed's layout [x(d), v(d), q, m]: all N(0, 1), m = exp(N), q = sign(N).
std::vector<double> random_system(Normals& normal, int d, int n) {
  std::vector<double> state(static_cast<std::size_t>(n * state_width(d)));
  for (int b = 0; b < n; ++b) {
    double* body = &state[static_cast<std::size_t>(b * state_width(d))];
    for (int k = 0; k < 2 * d; ++k) body[k] = normal();
    body[2 * d] = normal() < 0.0 ? -1.0 : 1.0;
    body[2 * d + 1] = std::exp(normal());
  }
  return state;
}

double distance(const double* a, const double* b, int d) {
  double r2 = 0.0;
  for (int k = 0; k < d; ++k) r2 += (a[k] - b[k]) * (a[k] - b[k]);
  return std::sqrt(r2);
}

/// Central differences of f over x[k] with h = 1e-6 max(1, |x_k|). Error budget: truncation
/// h^2 |U'''| / 6 and rounding ~ 1e-16 |U| / h ~ 1e-10 |U|. With r >= 0.05 (r' >= 0.06) the
/// stiffest law (r2, U''' = 6 m m / r'^4) gives a truncation error ~ 2e-9 of its force, so the
/// tolerance 1e-6 |F| + 1e-8 (1 + |U|) has margin of 100 while any wrong factor, sign or
/// branch shows as an O(|F|) error.
template <class Energy>
double central_difference(double* x, int k, const Energy& energy) {
  const double h = 1e-6 * std::max(1.0, std::fabs(x[k]));
  const double saved = x[k];
  x[k] = saved + h;
  const double up = energy();
  x[k] = saved - h;
  const double down = energy();
  x[k] = saved;
  return (up - down) / (2.0 * h);
}

/// True where finite differences of the law are meaningful: h << r and away from the
/// discontinuity of the discontinuous law at r' = 2.
bool differentiable_at(ForceLaw law, double r) {
  if (r < 0.05) return false;
  if (law == ForceLaw::discontinuous && std::fabs(r + distance_shift - 2.0) < 1e-3) return false;
  return true;
}

template <int D>
void check_pair_forces(ForceLaw law_id) {
  Normals normal(1000 + 10 * static_cast<int>(law_id) + D);
  int checked = 0;
  with_law(spec_of(law_id), [&](const auto& law) {
    for (int trial = 0; trial < 300; ++trial) {
      auto s = random_system(normal, D, 2);
      double* xi = &s[0];
      double* xj = &s[static_cast<std::size_t>(state_width(D))];
      const double qi = xi[2 * D], qj = xj[2 * D], mi = xi[2 * D + 1], mj = xj[2 * D + 1];
      if (!differentiable_at(law_id, distance(xi, xj, D))) continue;
      double fi[D], fj[D];
      law.template pair_force<D>(xi, xj, qi, qj, mi, mj, fi);
      law.template pair_force<D>(xj, xi, qj, qi, mj, mi, fj);
      const auto energy = [&] { return law.template potential<D>(xi, xj, qi, qj, mi, mj); };
      const double u = energy();
      double norm = 0.0;
      for (int k = 0; k < D; ++k) norm += fi[k] * fi[k];
      norm = std::sqrt(norm);
      for (int k = 0; k < D; ++k) {
        const double fd = -central_difference(xi, k, energy);
        EXPECT_NEAR(fi[k], fd, 1e-6 * norm + 1e-8 * (1.0 + std::fabs(u)))
            << law_name(law_id) << " D=" << D << " trial " << trial << " component " << k;
        // Newton's third law holds bitwise: the same operations on negated differences.
        EXPECT_EQ(fj[k], -fi[k]) << law_name(law_id) << " D=" << D;
      }
      ++checked;
    }
  });
  EXPECT_GT(checked, 250) << law_name(law_id);  // the skips are rare
}

TEST(ForceLaws, PairForceIsMinusGradientOfPotential) {
  for (ForceLaw law : every_law) {
    check_pair_forces<2>(law);
    check_pair_forces<3>(law);
  }
}

TEST(ForceLaws, PotentialsMatchTheWrittenFormulas) {
  const double xi[3] = {0.0, 0.0, 0.0};
  const double near[3] = {0.0, 0.49, 0.0};  // r' = 0.5
  const double far[3] = {2.99, 0.0, 0.0};   // r' = 3
  const double qi = -1.0, qj = 1.0, mi = 1.7, mj = 0.6;
  EXPECT_DOUBLE_EQ(Spring().potential<3>(xi, near, qi, qj, mi, mj), 0.25);
  EXPECT_DOUBLE_EQ(R1().potential<3>(xi, near, qi, qj, mi, mj), mi * mj * std::log(0.5));
  EXPECT_DOUBLE_EQ(R2().potential<3>(xi, near, qi, qj, mi, mj), -mi * mj / 0.5);
  EXPECT_DOUBLE_EQ(Charge().potential<3>(xi, near, qi, qj, mi, mj), qi * qj / 0.5);
  EXPECT_DOUBLE_EQ(Damped().potential<3>(xi, near, qi, qj, mi, mj), 0.25);
  EXPECT_EQ(Discontinuous().potential<3>(xi, near, qi, qj, mi, mj), 0.0);
  EXPECT_DOUBLE_EQ(Discontinuous().potential<3>(xi, far, qi, qj, mi, mj), 4.0);
  EXPECT_DOUBLE_EQ(SoftenedGravity(2.0, 0.0).potential<3>(xi, far, qi, qj, mi, mj),
                   -2.0 * mi * mj / 2.99);
  // A 2D call reads only two coordinates.
  const double near2[2] = {0.3, 0.4};  // r = 0.5
  EXPECT_DOUBLE_EQ(SoftenedGravity(1.0, 1.2).potential<2>(xi, near2, qi, qj, mi, mj),
                   -mi * mj / 1.3);
}

TEST(ForceLaws, DiscontinuousLawIsFreeInsideTwo) {
  Normals normal(7);
  for (int trial = 0; trial < 200; ++trial) {
    // A random direction at a random r' in (0.01, 2).
    double dir[3] = {normal(), normal(), normal()};
    const double len = distance(dir, std::vector<double>(3, 0.0).data(), 3);
    const double r = (2.0 - distance_shift) * (0.5 + 0.5 * std::erf(normal()));
    if (!(r + distance_shift < 2.0)) continue;
    const double xi[3] = {0.0, 0.0, 0.0};
    const double xj[3] = {r * dir[0] / len, r * dir[1] / len, r * dir[2] / len};
    double f[3];
    Discontinuous().pair_force<3>(xi, xj, 1.0, 1.0, 1.0, 1.0, f);
    EXPECT_EQ(f[0], 0.0);
    EXPECT_EQ(f[1], 0.0);
    EXPECT_EQ(f[2], 0.0);
    EXPECT_EQ(Discontinuous().potential<3>(xi, xj, 1.0, 1.0, 1.0, 1.0), 0.0);
  }
  // Just outside: the spring force pulls the bodies together, |F| = 2 (r' - 1).
  const double xi[2] = {0.0, 0.0};
  const double xj[2] = {2.5 - distance_shift, 0.0};
  double f[2];
  Discontinuous().pair_force<2>(xi, xj, 1.0, 1.0, 1.0, 1.0, f);
  EXPECT_DOUBLE_EQ(f[0], 3.0);
  EXPECT_EQ(f[1], 0.0);
}

TEST(ForceLaws, GravityIsInverseSquare) {
  Normals normal(11);
  const double G = 6.5;
  for (int trial = 0; trial < 100; ++trial) {
    double xi[3] = {normal(), normal(), normal()};
    double xj[3] = {normal(), normal(), normal()};
    const double mi = std::exp(normal()), mj = std::exp(normal());
    const double r = distance(xi, xj, 3);
    double f[3];
    // eps = 0: exactly Newton, attractive (along x_j - x_i).
    SoftenedGravity(G, 0.0).pair_force<3>(xi, xj, 0.0, 0.0, mi, mj, f);
    for (int k = 0; k < 3; ++k)
      EXPECT_NEAR(f[k], G * mi * mj * (xj[k] - xi[k]) / (r * r * r), 1e-13 * G * mi * mj / (r * r));
    // Far field of the softened law: |F| / F_Newton = (1 + eps^2/r^2)^(-3/2), within
    // [1 - 1.5 eps^2/r^2, 1].
    const double eps = 1e-3 * r;
    SoftenedGravity(G, eps).pair_force<3>(xi, xj, 0.0, 0.0, mi, mj, f);
    const double ratio =
        distance(f, std::vector<double>(3, 0.0).data(), 3) / (G * mi * mj / (r * r));
    EXPECT_LE(ratio, 1.0 + 1e-15);
    EXPECT_GE(ratio, 1.0 - 1.5e-6 - 1e-15);
  }
}

TEST(ForceLaws, CoincidentBodiesFeelNoForce) {
  const double x[3] = {0.3, -1.2, 2.0};
  for (ForceLaw law_id : every_law) {
    with_law(spec_of(law_id), [&](const auto& law) {
      double f[3] = {1.0, 1.0, 1.0};
      law.template pair_force<3>(x, x, 1.0, -1.0, 2.0, 0.5, f);
      EXPECT_EQ(f[0], 0.0) << law_name(law_id);
      EXPECT_EQ(f[1], 0.0) << law_name(law_id);
      EXPECT_EQ(f[2], 0.0) << law_name(law_id);
      EXPECT_TRUE(std::isfinite(law.template potential<3>(x, x, 1.0, -1.0, 2.0, 0.5)));
    });
  }
}

/// Whole systems: m_b a_b = -grad_{x_b} of the total potential (conservative laws), and the
/// pair forces sum to zero, so total momentum does not change.
TEST(ForceLaws, SystemAccelerationsConserveMomentum) {
  Normals normal(23);
  for (ForceLaw law : every_law) {
    if (law == ForceLaw::damped) continue;  // checked against the spring below
    const ForceLawSpec spec = spec_of(law);
    for (int d : {2, 3}) {
      for (int n : {4, 8}) {
        for (int trial = 0; trial < 10; ++trial) {
          auto s = random_system(normal, d, n);
          const int w = state_width(d);
          bool smooth = true;
          for (int i = 0; i < n; ++i)
            for (int j = i + 1; j < n; ++j)
              smooth = smooth && differentiable_at(law, distance(&s[i * w], &s[j * w], d));
          std::vector<double> a(static_cast<std::size_t>(n * d));
          accelerations(spec, d, n, s.data(), a.data());
          const auto energy = [&] { return potential_energy(spec, d, n, s.data()); };
          const double u = energy();
          std::vector<double> momentum_rate(static_cast<std::size_t>(d), 0.0);
          double force_scale = 0.0;
          for (int b = 0; b < n; ++b) {
            const double m = s[b * w + 2 * d + 1];
            double fnorm = 0.0;
            for (int k = 0; k < d; ++k) fnorm += m * a[b * d + k] * m * a[b * d + k];
            fnorm = std::sqrt(fnorm);
            force_scale += fnorm;
            for (int k = 0; k < d; ++k) {
              const double f = m * a[b * d + k];
              momentum_rate[k] += f;
              if (smooth)
                EXPECT_NEAR(f, -central_difference(&s[b * w], k, energy),
                            1e-6 * fnorm + 1e-8 * (1.0 + std::fabs(u)))
                    << law_name(law) << " d=" << d << " n=" << n << " body " << b;
            }
          }
          for (int k = 0; k < d; ++k)
            EXPECT_NEAR(momentum_rate[k], 0.0, 1e-13 * force_scale) << law_name(law);
        }
      }
    }
  }
}

/// The seed's damping: body b of n gets -(n - 1 - b)/n v_b on top of the spring forces.
TEST(ForceLaws, DampedIsSpringPlusTheSeedsDamping) {
  Normals normal(31);
  for (int d : {2, 3}) {
    const int n = 4, w = state_width(d);
    auto s = random_system(normal, d, n);
    std::vector<double> damped(static_cast<std::size_t>(n * d)), spring(damped.size());
    accelerations(spec_of(ForceLaw::damped), d, n, s.data(), damped.data());
    accelerations(spec_of(ForceLaw::spring), d, n, s.data(), spring.data());
    for (int b = 0; b < n; ++b) {
      const double m = s[b * w + 2 * d + 1];
      for (int k = 0; k < d; ++k) {
        const double v = s[b * w + d + k];
        EXPECT_NEAR(m * (damped[b * d + k] - spring[b * d + k]), -(n - 1.0 - b) / n * v,
                    1e-12 * (1.0 + m * std::fabs(spring[b * d + k])));
      }
    }
    EXPECT_EQ(potential_energy(spec_of(ForceLaw::damped), d, n, s.data()),
              potential_energy(spec_of(ForceLaw::spring), d, n, s.data()));
  }
}

TEST(ForceLaws, TotalEnergyIsKineticPlusPotential) {
  // Two bodies at rest distance r' = 3 on the spring, one moving: E = m v^2 / 2 + 4.
  const double s[2 * 6] = {0.0,  0.0, 0.0, 0.0,  1.0, 2.0,  // x, v, q, m
                           2.99, 0.0, 0.5, -1.5, 1.0, 1.0};
  EXPECT_DOUBLE_EQ(total_energy(spec_of(ForceLaw::spring), 2, 2, s), 0.5 * 2.5 + 4.0);
}

TEST(ForceLaws, DeckNamesParseAndUnknownOnesSuggest) {
  for (ForceLaw law : every_law) EXPECT_EQ(parse_force_law(law_name(law)), law);
  const std::pair<const char*, const char*> typos[] = {
      {"sprng", "spring"}, {"gravty", "gravity"}, {"r3", "r1"}, {"damping", "damped"}};
  for (const auto& [typo, nearest] : typos) {
    try {
      parse_force_law(typo);
      ADD_FAILURE() << typo << " was accepted";
    } catch (const phyflow::Error& e) {
      EXPECT_EQ(e.code(), phyflow::ExitCode::bad_input);
      const std::string what = e.what();
      EXPECT_NE(what.find("system.law"), std::string::npos) << what;
      EXPECT_NE(what.find(std::string("'") + nearest + "'"), std::string::npos) << what;
    }
  }
  EXPECT_THROW(accelerations(ForceLawSpec{}, 4, 1, nullptr, nullptr), phyflow::Error);
}

/// Accelerations of one 3D system by a Kokkos kernel, one body per work item. A free function
/// because CUDA allows no device lambdas inside a test's (private) TestBody.
template <class Law>
void kernel_accelerations(const Law law, Kokkos::View<double**, Kokkos::LayoutRight> state,
                          Kokkos::View<double**, Kokkos::LayoutRight> accel) {
  constexpr int D = 3;
  const int n = static_cast<int>(state.extent(0));
  Kokkos::parallel_for(
      "nbody_test_accel", Kokkos::RangePolicy<>(0, n), KOKKOS_LAMBDA(const int i) {
        double xi[D], xj[D], f[D], sum[D] = {0.0, 0.0, 0.0};
        for (int k = 0; k < D; ++k) xi[k] = state(i, k);
        for (int j = 0; j < n; ++j) {
          if (j == i) continue;
          for (int k = 0; k < D; ++k) xj[k] = state(j, k);
          law.template pair_force<D>(xi, xj, state(i, 2 * D), state(j, 2 * D), state(i, 2 * D + 1),
                                     state(j, 2 * D + 1), f);
          for (int k = 0; k < D; ++k) sum[k] += f[k];
        }
        for (int k = 0; k < D; ++k) accel(i, k) = sum[k] / state(i, 2 * D + 1);
      });
  Kokkos::fence();
}

/// The functors run inside a Kokkos kernel and give what the host helper gives.
TEST(ForceLaws, KernelAccelerationsMatchHost) {
  Normals normal(41);
  constexpr int D = 3, n = 8, w = state_width(D);
  for (ForceLaw law_id : {ForceLaw::r2, ForceLaw::charge, ForceLaw::gravity}) {
    const auto host_state = random_system(normal, D, n);
    std::vector<double> host_accel(n * D);
    accelerations(spec_of(law_id), D, n, host_state.data(), host_accel.data());

    Kokkos::View<double**, Kokkos::LayoutRight> state("state", n, w);
    Kokkos::View<double**, Kokkos::LayoutRight> accel("accel", n, D);
    auto state_mirror = Kokkos::create_mirror_view(state);
    for (int b = 0; b < n; ++b)
      for (int c = 0; c < w; ++c) state_mirror(b, c) = host_state[b * w + c];
    Kokkos::deep_copy(state, state_mirror);
    with_law(spec_of(law_id), [&](const auto& law) { kernel_accelerations(law, state, accel); });
    auto accel_mirror = Kokkos::create_mirror_view(accel);
    Kokkos::deep_copy(accel_mirror, accel);
    for (int b = 0; b < n; ++b)
      for (int k = 0; k < D; ++k)
        EXPECT_NEAR(accel_mirror(b, k), host_accel[b * D + k],
                    1e-14 * (1.0 + std::fabs(host_accel[b * D + k])))
            << law_name(law_id);
  }
}

}  // namespace

namespace {

// The deck-defined power law reproduces the seed's r1, r2 and charge laws with their
// parameters (to rounding: pow and the division order differ from the closed forms).
TEST(ForceLaws, PowerLawReproducesTheSeedFamilies) {
  struct Case {
    ForceLaw seed_law;
    double A, p;
    int coupling;
  };
  const Case cases[] = {{ForceLaw::r1, 1.0, 0.0, PowerLaw::mass},
                        {ForceLaw::r2, -1.0, -1.0, PowerLaw::mass},
                        {ForceLaw::charge, 1.0, -1.0, PowerLaw::charge}};
  Normals normal(77);
  for (const Case& c : cases) {
    ForceLawSpec power;
    power.law = ForceLaw::power;
    power.power_A = c.A;
    power.power_exponent = c.p;
    power.power_coupling = c.coupling;
    for (int trial = 0; trial < 50; ++trial) {
      const auto s = random_system(normal, 3, 5);
      std::vector<double> a_seed(15), a_power(15);
      accelerations(spec_of(c.seed_law), 3, 5, s.data(), a_seed.data());
      accelerations(power, 3, 5, s.data(), a_power.data());
      for (int k = 0; k < 15; ++k)
        EXPECT_NEAR(a_power[std::size_t(k)], a_seed[std::size_t(k)],
                    1e-13 * (1.0 + std::fabs(a_seed[std::size_t(k)])))
            << law_name(c.seed_law);
      EXPECT_NEAR(potential_energy(power, 3, 5, s.data()),
                  potential_energy(spec_of(c.seed_law), 3, 5, s.data()), 1e-12)
          << law_name(c.seed_law);
    }
  }
}

}  // namespace
