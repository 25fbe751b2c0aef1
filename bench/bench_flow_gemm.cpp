// The periodic convolutions' GEMMs (src/flows/coupling.cpp: conv_gemm, conv_weight_grad) on
// the host, whole against in pieces of columns as the coupling layers now run them: the
// forward y = W cols + b and the weight gradient dW = g cols^T, for the tutorial flow's 8 -> 8
// layer (8 x 72 by 72 x 64 B) and the AKS recipe's 16 -> 16 layer (16 x 144 by 144 x V B).
// One thread, as the flows run. Pieces: m n k <= 10^6 (OpenBLAS's unpacked kernels), in
// multiples of 64 columns. docs/PERFORMANCE.md ("Flows") quotes it.
//
//   OPENBLAS_NUM_THREADS=1 build/bench/bench_flow_gemm
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>

#include "phyflow/core/blas.hpp"

namespace {

std::int64_t piece_of(std::int64_t rows, std::int64_t inner) {
  return std::max<std::int64_t>(64, 1000000 / (rows * inner) / 64 * 64);
}

// args: output channels, input channels (kernel 3 in 2D: C k^d = 9 C), sites V, batch B,
// pieces (0 whole, 1 in pieces)
void operands(const benchmark::State& state, torch::Tensor& w, torch::Tensor& cols,
              torch::Tensor& b, torch::Tensor& g) {
  at::set_num_threads(1);
  torch::manual_seed(1);
  const auto Co = state.range(0), CK = 9 * state.range(1), N = state.range(2) * state.range(3);
  w = torch::randn({Co, CK});
  cols = torch::randn({CK, N});
  b = torch::randn({Co});
  g = torch::randn({Co, N});
}

void BM_ConvForward(benchmark::State& state) {
  torch::Tensor w, cols, b, g;
  operands(state, w, cols, b, g);
  const auto N = cols.size(1), piece = state.range(4) ? piece_of(w.size(0), w.size(1)) : N;
  auto y = torch::empty({w.size(0), N});
  for (auto _ : state) {
    for (std::int64_t s = 0; s < N; s += piece) {
      const auto n = std::min(piece, N - s);
      auto out = y.narrow(1, s, n);
      torch::addmm_out(out, b.unsqueeze(1), w, cols.narrow(1, s, n));
    }
    benchmark::DoNotOptimize(y.data_ptr());
  }
}

void BM_ConvWeightGrad(benchmark::State& state) {
  torch::Tensor w, cols, b, g;
  operands(state, w, cols, b, g);
  const auto N = cols.size(1), piece = state.range(4) ? piece_of(w.size(0), w.size(1)) : N;
  for (auto _ : state) {
    torch::Tensor dw;
    for (std::int64_t s = 0; s < N; s += piece) {
      const auto n = std::min(piece, N - s);
      const auto gs = g.narrow(1, s, n), cs = cols.narrow(1, s, n).t();
      if (s == 0)
        dw = gs.mm(cs);
      else
        dw.addmm_(gs, cs);
    }
    benchmark::DoNotOptimize(dw.data_ptr());
  }
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"Co", "C", "V", "B", "pieces"});
  for (const auto batch : {32, 64, 256})
    for (const auto pieces : {0, 1}) b->Args({8, 8, 64, batch, pieces});  // tutorial, 8 x 8
  for (const auto pieces : {0, 1}) b->Args({16, 16, 196, 128, pieces});   // AKS E5, 14 x 14
  b->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_ConvForward)->Apply(shapes);
BENCHMARK(BM_ConvWeightGrad)->Apply(shapes);

}  // namespace

int main(int argc, char** argv) {
  phyflow::blas::retune_kernels(argv);  // as the phyflow program (OPENBLAS_CORETYPE stands)
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
