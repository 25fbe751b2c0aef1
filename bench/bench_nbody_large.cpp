// One large N-body system distributed by particles (DistributedSystem, ring pass of positions):
// pair interactions per second for one force evaluation and one velocity-Verlet step at
// n = 16384 (strong scaling: the same system on 1 and 2 ranks), and weak scaling of the O(n^2)
// work (n = 16384 sqrt(P), so every rank computes the same n^2 / P pair interactions).
// Times are the slowest rank's (MPI_Allreduce MAX), so all ranks agree on iterations.
//
//   mpiexec -n 1 build/bench/bench_nbody_large --benchmark_repetitions=3
//   mpiexec -n 2 build/bench/bench_nbody_large --benchmark_repetitions=3
// Counters: pairs_per_s = n (n - 1) per second for the whole system (items_per_second says the
// same); pairs_per_s_rank = that / ranks, the number to compare for weak-scaling efficiency.
#include <benchmark/benchmark.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <string>
#include <vector>

#include "phyflow/core/runtime.hpp"
#include "phyflow/nbody/large_system.hpp"
#include "mpi_bench.hpp"

using phyflow::bench::with_extremes;

namespace {

using namespace phyflow::nbody;

int world_size() {
  int p = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &p);
  return p;
}

ForceLawSpec law_spec(ForceLaw law) {
  ForceLawSpec s;
  s.law = law;
  return s;
}

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

/// Runs prepare() untimed and work() timed on every rank; the iteration takes the slowest
/// rank's wall time. Also records the largest per-rank CPU time of the fastest iteration
/// (counter cpu_s_rank): on a machine shared with other jobs the wall time includes the time a
/// rank waited for a core, the CPU time does not (MPI waits poll, so they still count).
template <class Prepare, class Work>
void timed(benchmark::State& state, Prepare&& prepare, Work&& work) {
  double best_wall = 1e300, cpu_at_best = 0.0;
  for (auto _ : state) {
    prepare();
    MPI_Barrier(MPI_COMM_WORLD);
    const double c0 = process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    work();
    Kokkos::fence();
    double times[2] = {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                       process_cpu_seconds() - c0};
    MPI_Allreduce(MPI_IN_PLACE, times, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    state.SetIterationTime(times[0]);
    if (times[0] < best_wall) best_wall = times[0], cpu_at_best = times[1];
  }
  state.counters["cpu_s_rank"] = cpu_at_best;
}

void report_pairs(benchmark::State& state, const DistributedSystem& sys) {
  const double pairs = sys.pair_interactions();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(pairs));
  state.counters["n"] = sys.n();
  state.counters["ranks"] = sys.ranks();
  state.counters["pairs_per_s"] = benchmark::Counter(
      pairs * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["pairs_per_s_rank"] = benchmark::Counter(
      pairs * static_cast<double>(state.iterations()) / sys.ranks(), benchmark::Counter::kIsRate);
}

/// One force evaluation (the ring pass) of the seed's initial conditions.
void force_benchmark(benchmark::State& state, ForceLaw law, int d, int n, int tile) {
  DistributedSystem sys(MPI_COMM_WORLD, law_spec(law), d, n, tile);
  sys.set_initial_conditions(1);
  const auto rows = sys.host_state();
  std::vector<double> local(rows.data(), rows.data() + rows.size());
  // set_local_state() drops the cached accelerations, so each iteration computes them anew.
  timed(
      state, [&] { sys.set_local_state(local.data()); },
      [&] { benchmark::DoNotOptimize(sys.accelerations().data()); });
  report_pairs(state, sys);
}

/// One velocity-Verlet step: kick, drift, one force evaluation, kick.
void verlet_benchmark(benchmark::State& state, ForceLaw law, int d, int n, int tile) {
  DistributedSystem sys(MPI_COMM_WORLD, law_spec(law), d, n, tile);
  sys.set_initial_conditions(1);
  sys.accelerations();
  timed(
      state, [] {}, [&] { sys.step(Method::verlet, 1e-4); });
  report_pairs(state, sys);
}

}  // namespace

int main(int argc, char** argv) {
  phyflow::Runtime runtime(argc, argv);
  benchmark::Initialize(&argc, argv);
  const int ranks = world_size();
  constexpr int n_strong = 16384;
  // Weak scaling of O(n^2) work: n grows as sqrt(P) so that n (n - 1) / P stays fixed.
  const int n_weak =
      static_cast<int>(std::lround(n_strong * std::sqrt(static_cast<double>(ranks))));

  struct Case {
    const char* name;
    ForceLaw law;
    int d;
  };
  for (const Case c :
       {Case{"gravity/3D", ForceLaw::gravity, 3}, Case{"spring/2D", ForceLaw::spring, 2}}) {
    for (int tile : {256}) {
      const std::string tag = std::string(c.name) + "/tile" + std::to_string(tile);
      with_extremes(benchmark::RegisterBenchmark(("Force/strong/n16384/" + tag).c_str(),
                                                 [c, tile](benchmark::State& s) {
                                                   force_benchmark(s, c.law, c.d, n_strong, tile);
                                                 })
                        ->UseManualTime()
                        ->Unit(benchmark::kMillisecond));
      with_extremes(benchmark::RegisterBenchmark(("VerletStep/strong/n16384/" + tag).c_str(),
                                                 [c, tile](benchmark::State& s) {
                                                   verlet_benchmark(s, c.law, c.d, n_strong, tile);
                                                 })
                        ->UseManualTime()
                        ->Unit(benchmark::kMillisecond));
      with_extremes(benchmark::RegisterBenchmark(("Force/weak/n16384sqrtP/" + tag).c_str(),
                                                 [c, tile, n_weak](benchmark::State& s) {
                                                   force_benchmark(s, c.law, c.d, n_weak, tile);
                                                 })
                        ->UseManualTime()
                        ->Unit(benchmark::kMillisecond));
    }
  }
  phyflow::bench::run_benchmarks(runtime.rank());
  return 0;
}
