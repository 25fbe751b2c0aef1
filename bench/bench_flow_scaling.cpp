// Strong scaling of the tutorial flow's training step (inputs/flow_tutorial.yaml: L = 8,
// m^2 = -4, lambda = 8, 16 affine couplings, conv 1 -> [8, 8] -> 2; reverse KL, Adam 1e-3) at a
// fixed global batch, interleaved inside one 2-rank job (scaling_harness.hpp says how).
//
//   mpiexec -n 2 build/bench/bench_flow_scaling [BATCH=64] [BLOCK=20] [ROUNDS=40]
#include <torch/torch.h>

#include <memory>

#include "phyflow/core/blas.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/flows/action.hpp"
#include "phyflow/flows/flow.hpp"
#include "phyflow/flows/reverse_kl.hpp"
#include "scaling_harness.hpp"

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
  o.batch = batch;  // global
  o.optimizer.lr = 1e-3;
  o.progress_interval = 1e9;
  return o;
}
}  // namespace

int main(int argc, char** argv) {
  phyflow::blas::retune_kernels(argv);  // as the phyflow program (OPENBLAS_CORETYPE stands)
  phyflow::Runtime rt(argc, argv);
  phyflow::bench::ScalingArgs a;
  if (const int rc = phyflow::bench::parse_scaling_args(
          argc, argv, rt.rank(), rt.size(), "bench_flow_scaling",
          "mpiexec -n 2 bench_flow_scaling [BATCH] [BLOCK] [ROUNDS]", a))
    return rc;
  at::set_num_threads(1);
  const auto target =
      std::make_shared<Phi4Target>(LatticeShape{2, 8}, phyflow::lattice::Phi4Couplings{-4.0, 8.0});
  phyflow::bench::run_scaling(rt.rank(), a, [&](MPI_Comm comm, std::int64_t batch) {
    auto t = std::make_shared<ReverseKlTrainer>(comm, tutorial_flow(), target, options(batch));
    return [t] {
      bool stop = false;
      t->step(stop);
    };
  });
  return 0;
}
