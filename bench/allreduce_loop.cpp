// The time of one in-place MPI_Allreduce (sum) of N float32 values, back to back, as the flow
// trainer's gradient all-reduce does once per step (the tutorial flow: 12 960 gradients):
// docs/PERFORMANCE.md ("Flows") compares it with the same call inside a training step.
//
//   mpiexec -n 2 build/bench/allreduce_loop [N=12960] [CALLS=1000]
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const long n = argc > 1 ? std::atol(argv[1]) : 12960;
  const int calls = argc > 2 ? std::atoi(argv[2]) : 1000;
  if (n < 1 || calls < 1) {
    if (rank == 0) std::fprintf(stderr, "usage: allreduce_loop [N >= 1] [CALLS >= 1]\n");
    MPI_Finalize();
    return 2;
  }
  std::vector<float> v(static_cast<std::size_t>(n), 1.0f);
  for (int i = 0; i < 50; ++i)  // warm-up
    MPI_Allreduce(MPI_IN_PLACE, v.data(), int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  for (int i = 0; i < calls; ++i)
    MPI_Allreduce(MPI_IN_PLACE, v.data(), int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  const double dt = (MPI_Wtime() - t0) / calls;
  if (rank == 0)
    std::printf("%d ranks, %ld float32 values: %.1f us per MPI_Allreduce (%d calls)\n", ranks, n,
                1e6 * dt, calls);
  MPI_Finalize();
  return 0;
}
