// The Kokkos integrators against the PETSc TS reference (DESIGN.md §6): the same scheme with
// the same step agrees to rounding; rk45 agrees to the tolerance; and the difference between a
// fixed-step Kokkos run and a tight PETSc rk45 reference shrinks with the order of the method
// (16x for rk4, 4x for verlet when the step halves). Systems: a Kepler ellipse (gravity,
// e = 0.5) and seed-style 4-body spring systems over a short span (smooth forces).
#include <gtest/gtest.h>

#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdio>
#include <vector>

#include "phyflow/nbody/force_laws.hpp"
#include "phyflow/nbody/initial_conditions.hpp"
#include "phyflow/nbody/integrators.hpp"

namespace {

using namespace phyflow::nbody;

struct System {
  ForceLawSpec law;
  int d = 2, n = 2;
  std::vector<double> initial;  // n rows of 2d + 2
  double span = 1.0;            // time covered by the frames
};

System kepler() {
  // m1 = 1, m2 = 0.5, a = 1, e = 0.5, apocentre start in the centre-of-mass frame.
  const double m1 = 1.0, m2 = 0.5, M = m1 + m2, a = 1.0, e = 0.5;
  const double ra = a * (1.0 + e), va = std::sqrt(M / a * (1.0 - e) / (1.0 + e));
  System s;
  s.law.law = ForceLaw::gravity;
  s.law.gravity_G = 1.0;
  s.law.gravity_eps = 0.0;
  s.initial = {m2 / M * ra, 0.0, 0.0, m2 / M * va,  0.0, m1,
               -m1 / M * ra, 0.0, 0.0, -m1 / M * va, 0.0, m2};
  s.span = 2.0 * 3.14159265358979323846 * std::sqrt(a * a * a / M);  // one period
  return s;
}

System spring(std::uint64_t sim) {
  System s;
  s.law.law = ForceLaw::spring;
  s.n = 4;
  s.initial.resize(4 * 6);
  initial_bodies(ForceLaw::spring, 1, 2, sim, 0, 4, s.initial.data());
  s.span = 1.0;
  return s;
}

TimeGrid grid_for(const System& s, int nt, int substeps) {
  TimeGrid g;
  g.nt = nt;
  g.dt = s.span / nt;  // frames span dt * nt = span
  g.substeps = substeps;
  return g;
}

std::vector<double> run_kokkos(const System& s, const TimeGrid& g, const IntegratorSettings& set) {
  const int w = state_width(s.d);
  BatchState init("init", 1, s.n, w);
  auto ih = Kokkos::create_mirror_view(init);
  for (int b = 0; b < s.n; ++b)
    for (int c = 0; c < w; ++c) ih(0, b, c) = s.initial[std::size_t(b * w + c)];
  Kokkos::deep_copy(init, ih);
  BatchFrames frames("frames", 1, g.nt, s.n, w), accel("accel", 1, g.nt, s.n, s.d);
  BatchStats stats("stats", 1);
  integrate_batch(s.law, s.d, g, set, init, frames, accel, stats);
  auto fh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), frames);
  return std::vector<double>(fh.data(), fh.data() + fh.size());
}

std::vector<double> run_petsc(const System& s, const TimeGrid& g, const IntegratorSettings& set) {
  const int w = state_width(s.d);
  std::vector<double> frames(std::size_t(g.nt * s.n * w)), accel(std::size_t(g.nt * s.n * s.d));
  SimStats st;
  integrate_petsc(s.law, s.d, s.n, g, set, s.initial.data(), frames.data(), accel.data(), st);
  EXPECT_EQ(st.status, 0);
  return frames;
}

/// Largest difference of positions and velocities over all frames.
double max_diff(const System& s, const std::vector<double>& a, const std::vector<double>& b) {
  const int w = state_width(s.d);
  double m = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (int(i % std::size_t(w)) < 2 * s.d) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

IntegratorSettings settings(Method m, double tol = 1e-8) {
  IntegratorSettings s;
  s.method = m;
  s.rtol = tol;
  s.atol = tol;
  s.max_steps_per_frame = 100000;
  return s;
}

TEST(EnginesAgree, SameFixedStepSchemeAgreesToRounding) {
  // Kokkos and PETSc run the identical rk4 / kick-drift-kick recurrences; only the order of
  // the pair-force sums differs, so the states agree to a few hundred ulps after 400 steps.
  for (const System& s : {kepler(), spring(0), spring(5)}) {
    const TimeGrid g = grid_for(s, 41, 10);
    for (Method m : {Method::rk4, Method::verlet}) {
      const double diff = max_diff(s, run_kokkos(s, g, settings(m)), run_petsc(s, g, settings(m)));
      std::printf("[ measured ] %s %s: max |kokkos - petsc| = %.2e\n", law_name(s.law.law),
                  method_name(m), diff);
      EXPECT_LT(diff, 1e-11) << law_name(s.law.law) << " " << method_name(m);
    }
  }
}

TEST(EnginesAgree, Rk45AgreesToTheTolerance) {
  // Both control the same weighted RMS error per step; their global errors are each of order
  // tol x (steps), so the two solutions agree to within that, and the gap follows the
  // tolerance: 100x tighter gives a gap smaller by 100^(4/5) = 40 asymptotically (error per
  // step control of a 4th-order estimate); short smooth runs take few steps, so >= 4 is asked.
  for (const System& s : {kepler(), spring(2)}) {
    const TimeGrid g = grid_for(s, 21, 1);
    const double loose = max_diff(s, run_kokkos(s, g, settings(Method::rk45, 1e-7)),
                                  run_petsc(s, g, settings(Method::rk45, 1e-7)));
    const double tight = max_diff(s, run_kokkos(s, g, settings(Method::rk45, 1e-9)),
                                  run_petsc(s, g, settings(Method::rk45, 1e-9)));
    std::printf("[ measured ] %s rk45: |kokkos - petsc| = %.2e at tol 1e-7, %.2e at 1e-9\n",
                law_name(s.law.law), loose, tight);
    EXPECT_LT(loose, 1e-7 * 1e3);
    EXPECT_LT(tight, 1e-9 * 1e3);
    EXPECT_GT(loose / std::max(tight, 1e-300), 4.0);
  }
}

TEST(EnginesAgree, FixedStepKokkosConvergesToPetscReferenceWithItsOrder) {
  // Reference: PETSc rk45 at tol 1e-13. Kokkos rk4 / verlet with h and h/2: the gap to the
  // reference is the method's global error C h^p, so it shrinks by 2^p = 16 / 4.
  for (const System& s : {kepler(), spring(0)}) {
    const TimeGrid gref = grid_for(s, 11, 1);
    const std::vector<double> ref = run_petsc(s, gref, settings(Method::rk45, 1e-13));
    struct Case { Method m; int sub; double lo, hi; };
    for (const Case c : {Case{Method::rk4, 40, 13.0, 19.0}, Case{Method::verlet, 100, 3.6, 4.4}}) {
      const double e1 = max_diff(s, run_kokkos(s, grid_for(s, 11, c.sub), settings(c.m)), ref);
      const double e2 = max_diff(s, run_kokkos(s, grid_for(s, 11, 2 * c.sub), settings(c.m)), ref);
      std::printf("[ measured ] %s %s: error %.3e (h) %.3e (h/2), ratio %.2f\n",
                  law_name(s.law.law), method_name(c.m), e1, e2, e1 / e2);
      EXPECT_GT(e1 / e2, c.lo) << law_name(s.law.law) << " " << method_name(c.m);
      EXPECT_LT(e1 / e2, c.hi) << law_name(s.law.law) << " " << method_name(c.m);
    }
  }
}

}  // namespace
