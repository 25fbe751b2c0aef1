// Ising checkerboard sweeps: spin updates per second per rank (items_processed) for 2D L=1024
// and 3D L=128 blocks per rank, Metropolis and heat bath, plus the parts a sweep is made of
// (Philox words alone, halo exchange alone, the observables) to show where the time goes.
// Weak scaling: every rank owns an L^d block; the global lattice grows along x_0 with the rank
// count. Times are the slowest rank's (MPI_Allreduce MAX), so all ranks agree on iterations.
//
//   mpiexec -n 1 build/bench/bench_ising_sweep
//   mpiexec -n 2 build/bench/bench_ising_sweep --benchmark_filter=Sweep
// PHYFLOW_SIMD=generic|avx2 holds the kernels to a lower SIMD level (same results).
#include "phyflow/core/rng.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/core/host_simd.hpp"
#include "phyflow/lattice/ising_observables.hpp"
#include "phyflow/lattice/ising_updates.hpp"
#include "phyflow/lattice/philox_block.hpp"
#include "phyflow/lattice/spin_field.hpp"
#include "mpi_bench.hpp"

using phyflow::bench::with_extremes;

#include <benchmark/benchmark.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace phyflow::lattice;
using phyflow::SimdLevel;
using phyflow::cap_simd_level;
using phyflow::host_simd_level;
using phyflow::simd_level_name;

// Near the critical couplings, where acceptance is neither ~0 nor ~1.
constexpr double beta_2d = 0.4406868, beta_3d = 0.2216546;

std::vector<int> weak_scaling_extent(int dims, int L) {
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  std::vector<int> G(dims, L);
  G[0] *= ranks;
  return G;
}

/// Grid with all ranks along x_0, so every rank owns exactly an L^d block.
std::vector<int> strip_grid(int dims) {
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  std::vector<int> grid(dims, 1);
  grid[0] = ranks;
  return grid;
}

/// Times one call of `work` on every rank; the iteration takes the slowest rank's time.
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

template <class Update>
void sweep_benchmark(benchmark::State& state, int dims, int L,
                     SimdLevel level = host_simd_level()) {
  const SimdLevel before = host_simd_level();
  cap_simd_level(level);
  state.SetLabel(simd_level_name(host_simd_level()));
  SpinField field(CartDecomposition(MPI_COMM_WORLD, weak_scaling_extent(dims, L), strip_grid(dims)));
  field.fill_random(1);
  const Update update(IsingCouplings{1.0, 0.0, dims == 2 ? beta_2d : beta_3d});
  std::uint64_t sweep = 0;
  timed(state, [&] { update.sweep(field, 42, sweep++); });
  state.SetItemsProcessed(state.iterations() * field.decomposition().local_sites());
  state.counters["ranks"] = field.decomposition().size();
  cap_simd_level(before);
}

/// Philox words for every site of the block, as a sweep draws them: one call per 4 sites,
/// 128 sites per block of calls, with the host's best instruction set.
void philox_benchmark(benchmark::State& state, int dims, int L) {
  std::int64_t sites = 1;
  for (int k = 0; k < dims; ++k) sites *= L;
  const phyflow::rng::Stream stream(42, phyflow::rng::purpose("metropolis"));
  std::uint32_t words[128];
  std::uint64_t step = 0;
  timed(state, [&] {
    std::uint32_t acc = 0;
    for (std::int64_t g = 0; g < sites / 4; g += 32) {
      philox_block_host(words, stream, static_cast<std::uint32_t>(g), 0, step, 32);
      acc ^= words[g & 127];
    }
    benchmark::DoNotOptimize(acc);
    ++step;
  });
  state.SetItemsProcessed(state.iterations() * sites);
  state.SetLabel(simd_level_name(host_simd_level()));
}

void halo_benchmark(benchmark::State& state, int dims, int L) {
  SpinField field(CartDecomposition(MPI_COMM_WORLD, weak_scaling_extent(dims, L), strip_grid(dims)));
  timed(state, [&] { field.exchange_halo(); });
  state.SetItemsProcessed(state.iterations() * field.decomposition().local_sites());
}

void sums_benchmark(benchmark::State& state, int dims, int L) {
  SpinField field(CartDecomposition(MPI_COMM_WORLD, weak_scaling_extent(dims, L), strip_grid(dims)));
  field.fill_random(1);
  timed(state, [&] { benchmark::DoNotOptimize(ising_sums(field)); });
  state.SetItemsProcessed(state.iterations() * field.decomposition().local_sites());
}

}  // namespace

int main(int argc, char** argv) {
  phyflow::Runtime runtime(argc, argv);
  benchmark::Initialize(&argc, argv);
  struct Case {
    int dims, L;
  };
  // PHYFLOW_BENCH_ISING_CASES="2:16384 3:512" replaces the default block sizes (scripts/gpu-check).
  std::vector<Case> cases{Case{2, 1024}, Case{3, 128}};
  if (const char* env = std::getenv("PHYFLOW_BENCH_ISING_CASES")) {
    cases.clear();
    std::istringstream in(env);
    std::string item;
    while (in >> item) {
      const auto colon = item.find(':');
      if (colon == std::string::npos) continue;
      cases.push_back(Case{std::stoi(item.substr(0, colon)), std::stoi(item.substr(colon + 1))});
    }
  }
  for (const Case c : cases) {
    const std::string tag = std::to_string(c.dims) + "D/L" + std::to_string(c.L);
    with_extremes(benchmark::RegisterBenchmark(("Sweep/Metropolis/" + tag).c_str(),
                                 [c](benchmark::State& s) {
                                   sweep_benchmark<CheckerboardMetropolis>(s, c.dims, c.L);
                                 })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond));
    with_extremes(benchmark::RegisterBenchmark(("Sweep/HeatBath/" + tag).c_str(),
                                 [c](benchmark::State& s) {
                                   sweep_benchmark<CheckerboardHeatBath>(s, c.dims, c.L);
                                 })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond));
    // The same sweep with the kernels held to lower SIMD levels (identical results).
    for (SimdLevel level : {SimdLevel::generic, SimdLevel::avx2}) {
      if (static_cast<int>(level) >= static_cast<int>(host_simd_level())) continue;
      with_extremes(benchmark::RegisterBenchmark(
          ("SimdLevel/Metropolis/" + tag + "/" + simd_level_name(level)).c_str(),
          [c, level](benchmark::State& s) {
            sweep_benchmark<CheckerboardMetropolis>(s, c.dims, c.L, level);
          })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond));
    }
    with_extremes(benchmark::RegisterBenchmark(("Part/PhiloxOnly/" + tag).c_str(),
                                 [c](benchmark::State& s) { philox_benchmark(s, c.dims, c.L); })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond));
    with_extremes(benchmark::RegisterBenchmark(("Part/HaloExchange/" + tag).c_str(),
                                 [c](benchmark::State& s) { halo_benchmark(s, c.dims, c.L); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond));
    with_extremes(benchmark::RegisterBenchmark(("Part/IsingSums/" + tag).c_str(),
                                 [c](benchmark::State& s) { sums_benchmark(s, c.dims, c.L); })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond));
  }
  phyflow::bench::run_benchmarks(runtime.rank());
  return 0;
}
