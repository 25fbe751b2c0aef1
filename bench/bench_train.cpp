// Training throughput of the ml runtime: one optimisation step of the seed-000 energy GRU
// (8x8 Ising, batch 512 per rank; hidden 512 by default) and of the seed-004 graph network
// (N-body frames, batch 64 per rank, hidden 300, bottleneck messages) through Trainer::step --
// forward, backward, bucketed gradient all-reduce, Adam -- and the all-reduce alone against
// the bytes reduced. bench/train_throughput.sh and bench/gnn_throughput.sh run them next to
// the same step in PyTorch-Python.
//
//   mpiexec -n 1 build/bench/bench_train --benchmark_filter=Step
//   mpiexec -n 2 build/bench/bench_train --benchmark_filter=AllReduce
// Counters: samples_per_s over all ranks (global batch per second), samples_per_s_rank.
#include <benchmark/benchmark.h>
#include <mpi.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "bench_data.hpp"
#include "mpi_bench.hpp"
#include "phyflow/core/blas.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/ml/dataset.hpp"
#include "phyflow/ml/gradient_reducer.hpp"
#include "phyflow/ml/model_registry.hpp"
#include "phyflow/ml/trainer.hpp"

namespace {

using namespace phyflow;
int rank_ = 0, ranks_ = 1;
std::string data_path, nbody_path[2];  // nbody: n = 4, d = 2 and n = 8, d = 3

int env_int(const char* name, int def) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : def;
}

// Every rank reports the slowest rank's time, so all ranks run the same number of iterations
// (and so of collectives).
void set_slowest_time(benchmark::State& state, double seconds) {
  MPI_Allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  state.SetIterationTime(seconds);
}

/// Times Trainer::step of model `kind` (options) on a fixed batch of `batch` samples per rank
/// of `path`; state.counters[rate_name] is the global rate (samples of all ranks per second).
void time_trainer_step(benchmark::State& state, const std::string& path, const std::string& kind,
                       const nlohmann::json& options, int batch, double lr,
                       const char* rate_name) {
  const auto data = ml::Dataset::open(path, "bench");
  torch::manual_seed(1);
  auto model = ml::make_model(kind, options, data.shape());
  ml::TrainerOptions o;
  o.batch = batch;
  o.optimizer.lr = lr;
  o.progress_interval = 1e9;
  ml::Trainer trainer(MPI_COMM_WORLD, model, data, nullptr, o);
  std::vector<std::int64_t> index;
  for (int i = 0; i < batch; ++i) index.push_back(rank_ * batch + i);
  const ml::Batch b = data.gather(index, torch::kFloat32);
  double loss = 0;
  bool stop = false;
  trainer.step(b, loss, stop);  // warm-up
  for (auto _ : state) {
    const double t0 = MPI_Wtime();
    trainer.step(b, loss, stop);
    set_slowest_time(state, MPI_Wtime() - t0);
  }
  state.counters[rate_name] =
      benchmark::Counter(double(state.iterations()) * batch * ranks_, benchmark::Counter::kIsRate);
  state.counters["samples_per_s_rank"] =
      benchmark::Counter(double(state.iterations()) * batch, benchmark::Counter::kIsRate);
  state.counters["torch_threads"] = at::get_num_threads();
}

void BM_EnergyGruStep(benchmark::State& state) {
  time_trainer_step(state, data_path, "energy_gru", {{"hidden", int(state.range(0))}},
                    int(state.range(1)), 1e-4, "samples_per_s");
}

/// The seed-004 graph network: batch 64 frames, bottleneck messages.
void BM_GnnStep(benchmark::State& state) {
  const int d = int(state.range(1));
  time_trainer_step(state, nbody_path[d == 2 ? 0 : 1], "gnn",
                    {{"hidden", int(state.range(2))}, {"regularizer", "bottleneck"}}, 64, 1e-3,
                    "graphs_per_s");
}

void BM_AllReduce(benchmark::State& state) {
  const std::int64_t bytes = state.range(0);
  // A model-like set of tensors: 8 parameters sharing the bytes.
  std::vector<torch::Tensor> params;
  for (int k = 0; k < 8; ++k) params.push_back(torch::zeros({bytes / 32}).requires_grad_());
  auto reducer = ml::make_mpi_reducer(MPI_COMM_WORLD, params, {25ll << 20, false});
  for (auto& p : params) p.mutable_grad() = torch::randn({bytes / 32});
  for (auto _ : state) {
    const double t0 = MPI_Wtime();
    reducer->begin_backward();
    reducer->finish_backward();
    set_slowest_time(state, MPI_Wtime() - t0);
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["buckets"] = reducer->buckets();
}

}  // namespace

using phyflow::bench::with_extremes;
BENCHMARK(BM_EnergyGruStep)->Apply([](benchmark::internal::Benchmark* b) { with_extremes(b); })
    ->ArgNames({"hidden", "batch"})->Args({512, 512})->Args({128, 512})
    ->Unit(benchmark::kMillisecond)->UseManualTime()->MinTime(5.0);
BENCHMARK(BM_GnnStep)->Apply([](benchmark::internal::Benchmark* b) { with_extremes(b); })
    ->ArgNames({"n", "d", "hidden"})->Args({4, 2, 300})->Args({8, 3, 300})
    ->Unit(benchmark::kMillisecond)->UseManualTime()->MinTime(5.0);
BENCHMARK(BM_AllReduce)->Apply([](benchmark::internal::Benchmark* b) { with_extremes(b); })
    ->ArgName("bytes")->RangeMultiplier(8)->Range(1 << 12, 1 << 27)
    ->Unit(benchmark::kMicrosecond)->UseManualTime();

int main(int argc, char** argv) {
  phyflow::blas::retune_kernels(argv);  // as the phyflow program (OPENBLAS_CORETYPE stands)
  phyflow::Runtime rt(argc, argv);
  rank_ = rt.rank();
  ranks_ = rt.size();
  benchmark::Initialize(&argc, argv);
  // torch / BLAS threads as the train workflow sets them, overridable for comparisons.
  at::set_num_threads(env_int("PHYFLOW_TORCH_THREADS", 1));
  // A training file of 8x8 configurations (random spins; the step's cost does not depend on them).
  int pid = int(::getpid());
  MPI_Bcast(&pid, 1, MPI_INT, 0, rt.comm());
  data_path = "/tmp/phyflow_bench_train_" + std::to_string(pid) + ".h5";
  if (rank_ == 0) {
    const int n = 512 * ranks_;
    std::vector<std::int8_t> s(std::size_t(n) * 64);
    std::mt19937 gen(1);
    for (auto& v : s) v = (gen() & 1) ? 1 : -1;
    std::vector<double> e(std::size_t(n), -30.0);
    auto out = io::OutputFile::create(MPI_COMM_SELF, data_path, true);
    out.create_group("/t0");
    out.set_attribute("/t0", "beta", 0.25);
    out.write_array("/t0/spins", s.data(), {std::uint64_t(n), 8, 8}, "spins", "1");
    out.write_array("/t0/energy", e.data(), {std::uint64_t(n)}, "energy", "J");
    out.commit();
  }
  // N-body frames (random states and accelerations: the step's cost does not depend on them).
  for (int k = 0; k < 2; ++k) {
    const int n = k == 0 ? 4 : 8, d = k == 0 ? 2 : 3;
    nbody_path[k] = "/tmp/phyflow_bench_gnn" + std::to_string(n) + "_" + std::to_string(pid) + ".h5";
    if (rank_ == 0) phyflow::bench::write_random_nbody(nbody_path[k], n, d, 64 * ranks_);
  }
  MPI_Barrier(rt.comm());
  phyflow::bench::run_benchmarks(rank_);
  MPI_Barrier(rt.comm());
  if (rank_ == 0) {
    std::filesystem::remove(data_path);
    for (const auto& p : nbody_path) std::filesystem::remove(p);
  }
  return 0;
}
