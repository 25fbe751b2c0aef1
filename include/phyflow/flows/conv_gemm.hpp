// The GEMMs of the flows' periodic convolutions (coupling.cpp), split along the V B columns on
// the host. OpenBLAS (0.3.21, Debian's; AVX-512 CPUs) multiplies products of m n k <= 10^6
// straight from the operands ("small matrix" kernels) and larger ones through its packed
// kernels, which on these skinny shapes (8 output channels) spend most of their time copying
// the V B-long operand: at batch 32 on an 8 x 8 lattice, 8 x 72 by 72 x 2048, the forward
// product takes 58 us whole and 29 us in pieces, the weight gradient 114 us whole and 28 us in
// pieces (bench/bench_flow_gemm.cpp, which times these functions). Pieces of the output columns
// (forward, input gradient) are products of their own: with the Cooper Lake kernels their bits
// are one product's, with the SkylakeX kernels the small-matrix kernel sums in another order
// than the packed one (1 ulp in float32); the weight gradient sums its pieces (beta = 1),
// ~4e-7 relative. The same shapes give the same bits on every call, and the pieces depend only
// on the shapes, so a run is reproducible bit for bit on the same kernels. On the host the
// pieces call the BLAS's sgemm_/dgemm_ directly, as LibTorch's products would but without its
// dispatch per call (the convolutions of the tutorial's flow make ~150 small products per
// training step); where LibTorch's BLAS exports no such symbol, through LibTorch. Elsewhere
// (GPU) one LibTorch call each.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <utility>

namespace phyflow::flows {

/// The columns [s, s + n) of a product's right operand (K rows) as a (K, n) tensor whose rows
/// may be strided: a view of a whole operand, or a piece made on demand (the periodic
/// convolutions gather each piece of their columns just before its product, so it is still
/// in cache). Valid until the next call (the convolutions' gathers on the host: until the next
/// piece of any of them on this thread).
using ColumnSource = std::function<torch::Tensor(std::int64_t s, std::int64_t n)>;

/// Whether the host products may call the BLAS directly (default true); false sends them
/// through LibTorch's products as on other devices (for tests of that path; process-wide).
void set_direct_blas(bool on);

/// Columns per piece for a (rows x inner) by (inner x N) product with the columns in t: the
/// most whose product stays within OpenBLAS's unpacked kernels (m n k <= 10^6), in multiples
/// of 64; on a GPU, no pieces (the largest int64).
std::int64_t gemm_piece_columns(const torch::Tensor& t, std::int64_t rows, std::int64_t inner);

/// y (Co, N) = w2 (Co, CK) cols (CK, N) [+ bias (Co), if defined], in pieces of `piece`
/// columns; piece 0: gemm_piece_columns. A piece >= N is one product.
torch::Tensor conv_gemm(const torch::Tensor& w2, const torch::Tensor& cols,
                        const torch::Tensor& bias, std::int64_t piece = 0);
/// The same with the N columns from `cols` (asked for piece by piece, in order). w2 may have
/// more than two dimensions (a convolution's weight (Co, C, k, ...)): it is read as the matrix
/// (size 0, the rest). `out_sizes`, when given, is y's shape (its elements Co N, e.g. (Co, V,
/// B)): the convolutions ask for their layouts directly instead of reshaping, which on the
/// tutorial's lattices was a tenth of a training step (LibTorch's reshape of a tensor with
/// autograd history is a dispatch, a stride computation and a view record, ~1 us).
torch::Tensor conv_gemm(const torch::Tensor& w2, std::int64_t N, const ColumnSource& cols,
                        const torch::Tensor& bias, std::int64_t piece = 0,
                        at::IntArrayRef out_sizes = {});

/// dw (Co, CK) = g2 (Co, N) cols (CK, N)^T, summed over pieces of `piece` columns. Piece 0:
/// gemm_piece_columns where that is at least 512 columns, else one product: with wider layers
/// (16 -> 16 channels, kernel 3: pieces of 384 columns) the unpacked kernels lose to one packed
/// product (2.3 against 3.0 ms at 16 x 144 by 144 x 25 088), while the forward pieces still
/// win there.
torch::Tensor conv_weight_grad(const torch::Tensor& g2, const torch::Tensor& cols,
                               std::int64_t piece = 0);
/// The same with the CK rows of the columns from `cols` (asked for piece by piece, in order).
/// g2 may have more than two dimensions ((Co, V, B)): read as (size 0, the rest); `out_sizes`,
/// when given, is dw's shape (the weight's).
torch::Tensor conv_weight_grad(const torch::Tensor& g2, std::int64_t CK, const ColumnSource& cols,
                               std::int64_t piece = 0, at::IntArrayRef out_sizes = {});

/// The input and weight gradients of a periodic convolution y = W * x from one gather: with
/// `opposite` the output gradient g (Co, N) gathered at the opposite offsets (rows (o, j):
/// g at site n - offset_j), dx (C, N) = W^T-adjoint (C, Co K) times those columns, and
///   dw[o, c, j] = sum_n g[o, n] x[c, n + offset_j] = sum_m g[o, m - offset_j] x[c, m],
/// the same columns times x^T (x (C, N), read in place): the weight gradient needs no gather
/// of x, and the one gather of g serves both products (piece by piece on the host, as
/// conv_gemm). Returns (dx in `dx_sizes` or (C, N), dw in w's shape).
std::pair<torch::Tensor, torch::Tensor> conv_input_and_weight_grad(const torch::Tensor& w,
                                                                   std::int64_t N,
                                                                   const ColumnSource& opposite,
                                                                   const torch::Tensor& x,
                                                                   at::IntArrayRef dx_sizes = {});

/// The bias gradient of a convolution: g (Co, ...) summed over all but its first dimension.
/// On the host (float32/float64) one pass with eight double-precision partial sums per
/// channel, summed pairwise at the end, in place of LibTorch's reduction (a TensorIterator set
/// up per call: ~2.5 us, 48 calls per step of the tutorial's flow); elsewhere g's sum.
torch::Tensor bias_grad(const torch::Tensor& g);

/// A convolution weight w (Co, C, K...) as the matrix of its adjoint, (C, Co K): element
/// (c, o K + j) = w[o, c, j] (w.transpose(0, 1).reshape({C, Co K}); on the host one loop).
torch::Tensor transposed_weight(const torch::Tensor& w);

}  // namespace phyflow::flows
