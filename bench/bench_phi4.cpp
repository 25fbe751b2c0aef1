// phi^4 updates: site updates per second per rank (items_processed) for the checkerboard
// Metropolis sweep (sites x hits) and for HMC (sites x molecular-dynamics steps, Omelyan and
// leapfrog), on a 2D L = 256 block and the tutorial lattice 8^2, plus the halo exchange and
// the per-sample measurement alone. Weak scaling as bench_ising_sweep: every rank owns an
// L^d block (global lattice grows along x_0); the iteration time is the slowest rank's.
// NumPy side by side: bench/phi4_numpy.py (same updates, same lattice).
//
//   mpiexec -n 1 build/bench/bench_phi4 --benchmark_repetitions=3
//   mpiexec -n 2 build/bench/bench_phi4 --benchmark_filter=256
#include "phyflow/core/runtime.hpp"
#include "phyflow/lattice/phi4_field.hpp"
#include "phyflow/lattice/phi4_observables.hpp"
#include "phyflow/lattice/phi4_updates.hpp"
#include "mpi_bench.hpp"

#include <benchmark/benchmark.h>
#include <mpi.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace phyflow::lattice;
using phyflow::bench::with_extremes;

const Phi4Couplings tutorial{-4.0, 8.0};  // AKS tutorial point

int ranks() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

Phi4Field weak_field(int dims, int L) {
  std::vector<int> G(dims, L), grid(dims, 1);
  G[0] *= ranks();
  grid[0] = ranks();
  Phi4Field f(CartDecomposition(MPI_COMM_WORLD, G, grid));
  f.fill_random(1);
  return f;
}

template <class F>
void timed(benchmark::State& state, F&& work) {
  for (auto _ : state) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = std::chrono::steady_clock::now();
    work();
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    state.SetIterationTime(dt);
  }
}

void metropolis(benchmark::State& state, int dims, int L) {
  Phi4Field field = weak_field(dims, L);
  const Phi4Metropolis update(tutorial, 1.4, 1);
  std::uint64_t sweep = 0;
  timed(state, [&] { benchmark::DoNotOptimize(update.sweep(field, 42, sweep++)); });
  state.SetItemsProcessed(state.iterations() * field.geometry().local_sites);
}

void hmc(benchmark::State& state, int dims, int L, Phi4Integrator integ) {
  Phi4Field field = weak_field(dims, L);
  const Phi4Metropolis thermalise(tutorial, 1.4, 1);
  for (std::uint64_t s = 0; s < 50; ++s) thermalise.sweep(field, 7, s);  // off the hot start
  const int steps = 5;
  const Phi4Hmc update(tutorial, integ, steps, 1.0);
  std::uint64_t traj = 0;
  int accepted = 0;
  timed(state, [&] { accepted += update.trajectory(field, 42, traj++).accepted; });
  state.SetItemsProcessed(state.iterations() * field.geometry().local_sites * steps);
  state.counters["acceptance"] = double(accepted) / double(traj);
}

void halo(benchmark::State& state, int dims, int L) {
  Phi4Field field = weak_field(dims, L);
  timed(state, [&] { field.exchange_halo(); });
  state.SetItemsProcessed(state.iterations() * field.geometry().local_sites);
}

void measure(benchmark::State& state, int dims, int L) {
  Phi4Field field = weak_field(dims, L);
  timed(state, [&] { benchmark::DoNotOptimize(phi4_measure(field, tutorial)); });
  state.SetItemsProcessed(state.iterations() * field.geometry().local_sites);
}

}  // namespace

int main(int argc, char** argv) {
  phyflow::Runtime runtime(argc, argv);
  benchmark::Initialize(&argc, argv);
  struct Case {
    int dims, L;
  };
  for (const Case c : {Case{2, 256}, Case{2, 8}}) {
    const std::string tag = std::to_string(c.dims) + "D/L" + std::to_string(c.L);
    const auto unit = c.L > 16 ? benchmark::kMillisecond : benchmark::kMicrosecond;
    with_extremes(benchmark::RegisterBenchmark(("Phi4/Metropolis/" + tag).c_str(),
                                               [c](benchmark::State& s) { metropolis(s, c.dims, c.L); })
                      ->UseManualTime()->Unit(unit));
    with_extremes(benchmark::RegisterBenchmark(("Phi4/HMC-Omelyan/" + tag).c_str(),
                                               [c](benchmark::State& s) { hmc(s, c.dims, c.L, Phi4Integrator::omelyan); })
                      ->UseManualTime()->Unit(unit));
    with_extremes(benchmark::RegisterBenchmark(("Phi4/HMC-Leapfrog/" + tag).c_str(),
                                               [c](benchmark::State& s) { hmc(s, c.dims, c.L, Phi4Integrator::leapfrog); })
                      ->UseManualTime()->Unit(unit));
    with_extremes(benchmark::RegisterBenchmark(("Phi4/Part/Halo/" + tag).c_str(),
                                               [c](benchmark::State& s) { halo(s, c.dims, c.L); })
                      ->UseManualTime()->Unit(benchmark::kMicrosecond));
    with_extremes(benchmark::RegisterBenchmark(("Phi4/Part/Measure/" + tag).c_str(),
                                               [c](benchmark::State& s) { measure(s, c.dims, c.L); })
                      ->UseManualTime()->Unit(benchmark::kMicrosecond));
  }
  phyflow::bench::run_benchmarks(runtime.rank());
  return 0;
}
