// The time of one in-place MPI_Allreduce (sum) of N float32 values, as the flow trainer's
// gradient all-reduce does once per step (the tutorial flow: 12 960 gradients):
// docs/PERFORMANCE.md ("Flows") compares it with the same call inside a training step.
//
//   mpiexec -n 2 build/bench/allreduce_loop [N=12960] [CALLS=1000] [SWEEP_MIB=0]
//
// SWEEP_MIB = 0: the calls back to back (the call itself, everything warm). SWEEP_MIB > 0: each
// call comes after a sweep that reads and writes that many MiB four times over (a training
// step's worth of traffic through the caches and TLBs) and the rewrite of the N values, then
// a barrier; the median call is printed next to the median of a second call right after it
// (what the same call costs once MPI's own state is warm again).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {
double median_us(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  return 1e6 * t[t.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const long n = argc > 1 ? std::atol(argv[1]) : 12960;
  const int calls = argc > 2 ? std::atoi(argv[2]) : 1000;
  const long sweep_mib = argc > 3 ? std::atol(argv[3]) : 0;
  if (n < 1 || calls < 1 || sweep_mib < 0) {
    if (rank == 0)
      std::fprintf(stderr, "usage: allreduce_loop [N >= 1] [CALLS >= 1] [SWEEP_MIB >= 0]\n");
    MPI_Finalize();
    return 2;
  }
  std::vector<float> v(static_cast<std::size_t>(n), 1.0f);
  const auto all_reduce = [&] {
    MPI_Allreduce(MPI_IN_PLACE, v.data(), int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  };
  for (int i = 0; i < 50; ++i) all_reduce();  // warm-up
  if (sweep_mib == 0) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    for (int i = 0; i < calls; ++i) all_reduce();
    const double dt = (MPI_Wtime() - t0) / calls;
    if (rank == 0)
      std::printf(
          "%d ranks, %ld float32 values: %.1f us per MPI_Allreduce (%d calls back to back)\n",
          ranks, n, 1e6 * dt, calls);
  } else {
    std::vector<float> sweep(static_cast<std::size_t>(sweep_mib) << 18, 1.0f);
    std::vector<double> first(static_cast<std::size_t>(calls)), second(first.size());
    for (int i = 0; i < calls; ++i) {
      for (int pass = 0; pass < 4; ++pass)
        for (auto& x : sweep) x = x * 0.999f + 0.001f;
      for (long k = 0; k < n; ++k) v[std::size_t(k)] = sweep[std::size_t(k) % sweep.size()];
      MPI_Barrier(MPI_COMM_WORLD);
      const double a = MPI_Wtime();
      all_reduce();
      const double b = MPI_Wtime();
      all_reduce();
      const double c = MPI_Wtime();
      first[std::size_t(i)] = b - a;
      second[std::size_t(i)] = c - b;
    }
    if (rank == 0)
      std::printf(
          "%d ranks, %ld float32 values, after a %ld MiB sweep: median MPI_Allreduce %.1f us, "
          "the next call %.1f us (%d calls)\n",
          ranks, n, sweep_mib, median_us(first), median_us(second), calls);
  }
  MPI_Finalize();
  return 0;
}
