// The batched Kokkos integrators against physics: the Kepler orbit (period, eccentricity,
// return to the start after whole periods), energy conservation of the conservative seed laws
// (bounded for symplectic Verlet, shrinking as h^4 for RK4, following the tolerance for rk45),
// a damped oscillator with a closed-form solution, batch independence to the bit (also of the
// SIMD lanes, which must compute what the scalar kernel computes), the failure
// statuses, the seed-style initial conditions' distribution, and deck-name parsing.
#include <gtest/gtest.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "phyflow/core/error.hpp"
#include "phyflow/core/host_simd.hpp"
#include "phyflow/nbody/force_laws.hpp"
#include "phyflow/nbody/initial_conditions.hpp"
#include "phyflow/nbody/integrators.hpp"

namespace {

using namespace phyflow::nbody;

constexpr double pi = 3.14159265358979323846;

/// Host copies of one integrate_batch() call.
struct BatchRun {
  int ns = 0, nt = 0, n = 0, d = 0;
  std::vector<double> frames;  // (ns, nt, n, 2d + 2)
  std::vector<double> accel;   // (ns, nt, n, d)
  std::vector<SimStats> stats;

  const double* frame(int s, int f) const {
    return &frames[(static_cast<std::size_t>(s) * nt + f) * n * state_width(d)];
  }
  const double* acceleration(int s, int f) const {
    return &accel[(static_cast<std::size_t>(s) * nt + f) * n * d];
  }
};

/// Runs integrate_batch on `initial` (ns systems of n bodies, rows of 2d + 2 doubles).
BatchRun integrate(const ForceLawSpec& law, int d, int n, const TimeGrid& grid,
                   const IntegratorSettings& settings, const std::vector<double>& initial) {
  const int w = state_width(d);
  const int ns = static_cast<int>(initial.size() / static_cast<std::size_t>(n * w));
  BatchState state("initial", ns, n, w);
  BatchFrames frames("frames", ns, grid.nt, n, w);
  BatchFrames accel("accel", ns, grid.nt, n, d);
  BatchStats stats("stats", ns);
  auto state_host = Kokkos::create_mirror_view(state);
  for (int s = 0; s < ns; ++s)
    for (int b = 0; b < n; ++b)
      for (int c = 0; c < w; ++c)
        state_host(s, b, c) = initial[(static_cast<std::size_t>(s) * n + b) * w + c];
  Kokkos::deep_copy(state, state_host);
  integrate_batch(law, d, grid, settings, state, frames, accel, stats);

  BatchRun run;
  run.ns = ns;
  run.nt = grid.nt;
  run.n = n;
  run.d = d;
  auto frames_host = Kokkos::create_mirror_view(frames);
  auto accel_host = Kokkos::create_mirror_view(accel);
  auto stats_host = Kokkos::create_mirror_view(stats);
  Kokkos::deep_copy(frames_host, frames);
  Kokkos::deep_copy(accel_host, accel);
  Kokkos::deep_copy(stats_host, stats);
  for (int s = 0; s < ns; ++s) {
    run.stats.push_back(stats_host(s));
    for (int f = 0; f < grid.nt; ++f)
      for (int b = 0; b < n; ++b) {
        for (int c = 0; c < w; ++c) run.frames.push_back(frames_host(s, f, b, c));
        for (int k = 0; k < d; ++k) run.accel.push_back(accel_host(s, f, b, k));
      }
  }
  return run;
}

IntegratorSettings settings_for(Method m, double tol = 1e-10) {
  IntegratorSettings s;
  s.method = m;
  s.rtol = tol;
  s.atol = tol;
  return s;
}

ForceLawSpec spec_of(ForceLaw law) {
  ForceLawSpec s;
  s.law = law;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Kepler: bodies m1 = 1, m2 = 0.5 (G = 1, no softening), relative orbit a = 1, e = 0.5,
// started at apocentre in the centre-of-mass frame. Period T = 2 pi sqrt(a^3 / (G M)),
// pericentre at T/2 and 3T/2, apocentre at T; after 2T every body is back where it started.
// ---------------------------------------------------------------------------------------------
struct Kepler {
  double m1 = 1.0, m2 = 0.5, a = 1.0, e = 0.5;
  double M() const { return m1 + m2; }
  double period() const { return 2.0 * pi * std::sqrt(a * a * a / M()); }
  /// The fastest time scale of the orbit: pericentre distance over pericentre speed.
  double pericentre_time() const {
    const double rp = a * (1.0 - e);
    const double vp = std::sqrt(M() / a * (1.0 + e) / (1.0 - e));
    return rp / vp;
  }
  std::vector<double> initial() const {
    const double ra = a * (1.0 + e);
    const double va = std::sqrt(M() / a * (1.0 - e) / (1.0 + e));
    // [x, y, vx, vy, q, m] per body; relative vector r = x1 - x2 = (ra, 0), v = (0, va).
    return {m2 / M() * ra,  0.0, 0.0, m2 / M() * va,  0.0, m1,
            -m1 / M() * ra, 0.0, 0.0, -m1 / M() * va, 0.0, m2};
  }
  ForceLawSpec law() const {
    ForceLawSpec s;
    s.law = ForceLaw::gravity;
    s.gravity_G = 1.0;
    s.gravity_eps = 0.0;
    return s;
  }
};

/// Relative separation r = x1 - x2, velocity and acceleration of a two-body frame (2D).
struct Relative {
  double r[2], v[2], acc[2];
};

Relative relative(const BatchRun& run, int f) {
  const double* x = run.frame(0, f);
  const double* a = run.acceleration(0, f);
  Relative rel{};
  for (int k = 0; k < 2; ++k) {
    rel.r[k] = x[k] - x[6 + k];
    rel.v[k] = x[2 + k] - x[6 + 2 + k];
    rel.acc[k] = a[k] - a[2 + k];
  }
  return rel;
}

/// s = r . v (zero at peri- and apocentre) and its derivative v . v + r . a at frame f.
void radial(const BatchRun& run, int f, double& s, double& ds) {
  const Relative rel = relative(run, f);
  s = rel.r[0] * rel.v[0] + rel.r[1] * rel.v[1];
  ds = rel.v[0] * rel.v[0] + rel.v[1] * rel.v[1] + rel.r[0] * rel.acc[0] + rel.r[1] * rel.acc[1];
}

/// Times where s = r . v crosses zero upwards (pericentre) or downwards (apocentre): cubic
/// Hermite interpolation of s between frames (values and derivatives from the frames and the
/// stored accelerations), so the interpolation error is O(spacing^4), far below what is tested.
std::vector<double> crossings(const BatchRun& run, double spacing, bool upwards) {
  std::vector<double> times;
  for (int f = 0; f + 1 < run.nt; ++f) {
    double s0, d0, s1, d1;
    radial(run, f, s0, d0);
    radial(run, f + 1, s1, d1);
    const bool crosses = upwards ? (s0 < 0.0 && s1 >= 0.0) : (s0 > 0.0 && s1 <= 0.0);
    if (!crosses) continue;
    auto p = [&](double u) {
      const double u2 = u * u, u3 = u2 * u;
      return (2 * u3 - 3 * u2 + 1) * s0 + (u3 - 2 * u2 + u) * spacing * d0 +
             (-2 * u3 + 3 * u2) * s1 + (u3 - u2) * spacing * d1;
    };
    double lo = 0.0, hi = 1.0;
    for (int it = 0; it < 60; ++it) {
      const double mid = 0.5 * (lo + hi);
      ((p(mid) < 0.0) == upwards ? lo : hi) = mid;
    }
    times.push_back((f + 0.5 * (lo + hi)) * spacing);
  }
  return times;
}

/// Eccentricity of the relative orbit from its energy and angular momentum:
/// e = sqrt(1 + 2 eps l^2 / (G M)^2), eps = v^2/2 - G M / r, l = |r x v|.
double eccentricity(const BatchRun& run, int f, double M) {
  const Relative rel = relative(run, f);
  const double r = std::hypot(rel.r[0], rel.r[1]);
  const double eps = 0.5 * (rel.v[0] * rel.v[0] + rel.v[1] * rel.v[1]) - M / r;
  const double l = rel.r[0] * rel.v[1] - rel.r[1] * rel.v[0];
  return std::sqrt(std::max(0.0, 1.0 + 2.0 * eps * l * l / (M * M)));
}

struct KeplerResult {
  double period_error;        // |T_measured / T - 1| (pericentre to pericentre)
  double phase_error;         // |t_pericentre / (T/2) - 1| for the first pericentre
  double eccentricity_error;  // max over frames |e(t) - e|
  double return_error;        // |x(2T) - x(0)| / a over both bodies
  SimStats stats;
};

KeplerResult kepler_run(Method method, int substeps, double tol) {
  const Kepler kepler;
  const double T = kepler.period();
  TimeGrid grid;
  grid.nt = 801;
  grid.dt = 2.0 * T / grid.nt;  // frames span dt * nt = 2T: the last frame is at exactly 2T
  grid.substeps = substeps;
  const BatchRun run =
      integrate(kepler.law(), 2, 2, grid, settings_for(method, tol), kepler.initial());
  const double spacing = grid.frame_spacing();
  // Passages well inside the span: pericentres near T/2 and 3T/2, the apocentre near T (those
  // at 0 and 2T sit on the ends of the span).
  auto inside = [&](std::vector<double> times) {
    std::vector<double> kept;
    for (double t : times)
      if (t > 0.25 * T && t < 1.75 * T) kept.push_back(t);
    return kept;
  };
  const std::vector<double> peri = inside(crossings(run, spacing, true));
  const std::vector<double> apo = inside(crossings(run, spacing, false));
  KeplerResult result{};
  result.stats = run.stats[0];
  EXPECT_EQ(peri.size(), 2u);
  EXPECT_EQ(apo.size(), 1u);
  if (peri.size() != 2u || apo.size() != 1u) return result;
  result.period_error = std::fabs((peri[1] - peri[0]) / T - 1.0);
  result.phase_error = std::fabs(peri[0] / (0.5 * T) - 1.0);
  for (int f = 0; f < run.nt; ++f)
    result.eccentricity_error =
        std::max(result.eccentricity_error, std::fabs(eccentricity(run, f, kepler.M()) - kepler.e));
  double r2 = 0.0;
  const double* start = run.frame(0, 0);
  const double* end = run.frame(0, run.nt - 1);
  for (int b = 0; b < 2; ++b)
    for (int k = 0; k < 2; ++k) r2 += std::pow(end[b * 6 + k] - start[b * 6 + k], 2);
  result.return_error = std::sqrt(r2) / kepler.a;
  return result;
}

/// Kepler orbits with fixed steps: the global error of an order-p method on this orbit is
/// C (h / tau_p)^p with tau_p = r_p / v_p = 0.236 the pericentre passage time, the orbit's
/// fastest scale, and C of order one. Each measure is held to (h / tau_p)^p (C = 1): a method
/// of order p - 1 would miss it by a factor tau_p / h > 50.
void expect_kepler_within(const KeplerResult& r, double bound) {
  EXPECT_EQ(r.stats.status, 0);
  EXPECT_LT(r.period_error, bound);
  EXPECT_LT(r.phase_error, bound);
  EXPECT_LT(r.eccentricity_error, bound);
  EXPECT_LT(r.return_error, bound);
}

void report(const char* what, const KeplerResult& r, double bound) {
  std::printf(
      "[ measured ] %s: |dT/T| %.2e, |dt_peri/t_peri| %.2e, max |de| %.2e, "
      "|x(2T) - x(0)|/a %.2e (bound %.2e; %lld steps, %lld rejected)\n",
      what, r.period_error, r.phase_error, r.eccentricity_error, r.return_error, bound,
      static_cast<long long>(r.stats.steps), static_cast<long long>(r.stats.rejected));
}

TEST(Integrators, KeplerOrbitVerlet) {
  const Kepler kepler;
  const int substeps = 16;  // h = T / 6400 = 8.0e-4
  const double h = 2.0 * kepler.period() / 800 / substeps;
  const double bound = std::pow(h / kepler.pericentre_time(), 2);
  const KeplerResult r = kepler_run(Method::verlet, substeps, 0.0);
  report("kepler verlet", r, bound);
  expect_kepler_within(r, bound);
}

TEST(Integrators, KeplerOrbitRk4) {
  const Kepler kepler;
  const int substeps = 4;  // h = T / 1600 = 3.2e-3
  const double h = 2.0 * kepler.period() / 800 / substeps;
  const double bound = std::pow(h / kepler.pericentre_time(), 4);
  const KeplerResult r = kepler_run(Method::rk4, substeps, 0.0);
  report("kepler rk4", r, bound);
  expect_kepler_within(r, bound);
}

/// rk45 with rtol = atol = 1e-10: every accepted step's local error is below the tolerance in
/// the weighted norm (scale ~ |y| ~ 1 here), so the global error is at most about steps x tol.
TEST(Integrators, KeplerOrbitRk45) {
  const double tol = 1e-10;
  const KeplerResult r = kepler_run(Method::rk45, 1, tol);
  const double bound = static_cast<double>(r.stats.steps) * tol;
  report("kepler rk45", r, bound);
  expect_kepler_within(r, bound);
}

/// The state after exactly 1 and 2 periods (frames at 0, T, 2T) against the start: the order of
/// the fixed-step methods (error ratio 2^p when h halves) and rk45's global error following its
/// tolerance (about proportional: each tolerance is met step by step; the number of steps only
/// grows as tol^(-1/5)).
double kepler_return_error(Method method, int substeps, double tol, SimStats* stats = nullptr) {
  const Kepler kepler;
  TimeGrid grid;
  grid.nt = 3;
  grid.dt = 2.0 * kepler.period() / grid.nt;
  grid.substeps = substeps;
  const BatchRun run =
      integrate(kepler.law(), 2, 2, grid, settings_for(method, tol), kepler.initial());
  if (stats) *stats = run.stats[0];
  double worst = 0.0;
  for (int f = 1; f < 3; ++f) {
    double r2 = 0.0;
    for (int c = 0; c < 12; ++c)
      if (c % 6 < 4) r2 += std::pow(run.frame(0, f)[c] - run.frame(0, 0)[c], 2);
    worst = std::max(worst, std::sqrt(r2));
  }
  return worst;
}

/// A pure relative tolerance (atol = 0) with state components that are exactly 0 (the Kepler
/// start has y = 0 and vx = 0): those components have no scale and are left out of the norm, as
/// in PETSc, instead of dividing 0 by 0.
TEST(Integrators, Rk45PureRelativeTolerance) {
  const Kepler kepler;
  TimeGrid grid;
  grid.nt = 3;
  grid.dt = 2.0 * kepler.period() / grid.nt;
  IntegratorSettings settings = settings_for(Method::rk45, 1e-10);
  settings.atol = 0.0;
  const BatchRun run = integrate(kepler.law(), 2, 2, grid, settings, kepler.initial());
  EXPECT_EQ(run.stats[0].status, 0);
  double r2 = 0.0;
  for (int c = 0; c < 12; ++c)
    if (c % 6 < 4) r2 += std::pow(run.frame(0, 2)[c] - run.frame(0, 0)[c], 2);
  EXPECT_LT(std::sqrt(r2), static_cast<double>(run.stats[0].steps) * settings.rtol);
}

TEST(Integrators, KeplerConvergenceOrder) {
  // verlet h = T/4000 -> T/8000 (h / tau_p = 5.4e-3 -> 2.7e-3); rk4 h = T/1000 -> T/2000.
  const double v1 = kepler_return_error(Method::verlet, 2000, 0.0);
  const double v2 = kepler_return_error(Method::verlet, 4000, 0.0);
  const double r1 = kepler_return_error(Method::rk4, 500, 0.0);
  const double r2 = kepler_return_error(Method::rk4, 1000, 0.0);
  std::printf(
      "[ measured ] kepler return error: verlet %.3e -> %.3e (ratio %.2f), "
      "rk4 %.3e -> %.3e (ratio %.2f)\n",
      v1, v2, v1 / v2, r1, r2, r1 / r2);
  // Asymptotic ratios 4 and 16; the next order's terms move them by O(h / tau_p) (rk4: 16
  // x (1 + 4 h / tau_p) ~ 18.5 here), so the bands are 2^p x [11/16, 22/16], those of the
  // energy test below: an order off by one lands at half or twice.
  EXPECT_GT(v1 / v2, 4.0 * 11.0 / 16.0);
  EXPECT_LT(v1 / v2, 4.0 * 22.0 / 16.0);
  EXPECT_GT(r1 / r2, 11.0);
  EXPECT_LT(r1 / r2, 22.0);
}

TEST(Integrators, Rk45ErrorFollowsTolerance) {
  // Error-per-step control with local extrapolation gives a global error about proportional to
  // the tolerance (Hairer, Norsett & Wanner I, II.4 "tolerance proportionality"): the slope of
  // log(error) against log(tol) over six decades must lie in [0.8, 1.5] (1 asymptotically,
  // somewhat above while the step count still grows as tol^(-1/5)), and every 100x tighter
  // tolerance must buy at least 10x.
  const double tols[] = {1e-6, 1e-8, 1e-10, 1e-12};
  std::vector<double> errors;
  for (double tol : tols) {
    SimStats stats;
    errors.push_back(kepler_return_error(Method::rk45, 1, tol, &stats));
    std::printf(
        "[ measured ] kepler rk45 tol %.0e: return error %.3e, %lld steps, %lld "
        "rejected\n",
        tol, errors.back(), static_cast<long long>(stats.steps),
        static_cast<long long>(stats.rejected));
    EXPECT_EQ(stats.status, 0);
    if (errors.size() > 1) EXPECT_GT(errors[errors.size() - 2] / errors.back(), 10.0) << tol;
  }
  const double slope = std::log(errors.front() / errors.back()) / std::log(tols[0] / tols[3]);
  std::printf("[ measured ] kepler rk45 error ~ tol^%.2f\n", slope);
  EXPECT_GT(slope, 0.8);
  EXPECT_LT(slope, 1.5);
}

// ---------------------------------------------------------------------------------------------
// Energy of the conservative seed laws on seed-style initial conditions (n = 4, 2D, the seed's
// dt per law, 500 frames). Random systems include close encounters that no fixed step resolves,
// so the tolerance of each simulation comes from its own fastest time scale
//   tau = min over frames and pairs of sqrt(r' / |a_i - a_j|)
// (the time for the pair's relative acceleration to move it by its softened distance; for
// gravity-like laws the free-fall time). A p-th order method's energy error is then
// C (h / tau)^p for symplectic Verlet (bounded: no growth with time) and C (t / tau)(h / tau)^4
// for RK4 (non-symplectic: grows linearly), relative to the largest energy scale
// max_t (K + |U|) the system visits, with C of order one; we hold C <= 1. Only simulations whose
// steps resolve tau (h / tau <= 0.1, the asymptotic regime) are held to it, and at least a
// quarter of them must qualify. rk45 (the seed's rtol = atol = 1.4e-8) is held on every
// simulation, close encounters included, to (steps + 10) x tol (local errors summed, plus the
// dense output's interpolation error at frames between steps).
// ---------------------------------------------------------------------------------------------
struct EnergyRecord {
  double drift = 0.0;         // max_t |E(t) - E(0)| / max_t (K + |U|)
  double tau = 0.0;           // fastest pair time scale seen in the frames
  std::vector<double> error;  // |E(t) - E(0)| per frame, unscaled
};

EnergyRecord energy_record(const ForceLawSpec& law, const BatchRun& run, int s) {
  const int d = run.d, n = run.n, w = state_width(d);
  EnergyRecord rec;
  const double E0 = total_energy(law, d, n, run.frame(s, 0));
  double scale = 0.0, worst = 0.0;
  rec.tau = std::numeric_limits<double>::infinity();
  for (int f = 0; f < run.nt; ++f) {
    const double* x = run.frame(s, f);
    const double* a = run.acceleration(s, f);
    const double U = potential_energy(law, d, n, x);
    const double E = total_energy(law, d, n, x);
    scale = std::max(scale, std::fabs(E - U) + std::fabs(U));
    rec.error.push_back(std::fabs(E - E0));
    worst = std::max(worst, std::fabs(E - E0));
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j) {
        double r2 = 0.0, a2 = 0.0;
        for (int k = 0; k < d; ++k) {
          r2 += std::pow(x[i * w + k] - x[j * w + k], 2);
          a2 += std::pow(a[i * d + k] - a[j * d + k], 2);
        }
        if (a2 > 0.0)
          rec.tau = std::min(rec.tau, std::sqrt((std::sqrt(r2) + distance_shift) / std::sqrt(a2)));
      }
  }
  rec.drift = worst / scale;
  return rec;
}

std::vector<double> seed_systems(ForceLaw law, std::uint64_t seed, int d, int n, int first,
                                 int count) {
  const int w = state_width(d);
  std::vector<double> init(static_cast<std::size_t>(count * n * w));
  for (int s = 0; s < count; ++s)
    initial_bodies(law, seed, d, static_cast<std::uint64_t>(first + s), 0, n,
                   &init[static_cast<std::size_t>(s * n * w)]);
  return init;
}

struct SeedLaw {
  ForceLaw law;
  double dt;  // REFERENCES.md: the seed's dt per law
};
const SeedLaw conservative_laws[] = {
    {ForceLaw::spring, 1e-2}, {ForceLaw::r1, 5e-3}, {ForceLaw::r2, 1e-3}, {ForceLaw::charge, 1e-3}};

TEST(Integrators, EnergyDriftOfConservativeLaws) {
  const int n = 4, d = 2, ns = 64;
  for (const SeedLaw& seed_law : conservative_laws) {
    const ForceLawSpec law = spec_of(seed_law.law);
    const std::vector<double> init = seed_systems(seed_law.law, 1, d, n, 0, ns);
    TimeGrid grid;
    grid.dt = seed_law.dt;
    grid.nt = 500;
    for (Method m : {Method::verlet, Method::rk4, Method::rk45}) {
      const IntegratorSettings settings = settings_for(m, 1.4e-8);
      const BatchRun run = integrate(law, d, n, grid, settings, init);
      int held = 0;
      double worst_c = 0.0, worst_drift = 0.0;
      for (int s = 0; s < ns; ++s) {
        ASSERT_EQ(run.stats[s].status, 0) << law_name(seed_law.law) << " sim " << s;
        const EnergyRecord rec = energy_record(law, run, s);
        const double hr = grid.step() / rec.tau;
        double bound = 0.0;
        if (m == Method::rk45) {
          // Local errors summed over the steps, plus the dense output's own error at the
          // frames between steps (order 4: of the size of the controlled local error
          // estimate, a few tol; measured up to 9.5 tol with 5 steps, charge sim 6).
          bound = static_cast<double>(run.stats[s].steps + 10) * settings.rtol;
        } else {
          if (hr > 0.1) continue;  // unresolved close encounter: outside the asymptotic regime
          bound = m == Method::verlet ? hr * hr : (grid.dt * grid.nt / rec.tau) * std::pow(hr, 4);
        }
        ++held;
        worst_c = std::max(worst_c, rec.drift / bound);
        worst_drift = std::max(worst_drift, rec.drift);
        EXPECT_LE(rec.drift, bound)
            << law_name(seed_law.law) << " " << method_name(m) << " sim " << s << " h/tau " << hr;
      }
      std::printf(
          "[ measured ] energy %s %s: %d of %d sims held, max drift %.2e, max drift / "
          "bound %.3f\n",
          law_name(seed_law.law), method_name(m), held, ns, worst_drift, worst_c);
      EXPECT_GE(held, ns / 4) << law_name(seed_law.law) << " " << method_name(m);
    }
  }
}

/// Simulations of `init` whose run keeps h / tau <= limit (see above).
std::vector<int> resolved_sims(const ForceLawSpec& law, const BatchRun& run, double h,
                               double limit) {
  std::vector<int> sims;
  for (int s = 0; s < run.ns; ++s)
    if (run.stats[s].status == 0 && h / energy_record(law, run, s).tau <= limit) sims.push_back(s);
  return sims;
}

/// Symplectic Verlet: the energy error oscillates with a bounded amplitude instead of growing.
/// Two-body systems of each conservative law (integrable, so the motion is regular and the
/// error's envelope is set by the orbit alone) from seed-style initial conditions, 20 000 steps
/// at the seed's dt: the largest error in the last 10 % of the run must stay within twice that
/// of the first 10 % (secular growth ~ t would give ~ 10). RK4's ratio on the same runs is
/// printed for contrast (it has no such bound).
TEST(Integrators, VerletEnergyErrorIsBounded) {
  const int n = 2, d = 2;
  for (const SeedLaw& seed_law : conservative_laws) {
    const ForceLawSpec law = spec_of(seed_law.law);
    const std::vector<double> init = seed_systems(seed_law.law, 5, d, n, 0, 8);
    TimeGrid grid;
    grid.dt = seed_law.dt;
    grid.nt = 20000;
    const BatchRun verlet = integrate(law, d, n, grid, settings_for(Method::verlet), init);
    const BatchRun rk4 = integrate(law, d, n, grid, settings_for(Method::rk4), init);
    const std::vector<int> sims = resolved_sims(law, verlet, grid.step(), 0.05);
    ASSERT_GE(sims.size(), 2u) << law_name(seed_law.law);
    const int window = grid.nt / 10;
    auto window_max = [&](const std::vector<double>& e, int first) {
      return *std::max_element(e.begin() + first, e.begin() + first + window);
    };
    for (int s : sims) {
      const EnergyRecord v = energy_record(law, verlet, s);
      const EnergyRecord r = energy_record(law, rk4, s);
      const double verlet_growth = window_max(v.error, grid.nt - window) / window_max(v.error, 1);
      const double rk4_growth = window_max(r.error, grid.nt - window) / window_max(r.error, 1);
      std::printf(
          "[ measured ] %s two-body sim %d, %d steps: energy error last/first 10%%: "
          "verlet %.2f (max drift %.2e), rk4 %.2f (max drift %.2e)\n",
          law_name(seed_law.law), s, grid.nt - 1, verlet_growth, v.drift, rk4_growth, r.drift);
      EXPECT_LT(verlet_growth, 2.0) << law_name(seed_law.law) << " sim " << s;
    }
  }
}

/// Halving the step: Verlet's energy error falls 4x, RK4's 16x (asymptotic; band for the
/// next-order term at h / tau <= 0.05). Spring and r1, seed dt, 200 frames.
TEST(Integrators, EnergyErrorOrder) {
  const int n = 4, d = 2;
  for (const SeedLaw& seed_law : {conservative_laws[0], conservative_laws[1]}) {
    const ForceLawSpec law = spec_of(seed_law.law);
    const std::vector<double> init = seed_systems(seed_law.law, 1, d, n, 0, 16);
    TimeGrid coarse;
    coarse.dt = seed_law.dt;
    coarse.nt = 200;
    TimeGrid fine = coarse;
    fine.substeps = 2;
    for (Method m : {Method::verlet, Method::rk4}) {
      const BatchRun a = integrate(law, d, n, coarse, settings_for(m), init);
      const BatchRun b = integrate(law, d, n, fine, settings_for(m), init);
      const std::vector<int> sims = resolved_sims(law, a, coarse.step(), 0.05);
      ASSERT_GE(sims.size(), 2u) << law_name(seed_law.law);
      const double expected = m == Method::verlet ? 4.0 : 16.0;
      for (int s : sims) {
        const double ratio = energy_record(law, a, s).drift / energy_record(law, b, s).drift;
        std::printf("[ measured ] %s %s sim %d: energy error ratio h -> h/2 = %.2f\n",
                    law_name(seed_law.law), method_name(m), s, ratio);
        EXPECT_GT(ratio, expected * 11.0 / 16.0) << law_name(seed_law.law) << " sim " << s;
        EXPECT_LT(ratio, expected * 22.0 / 16.0) << law_name(seed_law.law) << " sim " << s;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The damped law against a closed form. Two bodies in 1D, the second so heavy (1e15) that it
// stays put; the seed's damping acts on body 0 only (-(n-1-i)/n v_i = -v_0/2 for n = 2), so
// y = x_0 - x_1 - 0.99 obeys y'' + gamma y' + w0^2 y = 0 with gamma = 1/(2 m_0),
// w0^2 = 2 / m_0: y = e^{-gamma t/2} (y0 cos wd t + (v0 + gamma y0 / 2) / wd sin wd t).
// ---------------------------------------------------------------------------------------------
double damped_error(Method method, int substeps, double tol, double dt = 0.1, int nt = 100,
                    SimStats* stats = nullptr) {
  const double m0 = 1.0, y0 = 0.3, v0 = -0.4;
  const double gamma = 0.5 / m0, w0sq = 2.0 / m0, wd = std::sqrt(w0sq - 0.25 * gamma * gamma);
  const std::vector<double> init = {1.99 + y0, v0, 0.0, m0, 1.0, 0.0, 0.0, 1e15};
  TimeGrid grid;
  grid.dt = dt;
  grid.nt = nt;  // default 10 time units: 2.2 periods, amplitude down by e^-2.5
  grid.substeps = substeps;
  const BatchRun run =
      integrate(spec_of(ForceLaw::damped), 1, 2, grid, settings_for(method, tol), init);
  EXPECT_EQ(run.stats[0].status, 0);
  if (stats) *stats = run.stats[0];
  double worst = 0.0;
  for (int f = 0; f < grid.nt; ++f) {
    const double t = grid.time(f);
    const double c = std::cos(wd * t), s = std::sin(wd * t), decay = std::exp(-0.5 * gamma * t);
    const double B = (v0 + 0.5 * gamma * y0) / wd;
    const double y = decay * (y0 * c + B * s);
    const double v = decay * (-0.5 * gamma * (y0 * c + B * s) + wd * (-y0 * s + B * c));
    const double a = -gamma * v - w0sq * y;
    const double* x = run.frame(0, f);
    worst = std::max({worst, std::fabs(x[0] - x[4] - 0.99 - y), std::fabs(x[1] - v),
                      std::fabs(run.acceleration(0, f)[0] - a)});
  }
  return worst;
}

TEST(Integrators, DampedOscillatorClosedForm) {
  // h = 0.01 -> 0.005 (w0 h = 0.014): errors C (w0 h)^p with C of order one.
  const double v1 = damped_error(Method::verlet, 10, 0.0),
               v2 = damped_error(Method::verlet, 20, 0.0);
  const double r1 = damped_error(Method::rk4, 10, 0.0), r2 = damped_error(Method::rk4, 20, 0.0);
  const double k = damped_error(Method::rk45, 1, 1e-10);
  std::printf(
      "[ measured ] damped oscillator max error: verlet %.3e -> %.3e (ratio %.2f), rk4 "
      "%.3e -> %.3e (ratio %.2f), rk45(1e-10) %.3e\n",
      v1, v2, v1 / v2, r1, r2, r1 / r2, k);
  const double w0h = std::sqrt(2.0) * 0.01;
  EXPECT_LT(v1, w0h * w0h);
  // Second order: the implicit half kick keeps the damping O(h^2) (first order would give 2).
  EXPECT_GT(v1 / v2, 4.0 * 11.0 / 16.0);
  EXPECT_LT(v1 / v2, 4.0 * 22.0 / 16.0);
  EXPECT_LT(r1, std::pow(w0h, 4));
  EXPECT_GT(r1 / r2, 11.0);
  EXPECT_LT(r1 / r2, 22.0);
  EXPECT_LT(k, 1e-8);
}

/// rk45 takes the steps its tolerance asks for, not one (or more) per frame: with frames 10x
/// denser than those steps, the frames come from the dense output (Dormand-Prince's continuous
/// extension, order 4) and keep the accuracy of the steps, state and accelerations alike, and
/// the step count does not depend on how many frames are stored.
TEST(Integrators, Rk45FillsFramesFromDenseOutput) {
  for (double tol : {1e-8, 1e-10}) {
    SimStats sparse{}, dense{};
    const double e_sparse = damped_error(Method::rk45, 1, tol, 0.1, 100, &sparse);
    const double e_dense = damped_error(Method::rk45, 1, tol, 0.01, 1000, &dense);
    std::printf(
        "[ measured ] damped rk45 tol %.0e: 99 frames: %lld steps, max error %.2e; 999 "
        "frames: %lld steps, max error %.2e\n",
        tol, static_cast<long long>(sparse.steps), e_sparse, static_cast<long long>(dense.steps),
        e_dense);
    // Same span (10 time units), 10x the frames: the steps are those of the tolerance, far
    // fewer than the 999 frame intervals, and the same in both runs up to the rounding of
    // the end time (dt nt computed as (nt - 1) x spacing).
    EXPECT_LT(dense.steps, 999 / 4);
    EXPECT_LE(std::llabs(dense.steps - sparse.steps), 3) << tol;
    // The interpolated frames are as accurate as the steps (global error ~ 100 tol here).
    EXPECT_LT(e_dense, 1e3 * tol);
    EXPECT_LT(e_sparse, 1e3 * tol);
  }
}

// ---------------------------------------------------------------------------------------------
// One simulation's result does not depend on its batch: alone, at index 3 of 7, at index 5 of
// 7 other companions (one of which fails with a NaN state), bitwise equal frames,
// accelerations and statistics, for every method.
// ---------------------------------------------------------------------------------------------
TEST(Integrators, SimulationIsIndependentOfItsBatch) {
  const int n = 4, d = 3, w = state_width(d), row = n * w;
  const ForceLawSpec law = spec_of(ForceLaw::r2);
  const std::vector<double> pool = seed_systems(ForceLaw::r2, 2, d, n, 10, 14);
  auto system = [&](int i) {
    return std::vector<double>(pool.begin() + i * row, pool.begin() + (i + 1) * row);
  };
  std::vector<double> alone = system(0), batch_a, batch_b;
  for (int i : {1, 2, 3, 0, 4, 5, 6}) {
    const std::vector<double> sys = system(i);
    batch_a.insert(batch_a.end(), sys.begin(), sys.end());
  }
  for (int i : {13, 12, 11, 10, 9, 0, 8}) {
    std::vector<double> sys = system(i);
    if (i == 11) sys[0] = std::numeric_limits<double>::quiet_NaN();
    batch_b.insert(batch_b.end(), sys.begin(), sys.end());
  }
  TimeGrid grid;
  grid.dt = 0.05;
  grid.nt = 40;
  grid.substeps = 10;
  for (Method m : {Method::verlet, Method::rk4, Method::rk45}) {
    const IntegratorSettings settings = settings_for(m, 1e-9);
    const BatchRun r0 = integrate(law, d, n, grid, settings, alone);
    const BatchRun ra = integrate(law, d, n, grid, settings, batch_a);
    const BatchRun rb = integrate(law, d, n, grid, settings, batch_b);
    const std::size_t frame_bytes = static_cast<std::size_t>(grid.nt) * row * sizeof(double);
    const std::size_t accel_bytes = static_cast<std::size_t>(grid.nt) * n * d * sizeof(double);
    for (const auto& [run, index] : {std::pair<const BatchRun*, int>{&ra, 3}, {&rb, 5}}) {
      EXPECT_EQ(std::memcmp(r0.frame(0, 0), run->frame(index, 0), frame_bytes), 0)
          << method_name(m) << " index " << index;
      EXPECT_EQ(std::memcmp(r0.acceleration(0, 0), run->acceleration(index, 0), accel_bytes), 0)
          << method_name(m) << " index " << index;
      EXPECT_EQ(r0.stats[0].steps, run->stats[index].steps);
      EXPECT_EQ(r0.stats[0].rejected, run->stats[index].rejected);
      EXPECT_EQ(run->stats[index].status, 0);
    }
    EXPECT_EQ(rb.stats[2].status, 2) << method_name(m);  // the NaN companion failed alone
    EXPECT_TRUE(std::isnan(rb.frame(2, grid.nt - 1)[0]));
    // rk45 really adaptive: its steps are the tolerance's, fewer than the frames here, so
    // most frames come from the dense output (and are bitwise the same in any batch).
    if (m == Method::rk45) EXPECT_LT(r0.stats[0].steps, grid.nt - 1);
  }
}

// ---------------------------------------------------------------------------------------------
// The kernels step several simulations at once, one per SIMD lane (lane_integrator.hpp; under
// rk45 each lane with its own step size). For every law, dimension and method: (a) each of 11
// simulations (packs of 2, 4 or 8 lanes leave spare lanes in the last pack) gives the same
// bits in the batch as alone; (b) the accelerations stored with every frame are bitwise what
// the kernels' formula gives for that frame's state in plain scalar code (below), so the
// vector arithmetic is the scalar arithmetic.
// ---------------------------------------------------------------------------------------------

/// The kernels' formula: pairs i < j once (F_j -= F_i), body i's sum complete after its row,
/// then times 1 / m_i; the damping of the damped law is added to the sum.
template <int D, class Law>
void kernel_formula(const Law& law, int n, const double* state, double* acc) {
  const int w = state_width(D);
  for (int c = 0; c < n * D; ++c) acc[c] = 0.0;
  for (int i = 0; i < n; ++i) {
    const double* bi = state + i * w;
    double sum[D] = {}, f[D];
    for (int j = i + 1; j < n; ++j) {
      const double* bj = state + j * w;
      law.template pair_force<D>(bi, bj, bi[2 * D], bj[2 * D], bi[2 * D + 1], bj[2 * D + 1], f);
      for (int k = 0; k < D; ++k) {
        sum[k] += f[k];
        acc[j * D + k] -= f[k];
      }
    }
    if constexpr (std::is_same_v<Law, Damped>) {
      law.template damping_force<D>(bi + D, i, n, f);
      for (int k = 0; k < D; ++k) sum[k] += f[k];
    }
    const double inv_m = 1.0 / bi[2 * D + 1];
    for (int k = 0; k < D; ++k) acc[i * D + k] = (acc[i * D + k] + sum[k]) * inv_m;
  }
}

std::vector<double> formula_accelerations(const ForceLawSpec& spec, int d, int n,
                                          const double* state) {
  std::vector<double> acc(static_cast<std::size_t>(n * d));
  with_law(spec, [&](const auto& law) {
    if (d == 1) kernel_formula<1>(law, n, state, acc.data());
    if (d == 2) kernel_formula<2>(law, n, state, acc.data());
    if (d == 3) kernel_formula<3>(law, n, state, acc.data());
  });
  return acc;
}

TEST(Integrators, SimdLanesComputeWhatOneSimulationComputes) {
  const int n = 5, ns = 11;
  TimeGrid grid;
  grid.dt = 0.01;
  grid.nt = 5;
  grid.substeps = 3;
  for (ForceLaw law_id : {ForceLaw::spring, ForceLaw::r1, ForceLaw::r2, ForceLaw::charge,
                          ForceLaw::damped, ForceLaw::discontinuous, ForceLaw::gravity,
                          ForceLaw::power}) {
    ForceLawSpec law = spec_of(law_id);
    law.power_exponent = -1.5;  // a real power (std::pow in every lane)
    for (int d = 1; d <= 3; ++d) {
      const std::string what = std::string(law_name(law_id)) + " d=" + std::to_string(d);
      const int row = n * state_width(d);
      const std::vector<double> pool = seed_systems(law_id, 9, d, n, 0, ns);
      for (Method m : {Method::verlet, Method::rk4, Method::rk45}) {
        const IntegratorSettings settings = settings_for(m, 1e-9);
        const BatchRun batch = integrate(law, d, n, grid, settings, pool);
        for (int s = 0; s < ns; ++s) {
          const std::string where = what + " " + method_name(m) + " sim " + std::to_string(s);
          const std::vector<double> one(pool.begin() + s * row, pool.begin() + (s + 1) * row);
          const BatchRun alone = integrate(law, d, n, grid, settings, one);
          EXPECT_EQ(std::memcmp(alone.frame(0, 0), batch.frame(s, 0),
                                sizeof(double) * grid.nt * row),
                    0)
              << where;
          EXPECT_EQ(std::memcmp(alone.acceleration(0, 0), batch.acceleration(s, 0),
                                sizeof(double) * grid.nt * n * d),
                    0)
              << where;
          EXPECT_EQ(alone.stats[0].steps, batch.stats[s].steps) << where;
          EXPECT_EQ(alone.stats[0].rejected, batch.stats[s].rejected) << where;
          EXPECT_EQ(batch.stats[s].status, 0) << where;
          if (m != Method::rk45) EXPECT_EQ(batch.stats[s].steps, (grid.nt - 1) * grid.substeps);
          // Verlet adds the damping after the pair sum (a different rounding): not compared.
          if (m == Method::verlet && law_id == ForceLaw::damped) continue;
          for (int f = 0; f < grid.nt; ++f) {
            const std::vector<double> expected =
                formula_accelerations(law, d, n, batch.frame(s, f));
            EXPECT_EQ(std::memcmp(expected.data(), batch.acceleration(s, f),
                                  sizeof(double) * expected.size()),
                      0)
                << where << " frame " << f;
          }
        }
      }
    }
  }
}

// The pack width follows the CPU (2 lanes for SSE2, 4 for AVX2, 8 for AVX-512, chosen at run
// time like the Ising kernels' code paths): every width the machine runs gives the same bits.
TEST(Integrators, EverySimdWidthGivesTheSameBits) {
  using phyflow::SimdLevel;
  const int n = 6, ns = 13, d = 3;
  TimeGrid grid;
  grid.dt = 0.02;
  grid.nt = 6;
  grid.substeps = 4;
  const SimdLevel detected = phyflow::detected_simd_level();
  std::printf("[ info ] detected SIMD level: %s\n", phyflow::simd_level_name(detected));
  for (ForceLaw law_id : {ForceLaw::spring, ForceLaw::r1, ForceLaw::charge, ForceLaw::damped,
                          ForceLaw::discontinuous, ForceLaw::gravity}) {
    const std::vector<double> pool = seed_systems(law_id, 4, d, n, 0, ns);
    for (Method m : {Method::verlet, Method::rk4, Method::rk45}) {
      phyflow::cap_simd_level(SimdLevel::generic);
      const BatchRun generic = integrate(spec_of(law_id), d, n, grid, settings_for(m), pool);
      for (SimdLevel level : {SimdLevel::avx2, SimdLevel::avx512}) {
        if (static_cast<int>(level) > static_cast<int>(detected)) continue;
        phyflow::cap_simd_level(level);
        const BatchRun wide = integrate(spec_of(law_id), d, n, grid, settings_for(m), pool);
        for (int s = 0; s < ns; ++s) {
          EXPECT_EQ(generic.stats[s].steps, wide.stats[s].steps);
          EXPECT_EQ(generic.stats[s].rejected, wide.stats[s].rejected);
        }
        ASSERT_EQ(generic.frames.size(), wide.frames.size());
        ASSERT_EQ(generic.accel.size(), wide.accel.size());
        EXPECT_EQ(std::memcmp(generic.frames.data(), wide.frames.data(),
                              sizeof(double) * wide.frames.size()),
                  0)
            << law_name(law_id) << " " << method_name(m) << " " << simd_level_name(level);
        EXPECT_EQ(std::memcmp(generic.accel.data(), wide.accel.data(),
                              sizeof(double) * wide.accel.size()),
                  0)
            << law_name(law_id) << " " << method_name(m) << " " << simd_level_name(level);
      }
    }
  }
  phyflow::cap_simd_level(SimdLevel::avx512);
}

TEST(Integrators, FailuresMarkTheSimulationAndNaNTheRest) {
  // rk45 allowed one step per frame on a Kepler orbit with frames T apart: status 1 at frame 1.
  const Kepler kepler;
  TimeGrid grid;
  grid.nt = 4;
  grid.dt = 3.0 * kepler.period() / grid.nt;
  IntegratorSettings tight = settings_for(Method::rk45, 1e-10);
  tight.max_steps_per_frame = 1;
  const BatchRun run = integrate(kepler.law(), 2, 2, grid, tight, kepler.initial());
  EXPECT_EQ(run.stats[0].status, 1);
  EXPECT_EQ(run.frame(0, 0)[0], kepler.initial()[0]);  // frame 0 is the initial state
  for (int f = 1; f < grid.nt; ++f)
    for (int c = 0; c < 12; ++c) EXPECT_TRUE(std::isnan(run.frame(0, f)[c])) << f << " " << c;
  EXPECT_TRUE(std::isnan(run.acceleration(0, 1)[0]));

  // A non-finite state: status 2 for every method.
  std::vector<double> bad = kepler.initial();
  bad[2] = std::numeric_limits<double>::infinity();
  for (Method m : {Method::verlet, Method::rk4, Method::rk45}) {
    const BatchRun r = integrate(kepler.law(), 2, 2, grid, settings_for(m), bad);
    EXPECT_EQ(r.stats[0].status, 2) << method_name(m);
    EXPECT_TRUE(std::isnan(r.frame(0, grid.nt - 1)[0])) << method_name(m);
  }
}

// ---------------------------------------------------------------------------------------------
// Seed-style initial conditions: every feature N(0,1), m = exp(N(0,1)), charge q = sign(N).
// 4 000 systems of 4 bodies in 3D (16 000 bodies): sample means within 4 standard errors
// (1 / sqrt(N)) of 0, variances within 4 standard errors (sqrt(2 / N)) of 1.
// ---------------------------------------------------------------------------------------------
TEST(InitialConditions, SeedDistribution) {
  const int d = 3, n = 4, w = state_width(d), ns = 4000;
  for (ForceLaw law : {ForceLaw::spring, ForceLaw::charge}) {
    const std::vector<double> init = seed_systems(law, 7, d, n, 0, ns);
    const double N = static_cast<double>(ns) * n;
    for (int c = 0; c < w; ++c) {
      double sum = 0.0, sum2 = 0.0;
      for (std::size_t b = 0; b < static_cast<std::size_t>(ns * n); ++b) {
        double z = init[b * w + c];
        if (c == w - 1) {
          ASSERT_GT(z, 0.0);
          z = std::log(z);  // m = exp(N(0,1))
        }
        if (c == w - 2 && law == ForceLaw::charge) ASSERT_TRUE(z == 1.0 || z == -1.0) << z;
        sum += z;
        sum2 += z * z;
      }
      if (c == w - 2 && law == ForceLaw::charge) continue;  // q = sign(N): checked below
      const double mean = sum / N, var = sum2 / N - mean * mean;
      EXPECT_LT(std::fabs(mean), 4.0 / std::sqrt(N)) << law_name(law) << " feature " << c;
      EXPECT_LT(std::fabs(var - 1.0), 4.0 * std::sqrt(2.0 / N))
          << law_name(law) << " feature " << c;
    }
    if (law == ForceLaw::charge) {  // P(q = +1) = 1/2 within 4 standard errors
      double plus = 0.0;
      for (std::size_t b = 0; b < static_cast<std::size_t>(ns * n); ++b)
        plus += init[b * w + w - 2] > 0.0;
      EXPECT_LT(std::fabs(plus / N - 0.5), 4.0 * 0.5 / std::sqrt(N));
    }
  }
}

TEST(InitialConditions, BodyDoesNotDependOnSystemSizeOrRange) {
  const int d = 2, w = state_width(d);
  std::vector<double> four(4 * w), eight(8 * w), one(w);
  initial_bodies(ForceLaw::charge, 3, d, 17, 0, 4, four.data());
  initial_bodies(ForceLaw::charge, 3, d, 17, 0, 8, eight.data());
  initial_bodies(ForceLaw::charge, 3, d, 17, 2, 1, one.data());
  EXPECT_EQ(std::memcmp(four.data(), eight.data(), four.size() * sizeof(double)), 0);
  EXPECT_EQ(std::memcmp(one.data(), &four[2 * w], w * sizeof(double)), 0);
  std::vector<double> other(4 * w);  // another simulation or seed: other bodies
  initial_bodies(ForceLaw::charge, 3, d, 18, 0, 4, other.data());
  EXPECT_NE(other[0], four[0]);
  initial_bodies(ForceLaw::charge, 4, d, 17, 0, 4, other.data());
  EXPECT_NE(other[0], four[0]);
}

// ---------------------------------------------------------------------------------------------
// Deck names and argument checks.
// ---------------------------------------------------------------------------------------------
TEST(Integrators, NamesParseAndUnknownOnesSuggest) {
  for (Method m : {Method::verlet, Method::rk4, Method::rk45})
    EXPECT_EQ(parse_method(method_name(m)), m);
  for (Engine e : {Engine::kokkos, Engine::petsc}) EXPECT_EQ(parse_engine(engine_name(e)), e);
  try {
    parse_method("rk5");
    FAIL() << "no error";
  } catch (const phyflow::Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.code(), phyflow::ExitCode::bad_input);
    EXPECT_NE(what.find("integrator.method"), std::string::npos) << what;
    EXPECT_NE(what.find("'rk4'"), std::string::npos) << what;
  }
  try {
    parse_engine("petc", "nbody.engine");
    FAIL() << "no error";
  } catch (const phyflow::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("nbody.engine"), std::string::npos) << what;
    EXPECT_NE(what.find("'petsc'"), std::string::npos) << what;
  }
}

TEST(Integrators, BadArgumentsAreClearErrors) {
  const Kepler kepler;
  auto attempt = [&](int d, TimeGrid grid, IntegratorSettings s, int nt_frames) {
    const int w = state_width(d);
    BatchState state("initial", 1, 2, w);
    BatchFrames frames("frames", 1, nt_frames, 2, w);
    BatchFrames accel("accel", 1, nt_frames, 2, d);
    BatchStats stats("stats", 1);
    try {
      integrate_batch(kepler.law(), d, grid, s, state, frames, accel, stats);
    } catch (const phyflow::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  TimeGrid ok;
  ok.nt = 5;
  const IntegratorSettings rk45 = settings_for(Method::rk45);
  EXPECT_EQ(attempt(2, ok, rk45, 5), "");
  TimeGrid g = ok;
  g.dt = 0.0;
  EXPECT_NE(attempt(2, g, rk45, 5).find("time.dt"), std::string::npos);
  g = ok;
  g.nt = 1;
  EXPECT_NE(attempt(2, g, rk45, 1).find("time.nt"), std::string::npos);
  g = ok;
  g.substeps = 0;
  EXPECT_NE(attempt(2, g, settings_for(Method::rk4), 5).find("time.substeps"), std::string::npos);
  EXPECT_NE(attempt(4, ok, rk45, 5).find("system.dims"), std::string::npos);
  IntegratorSettings s = rk45;
  s.rtol = 0.0;
  s.atol = 0.0;
  EXPECT_NE(attempt(2, ok, s, 5).find("integrator.rtol"), std::string::npos);
  EXPECT_NE(attempt(2, ok, rk45, 6).find("frames have shape"), std::string::npos);
}

}  // namespace
