// Training throughput of the equivariant models (docs/PERFORMANCE.md): Trainer steps
// (forward, backward, gradient all-reduce, Adam) of scalar_mlp on O(5) data and of the HNN on
// pendulum chunks, timed over a fixed batch per rank. The peer in PyTorch-Python is
// bench/torch_equivariant.py (same models, batch, optimiser and threads).
//
//   OPENBLAS_NUM_THREADS=1 mpiexec -n 2 build/bench/bench_equivariant MODEL DATA.h5 BATCH STEPS
//   [layers width activation]
// Prints "samples_per_s=..." (all ranks) of the fastest of 3 blocks of STEPS steps.
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "phyflow/core/blas.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/ml/dataset.hpp"
#include "phyflow/ml/model_registry.hpp"
#include "phyflow/ml/trainer.hpp"

using namespace phyflow;

int main(int argc, char** argv) {
  phyflow::blas::retune_kernels(argv);  // as the phyflow program (OPENBLAS_CORETYPE stands)
  Runtime rt(argc, argv);
  if (argc < 5) {
    std::fprintf(stderr, "usage: bench_equivariant MODEL DATA.h5 BATCH STEPS [layers width activation]\n");
    return 2;
  }
  const std::string kind = argv[1];
  const int batch = std::atoi(argv[3]), steps = std::atoi(argv[4]);
  nlohmann::json options = {{"layers", argc > 5 ? std::atoi(argv[5]) : 3},
                            {"width", argc > 6 ? std::atoi(argv[6]) : 128},
                            {"activation", argc > 7 ? argv[7] : "silu"}};
  // The pendulum models integrate as bench/torch_equivariant.py does: RK4, 2 steps per dt = 0.2
  // (the model's own default is 4 substeps, twice the work of the Python peer).
  if (kind == "hnn" || kind == "neural_ode") {
    options["dt"] = 0.2;
    options["substeps"] = 2;
  }
  at::set_num_threads(1);
  const auto data = ml::Dataset::open(argv[2], "bench");
  torch::manual_seed(1);
  auto model = ml::make_model(kind, options, data.shape());
  ml::TrainerOptions o;
  o.batch = batch;
  o.optimizer.lr = 1e-3;
  o.progress_interval = 1e9;
  ml::Trainer trainer(rt.comm(), model, data, nullptr, o);
  std::vector<std::int64_t> index;
  for (int i = 0; i < batch; ++i) index.push_back((std::int64_t(rt.rank()) * batch + i) % data.size());
  const ml::Batch b = data.gather(index, torch::kFloat32);
  double loss = 0, best = 1e300;
  bool stop = false;
  trainer.step(b, loss, stop);  // warm-up
  for (int block = 0; block < 3; ++block) {
    MPI_Barrier(rt.comm());
    const double t0 = MPI_Wtime();
    for (int s = 0; s < steps; ++s) trainer.step(b, loss, stop);
    double dt = MPI_Wtime() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, rt.comm());
    best = std::min(best, dt);
  }
  if (rt.rank() == 0)
    std::printf("%s ranks=%d batch=%d samples_per_s=%.1f loss=%.4g\n", kind.c_str(), rt.size(), batch,
                double(steps) * batch * rt.size() / best, loss);
  return 0;
}
