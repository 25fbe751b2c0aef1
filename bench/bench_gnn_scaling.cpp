// Strong scaling of the seed-004 graph network's training step (hidden 300, bottleneck
// messages, float32, Adam 1e-3; Trainer::step: forward, backward, gradient all-reduce, Adam) at
// a fixed global batch of N-body frames, interleaved inside one 2-rank job
// (scaling_harness.hpp says how). N bodies in D dimensions: 4 2 (the 2D laws) or 8 3.
//
//   mpiexec -n 2 build/bench/bench_gnn_scaling [BATCH=64] [BLOCK=10] [ROUNDS=30] [N=4] [D=2]
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "bench_data.hpp"
#include "phyflow/core/blas.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/ml/dataset.hpp"
#include "phyflow/ml/model_registry.hpp"
#include "phyflow/ml/trainer.hpp"
#include "scaling_harness.hpp"

int main(int argc, char** argv) {
  using namespace phyflow;
  blas::retune_kernels(argv);  // as the phyflow program (OPENBLAS_CORETYPE stands)
  Runtime rt(argc, argv);
  bench::ScalingArgs a;
  a.block = 10;
  a.rounds = 30;
  const char* usage = "mpiexec -n 2 bench_gnn_scaling [BATCH] [BLOCK] [ROUNDS] [N] [D]";
  if (const int rc = bench::parse_scaling_args(argc, argv, rt.rank(), rt.size(),
                                               "bench_gnn_scaling", usage, a))
    return rc;
  const int n = argc > 4 ? std::atoi(argv[4]) : 4, d = argc > 5 ? std::atoi(argv[5]) : 2;
  if (n < 2 || d < 2 || d > 3) {
    if (rt.rank() == 0)
      std::fprintf(stderr, "bench_gnn_scaling: N must be >= 2 and D 2 or 3 (usage: %s)\n", usage);
    return 2;
  }
  at::set_num_threads(1);
  int pid = int(::getpid());
  MPI_Bcast(&pid, 1, MPI_INT, 0, rt.comm());
  const std::string path = "/tmp/phyflow_bench_gnn_scaling_" + std::to_string(pid) + ".h5";
  if (rt.rank() == 0) bench::write_random_nbody(path, n, d, a.batch);
  MPI_Barrier(rt.comm());
  const auto data = ml::Dataset::open(path, "bench");
  bench::run_scaling(rt.rank(), a, [&](MPI_Comm comm, std::int64_t batch) {
    int rank = 0, ranks = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &ranks);
    torch::manual_seed(1);
    auto model = ml::make_model("gnn", {{"hidden", 300}, {"regularizer", "bottleneck"}},
                                data.shape());
    ml::TrainerOptions o;
    o.batch = batch / ranks;  // per rank
    o.optimizer.lr = 1e-3;
    o.progress_interval = 1e9;
    auto t = std::make_shared<ml::Trainer>(comm, model, data, nullptr, o);
    std::vector<std::int64_t> index;
    for (std::int64_t i = 0; i < o.batch; ++i) index.push_back(rank * o.batch + i);
    auto b = std::make_shared<ml::Batch>(data.gather(index, torch::kFloat32));
    return [t, b] {
      double loss = 0;
      bool stop = false;
      t->step(*b, loss, stop);
    };
  });
  MPI_Barrier(rt.comm());
  if (rt.rank() == 0) std::filesystem::remove(path);
  return 0;
}
