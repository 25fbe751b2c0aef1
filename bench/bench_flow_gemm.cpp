// The periodic convolutions' GEMMs (phyflow/flows/conv_gemm.hpp: conv_gemm, conv_weight_grad,
// the functions the coupling layers call) on the host, as one product against in the pieces
// of columns the library chooses: the forward y = W cols + b and the weight gradient
// dW = g cols^T, for the tutorial flow's 8 -> 8 layer (8 x 72 by 72 x 64 B) and the AKS
// recipe's 16 -> 16 layer (16 x 144 by 144 x V B). One thread, as the flows run. Pieces:
// m n k <= 10^6 (OpenBLAS's unpacked kernels), in multiples of 64 columns; the weight gradient
// is timed in those pieces even where the library keeps one product (pieces under 512
// columns: the 16 -> 16 layer). docs/PERFORMANCE.md ("Flows") quotes it.
//
//   build/bench/bench_flow_gemm        (sets one BLAS and one torch thread itself)
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "phyflow/core/blas.hpp"
#include "phyflow/flows/conv_gemm.hpp"

namespace {
using phyflow::flows::conv_gemm;
using phyflow::flows::conv_weight_grad;
using phyflow::flows::gemm_piece_columns;

// args: output channels, input channels (kernel 3 in 2D: C k^d = 9 C), sites V, batch B,
// pieces (0: one product, 1: the library's pieces)
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

std::int64_t piece(const benchmark::State& state, const torch::Tensor& w,
                   const torch::Tensor& cols) {
  return state.range(4) ? gemm_piece_columns(cols, w.size(0), w.size(1)) : cols.size(1);
}

void BM_ConvForward(benchmark::State& state) {
  torch::Tensor w, cols, b, g;
  operands(state, w, cols, b, g);
  const auto p = piece(state, w, cols);
  for (auto _ : state) {
    const auto y = conv_gemm(w, cols, b, p);
    benchmark::DoNotOptimize(y.data_ptr());
  }
}

void BM_ConvWeightGrad(benchmark::State& state) {
  torch::Tensor w, cols, b, g;
  operands(state, w, cols, b, g);
  const auto p = piece(state, w, cols);
  for (auto _ : state) {
    const auto dw = conv_weight_grad(g, cols, p);
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
  // One thread, as each rank of the flows runs (the runtime's rule): OpenBLAS's own threads
  // on the whole products made them 10-70x slower on a 2-core VM with another process busy.
  phyflow::blas::set_threads(1);
  at::set_num_threads(1);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
