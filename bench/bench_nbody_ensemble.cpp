// N-body ensembles through integrate_batch(): pair interactions per second ("pairs/s" =
// n(n-1)/2 x force evaluations x simulations / second) and time per simulated step for
// ns = 10^4 systems of n = 4 and 8 bodies (spring law, 2D, seed-style initial conditions),
// velocity Verlet, RK4 and adaptive rk45 (the seed's rtol = atol = 1.4e-8). Each rank
// integrates its own 10^4 systems (weak scaling); times are the slowest rank's.
//
//   build/bench/bench_nbody_ensemble
//   mpiexec -n 2 build/bench/bench_nbody_ensemble
// Compare: /usr/bin/python3 bench/numpy_nbody.py --n 4 (the same RK4 in NumPy).
#include <benchmark/benchmark.h>
#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "phyflow/core/runtime.hpp"
#include "phyflow/nbody/force_laws.hpp"
#include "phyflow/nbody/initial_conditions.hpp"
#include "phyflow/nbody/integrators.hpp"
#include "mpi_bench.hpp"

namespace {

using namespace phyflow::nbody;

constexpr int ensemble = 10000;
constexpr int dims = 2;

/// Force evaluations one simulation made (see lane_integrator.hpp): Verlet one per step plus
/// the initial one; RK4 four per step plus the last frame's; rk45 six per attempt (FSAL) plus
/// two for the starting step, the initial one and one per later frame (the accelerations of
/// its dense-output state).
double evaluations(Method m, const SimStats& s, int nt) {
  switch (m) {
    case Method::verlet:
      return static_cast<double>(s.steps) + 1.0;
    case Method::rk4:
      return 4.0 * static_cast<double>(s.steps) + 1.0;
    case Method::rk45:
      return 6.0 * static_cast<double>(s.steps + s.rejected) + 2.0 + static_cast<double>(nt);
  }
  return 0.0;
}

/// dense: the frames of issue 13's case (the seed's spring dt 0.01, nt = 200 frames, so many
/// frames per rk45 step), else sparse frames for rk45 and 10 fixed steps per frame otherwise.
void ensemble_benchmark(benchmark::State& state, Method method, int n, bool dense = false,
                        int sims = ensemble) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int w = state_width(dims);
  ForceLawSpec law;
  law.law = ForceLaw::spring;
  TimeGrid grid;
  IntegratorSettings settings;
  settings.method = method;
  if (dense) {
    grid.dt = 0.01;
    grid.nt = 200;
  } else if (method == Method::rk45) {  // sparse frames, so the steps are the controller's choice
    grid.dt = 0.5;
    grid.nt = 5;
  } else {  // the seed's spring dt, 10 steps per frame
    grid.dt = 0.01;
    grid.nt = 11;
    grid.substeps = 10;
  }
  BatchState initial("initial", sims, n, w);
  auto host = Kokkos::create_mirror_view(initial);
  for (int s = 0; s < sims; ++s)
    initial_bodies(law.law, 1, dims, static_cast<std::uint64_t>(rank) * sims + s, 0, n,
                   &host(s, 0, 0));
  Kokkos::deep_copy(initial, host);
  BatchFrames frames("frames", sims, grid.nt, n, w);
  BatchFrames accel("accel", sims, grid.nt, n, dims);
  BatchStats stats("stats", sims);

  for (auto _ : state) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = std::chrono::steady_clock::now();
    integrate_batch(law, dims, grid, settings, initial, frames, accel, stats);
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    state.SetIterationTime(dt);
  }
  auto stats_host = Kokkos::create_mirror_view(stats);
  Kokkos::deep_copy(stats_host, stats);
  double evals = 0.0, steps = 0.0;
  for (int s = 0; s < sims; ++s) {
    evals += evaluations(method, stats_host(s), grid.nt);
    steps += static_cast<double>(stats_host(s).steps);
  }
  const double pairs = 0.5 * n * (n - 1);
  const auto iterations = static_cast<double>(state.iterations());
  state.counters["pairs/s"] =
      benchmark::Counter(pairs * evals * iterations, benchmark::Counter::kIsRate);
  // Seconds per accepted step of one simulation (the ensemble's time / all its steps).
  state.counters["s/sim-step"] = benchmark::Counter(
      steps * iterations, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["steps/sim"] = steps / sims;
  state.counters["evals/step"] = evals / steps;
}

}  // namespace

int main(int argc, char** argv) {
  phyflow::Runtime runtime(argc, argv);
  benchmark::Initialize(&argc, argv);
  for (int n : {4, 8})
    for (Method m : {Method::verlet, Method::rk4, Method::rk45})
      benchmark::RegisterBenchmark(
          ("Ensemble/" + std::string(method_name(m)) + "/n" + std::to_string(n)).c_str(),
          [m, n](benchmark::State& s) { ensemble_benchmark(s, m, n); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
  // Issue 13's case: 4096 spring systems, n = 4, nt = 200 at dt 0.01, rtol = atol = 1.4e-8.
  benchmark::RegisterBenchmark("Ensemble/rk45/n4/issue13_nt200",
                               [](benchmark::State& s) {
                                 ensemble_benchmark(s, Method::rk45, 4, true, 4096);
                               })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  phyflow::bench::run_benchmarks(runtime.rank());
  return 0;
}
