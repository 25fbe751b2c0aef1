// Strong scaling of the tutorial flow's training step (inputs/flow_tutorial.yaml: L = 8,
// m^2 = -4, lambda = 8, 16 affine couplings, conv 1 -> [8, 8] -> 2) at a fixed global batch,
// measured by interleaving inside one job: each round times a block of steps of a trainer on
// both ranks (MPI_COMM_WORLD, half the batch each), then a block of a trainer on rank 0 alone
// (MPI_COMM_SELF, the whole batch) and one at half the batch (for the fixed cost per step),
// while rank 1 waits, asleep; and a block of both ranks training separate flows at half the
// batch at once (no MPI between them), which splits the 2-rank loss into what the cores cost
// each other and what coupling them costs. On a VM whose speed drifts from second to second
// (docs/PERFORMANCE.md) separate 1-rank and 2-rank runs seconds apart differ by more than the
// effect measured; blocks a fraction of a second apart see the same machine. Prints each round's
// scaling T1(B) / (2 T2(B)), then the median and quartiles, and the median step times.
//
//   mpiexec -n 2 build/bench/bench_flow_scaling [BATCH=64] [BLOCK=20] [ROUNDS=40]
#include <mpi.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "phyflow/core/blas.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/flows/action.hpp"
#include "phyflow/flows/flow.hpp"
#include "phyflow/flows/reverse_kl.hpp"

namespace {
using namespace phyflow::flows;

std::shared_ptr<Flow> tutorial_flow() {
  FlowConfig c;
  c.shape = LatticeShape{2, 8};
  c.coupling = "affine";
  c.layers = 16;
  c.net.hidden = {8, 8};
  c.net.kernel = 3;
  return std::make_shared<Flow>(c);
}

ReverseKlOptions options(std::int64_t batch) {
  ReverseKlOptions o;
  o.seed = 1;
  o.steps = 1 << 30;
  o.batch = batch;
  o.optimizer.lr = 1e-3;
  o.progress_interval = 1e9;
  return o;
}

// Seconds per step of `steps` steps of t (collective over t's communicator), after a few
// untimed ones: a core that slept while the other rank worked alone comes back slowly on a VM.
double time_block(ReverseKlTrainer& t, MPI_Comm comm, int steps) {
  bool stop = false;
  for (int i = 0; i < std::max(3, steps / 4); ++i) t.step(stop);
  MPI_Barrier(comm);
  const double start = MPI_Wtime();
  for (int i = 0; i < steps; ++i) t.step(stop);
  MPI_Barrier(comm);
  return (MPI_Wtime() - start) / steps;
}

// A barrier that sleeps while it waits: rank 1 waits out rank 0's single-rank blocks without
// spinning on its core (MPI_Barrier polls), as the other core idles in a separate 1-rank run.
void sleepy_barrier(MPI_Comm comm) {
  MPI_Request request;
  MPI_Ibarrier(comm, &request);
  int done = 0;
  while (MPI_Test(&request, &done, MPI_STATUS_IGNORE), !done) usleep(200);
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const auto i = std::size_t(pos);
  const double f = pos - double(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}
}  // namespace

int main(int argc, char** argv) {
  phyflow::blas::retune_kernels(argv);  // as the phyflow program (OPENBLAS_CORETYPE stands)
  phyflow::Runtime rt(argc, argv);
  if (rt.size() != 2) {
    if (rt.rank() == 0) std::fprintf(stderr, "bench_flow_scaling: run on 2 ranks (mpiexec -n 2)\n");
    return 2;
  }
  const std::int64_t batch = argc > 1 ? std::atoll(argv[1]) : 64;
  const int block = argc > 2 ? std::atoi(argv[2]) : 20;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 40;
  if (batch < 2 || batch % 2 != 0 || block < 1 || rounds < 1) {
    if (rt.rank() == 0)
      std::fprintf(stderr,
                   "bench_flow_scaling: BATCH must be even and >= 2, BLOCK and ROUNDS "
                   ">= 1 (usage: mpiexec -n 2 bench_flow_scaling [BATCH] [BLOCK] [ROUNDS])\n");
    return 2;
  }
  at::set_num_threads(1);
  const auto target =
      std::make_shared<Phi4Target>(LatticeShape{2, 8}, phyflow::lattice::Phi4Couplings{-4.0, 8.0});
  ReverseKlTrainer two(MPI_COMM_WORLD, tutorial_flow(), target, options(batch));
  // Each rank alone at half the batch, both at once: what the two cores give without coupling.
  ReverseKlTrainer apart(MPI_COMM_SELF, tutorial_flow(), target, options(batch / 2));
  std::unique_ptr<ReverseKlTrainer> one, half;
  if (rt.rank() == 0) {
    one =
        std::make_unique<ReverseKlTrainer>(MPI_COMM_SELF, tutorial_flow(), target, options(batch));
    half = std::make_unique<ReverseKlTrainer>(MPI_COMM_SELF, tutorial_flow(), target,
                                              options(batch / 2));
  }
  std::vector<double> t1, t2, th, ta, scaling;
  for (int r = -1; r < rounds; ++r) {  // round -1 warms up
    const double s2 = time_block(two, MPI_COMM_WORLD, block);
    MPI_Barrier(MPI_COMM_WORLD);
    double sa = time_block(apart, MPI_COMM_SELF, block);
    MPI_Allreduce(MPI_IN_PLACE, &sa, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    double s1 = 0, sh = 0;
    if (rt.rank() == 0) {
      s1 = time_block(*one, MPI_COMM_SELF, block);
      sh = time_block(*half, MPI_COMM_SELF, block);
    }
    sleepy_barrier(MPI_COMM_WORLD);
    if (r < 0 || rt.rank() != 0) continue;
    t1.push_back(s1);
    t2.push_back(s2);
    th.push_back(sh);
    ta.push_back(sa);
    scaling.push_back(s1 / (2 * s2));
    std::printf(
        "round %3d: T1(%lld) %.2f ms, T1(%lld) %.2f ms, T2(%lld) %.2f ms: scaling %.0f %%\n", r + 1,
        (long long)batch, 1e3 * s1, (long long)(batch / 2), 1e3 * sh, (long long)batch, 1e3 * s2,
        100 * s1 / (2 * s2));
  }
  if (rt.rank() == 0) {
    const double m1 = quantile(t1, 0.5), mh = quantile(th, 0.5), m2 = quantile(t2, 0.5),
                 ma = quantile(ta, 0.5);
    std::printf(
        "\nglobal batch %lld, %d rounds of %d steps: 2-rank scaling median %.1f %% "
        "(quartiles %.1f-%.1f %%)\n",
        (long long)batch, rounds, block, 100 * quantile(scaling, 0.5),
        100 * quantile(scaling, 0.25), 100 * quantile(scaling, 0.75));
    std::printf(
        "median step: 1 rank %.2f ms at %lld, %.2f ms at %lld (fixed cost 2 T(B/2) - "
        "T(B) = %.2f ms); 2 ranks %.2f ms\n",
        1e3 * m1, (long long)batch, 1e3 * mh, (long long)(batch / 2), 1e3 * (2 * mh - m1),
        1e3 * m2);
    std::printf(
        "both ranks alone at %lld at once (no MPI between them; the slower of the two): "
        "%.2f ms: the cores slow each other by %.0f %%, coupling them costs %.0f %% more\n",
        (long long)(batch / 2), 1e3 * ma, 100 * (ma / mh - 1), 100 * (m2 / ma - 1));
  }
  return 0;
}
