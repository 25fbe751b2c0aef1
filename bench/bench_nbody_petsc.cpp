// PETSc TS reference integrator (integrate_petsc): time per simulated step of one N-body
// simulation, spring law, n = 4 bodies in 2D, on the seed's grid (dt = 0.01, nt = 500 frames).
// One iteration = one whole simulation including TS set-up, so the figure is what the
// reference engine costs per step in an ensemble run; `s_per_step` is the wall time of an
// iteration divided by the accepted steps it took.
//
//   build/bench/bench_nbody_petsc                 (one rank: the engine is per simulation)
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "phyflow/core/runtime.hpp"
#include "phyflow/nbody/force_laws.hpp"
#include "phyflow/nbody/initial_conditions.hpp"
#include "phyflow/nbody/integrators.hpp"

namespace {

using namespace phyflow::nbody;

void petsc_simulation(benchmark::State& state, Method method) {
  const int d = 2, n = 4;
  ForceLawSpec law;
  law.law = ForceLaw::spring;
  TimeGrid grid;  // dt = 0.01, nt = 500, substeps = 1
  IntegratorSettings settings;
  settings.method = method;
  settings.engine = Engine::petsc;  // rtol = atol = 1.4e-8 (the seed's)
  std::vector<double> initial(static_cast<std::size_t>(n * state_width(d)));
  std::vector<double> frames(static_cast<std::size_t>(grid.nt * n * state_width(d)));
  std::vector<double> accel(static_cast<std::size_t>(grid.nt * n * d));
  std::uint64_t sim = 0;
  std::int64_t steps = 0;
  for (auto _ : state) {
    // A different seed-style system each iteration (drawing it is ~1 us, not timed apart).
    initial_bodies(law.law, 1, d, sim++ % 64, 0, n, initial.data());
    SimStats stats;
    integrate_petsc(law, d, n, grid, settings, initial.data(), frames.data(), accel.data(), stats);
    steps += stats.steps;
    benchmark::DoNotOptimize(frames.data());
  }
  state.SetItemsProcessed(steps);
  state.counters["steps_per_sim"] =
      benchmark::Counter(static_cast<double>(steps) / static_cast<double>(state.iterations()));
  state.counters["s_per_step"] = benchmark::Counter(
      static_cast<double>(steps), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace

int main(int argc, char** argv) {
  phyflow::Runtime runtime(argc, argv);
  benchmark::Initialize(&argc, argv);
  for (Method m : {Method::rk45, Method::rk4, Method::verlet}) {
    const std::string name = std::string("PetscTs/spring/n4/2D/") + (m == Method::rk45  ? "rk45"
                                                                     : m == Method::rk4 ? "rk4"
                                                                                        : "verlet");
    benchmark::RegisterBenchmark(name.c_str(), [m](benchmark::State& s) {
      petsc_simulation(s, m);
    })->Unit(benchmark::kMillisecond);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
