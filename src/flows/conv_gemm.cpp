// The periodic convolutions' GEMMs in pieces of columns (conv_gemm.hpp).
#include "phyflow/flows/conv_gemm.hpp"

#include <dlfcn.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

namespace phyflow::flows {

namespace {
// The host BLAS's Fortran GEMM, the one LibTorch's CPU products call, found in the loaded
// libraries (this library's scope: LibTorch's libblas.so.3); nullptr where none is exported
// (a LibTorch with its BLAS linked in), and then the products go through LibTorch.
template <typename T>
using FortranGemm = void (*)(const char*, const char*, const int*, const int*, const int*, const T*,
                             const T*, const int*, const T*, const int*, const T*, T*, const int*);
template <typename T>
FortranGemm<T> host_gemm() {
  static const auto fn = reinterpret_cast<FortranGemm<T>>(
      dlsym(RTLD_DEFAULT, std::is_same_v<T, float> ? "sgemm_" : "dgemm_"));
  return fn;
}

// Row-major C (m x n, ldc) = op(A) op(B) + beta C, as column-major C^T = op(B)^T op(A)^T: the
// call LibTorch makes for a product of row-major tensors.
template <typename T>
void gemm_row_major(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
                    std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
                    std::int64_t ldc) {
  const char tA = ta ? 'T' : 'N', tB = tb ? 'T' : 'N';
  const int M = int(n), N = int(m), K = int(k), LDA = int(lda), LDB = int(ldb), LDC = int(ldc);
  const T one = 1;
  host_gemm<T>()(&tB, &tA, &M, &N, &K, &one, b, &LDB, a, &LDA, &beta, c, &LDC);
}

// Whether the products of these operands can call the BLAS directly: host float32/float64
// matrices with unit column stride and a BLAS to call. Every piece of a convolution's
// product otherwise goes through LibTorch's dispatch (mm_out/addmm_out: checks, a
// TensorIterator for the bias, a few us a call), which on the tutorial's 8 x 8 lattices was a
// fixed cost per training step (nine products per coupling layer) that did not shrink with
// the batch per rank.
std::atomic<bool> direct_blas_on{true};
bool direct_blas(std::initializer_list<const torch::Tensor*> ts) {
  if (!direct_blas_on.load(std::memory_order_relaxed)) return false;
  const auto type = (*ts.begin())->scalar_type();
  if (type != torch::kFloat32 && type != torch::kFloat64) return false;
  if (type == torch::kFloat32 ? !host_gemm<float>() : !host_gemm<double>()) return false;
  for (const auto* t : ts) {
    if (!t->defined()) continue;
    if (!t->device().is_cpu() || t->scalar_type() != type || !t->is_contiguous() ||
        t->numel() > INT_MAX)
      return false;
  }
  return true;
}

// t as the matrix (size 0, the rest); a view only where the products go through LibTorch.
torch::Tensor as_matrix(const torch::Tensor& t) {
  return t.dim() == 2 ? t : t.reshape({t.size(0), -1});
}
torch::Tensor shaped(const torch::Tensor& y, at::IntArrayRef out_sizes) {
  return out_sizes.empty() || y.sizes() == out_sizes ? y : y.reshape(out_sizes);
}
}  // namespace

void set_direct_blas(bool on) { direct_blas_on.store(on); }

std::int64_t gemm_piece_columns(const torch::Tensor& t, std::int64_t rows, std::int64_t inner) {
  if (!t.device().is_cpu()) return std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t small = 1000000, align = 64;
  return std::max(align, small / std::max<std::int64_t>(1, rows * inner) / align * align);
}

namespace {
// A piece of columns as the direct BLAS calls read it: host, the operands' dtype, unit element
// stride (rows may be strided; a view with strided elements is copied first).
torch::Tensor direct_columns(const torch::Tensor& piece_cols, const torch::Tensor& like) {
  TORCH_CHECK(piece_cols.scalar_type() == like.scalar_type() && piece_cols.is_cpu(),
              "conv_gemm: columns of another kind than the weights");
  return piece_cols.stride(1) == 1 ? piece_cols : piece_cols.contiguous();
}
}  // namespace

torch::Tensor conv_gemm(const torch::Tensor& w2, std::int64_t N, const ColumnSource& cols,
                        const torch::Tensor& bias, std::int64_t piece, at::IntArrayRef out_sizes) {
  const std::int64_t Co = w2.size(0), CK = w2.numel() / std::max<std::int64_t>(1, Co);
  if (piece <= 0) piece = gemm_piece_columns(w2, Co, CK);
  const auto w2c = w2.contiguous();
  const bool direct = direct_blas({&w2c, &bias});
  if (!direct && N <= piece) {  // (a GPU: one call, no output made first)
    const auto c = cols(0, N);
    const auto w = as_matrix(w2);
    return shaped(bias.defined() ? torch::addmm(bias.unsqueeze(1), w, c) : w.mm(c), out_sizes);
  }
  auto y = out_sizes.empty() ? torch::empty({Co, N}, w2c.options())
                             : torch::empty(out_sizes, w2c.options());
  TORCH_CHECK(y.numel() == Co * N, "conv_gemm: out_sizes ", out_sizes, " hold no ", Co, " x ", N,
              " product");
  if (!direct) {  // (host, no BLAS symbol to call: LibTorch's products into the pieces)
    const auto w = as_matrix(w2c), y2 = as_matrix(y);
    for (std::int64_t s = 0; s < N; s += piece) {
      const auto n = std::min(piece, N - s);
      auto out = y2.narrow(1, s, n);
      if (bias.defined())
        torch::addmm_out(out, bias.unsqueeze(1), w, cols(s, n));
      else
        torch::mm_out(out, w, cols(s, n));
    }
    return y;
  }
  for (std::int64_t s = 0; s < N; s += piece) {
    const auto n = std::min(piece, N - s);
    const auto c = direct_columns(cols(s, n), w2c);
    AT_DISPATCH_FLOATING_TYPES(w2c.scalar_type(), "conv_gemm", [&] {
      auto* out = y.data_ptr<scalar_t>();
      if (bias.defined()) {  // as addmm: the bias copied into the output, then beta = 1
        const auto* b = bias.data_ptr<scalar_t>();
        for (std::int64_t o = 0; o < Co; ++o) std::fill_n(out + o * N + s, n, b[o]);
      }
      gemm_row_major<scalar_t>(false, false, Co, n, CK, w2c.data_ptr<scalar_t>(), CK,
                               c.data_ptr<scalar_t>(), c.stride(0),
                               scalar_t(bias.defined() ? 1 : 0), out + s, N);
    });
  }
  return y;
}

torch::Tensor conv_gemm(const torch::Tensor& w2, const torch::Tensor& cols,
                        const torch::Tensor& bias, std::int64_t piece) {
  return conv_gemm(
      w2, cols.size(1), [&cols](std::int64_t s, std::int64_t n) { return cols.narrow(1, s, n); },
      bias, piece);
}

torch::Tensor conv_weight_grad(const torch::Tensor& g2, std::int64_t CK, const ColumnSource& cols,
                               std::int64_t piece, at::IntArrayRef out_sizes) {
  const std::int64_t Co = g2.size(0), N = g2.numel() / std::max<std::int64_t>(1, Co);
  if (piece <= 0) {
    constexpr std::int64_t shortest = 512;
    piece = gemm_piece_columns(g2, Co, CK);
    if (piece < shortest) piece = N;
  }
  const auto g2c = g2.contiguous();
  const bool direct = direct_blas({&g2c});
  if (!direct) {
    const auto g = as_matrix(g2c);
    if (N <= piece) return shaped(g.mm(cols(0, N).t()), out_sizes);
    torch::Tensor dw;
    for (std::int64_t s = 0; s < N; s += piece) {
      const auto n = std::min(piece, N - s);
      const auto gs = g.narrow(1, s, n), c = cols(s, n).t();
      if (s == 0)
        dw = gs.mm(c);
      else
        dw.addmm_(gs, c);
    }
    return shaped(dw, out_sizes);
  }
  auto dw = out_sizes.empty() ? torch::empty({Co, CK}, g2c.options())
                              : torch::empty(out_sizes, g2c.options());
  TORCH_CHECK(dw.numel() == Co * CK, "conv_weight_grad: out_sizes ", out_sizes, " hold no ", Co,
              " x ", CK, " matrix");
  for (std::int64_t s = 0; s < N; s += piece) {
    const auto n = std::min(piece, N - s);
    const auto c = direct_columns(cols(s, n), g2c);
    AT_DISPATCH_FLOATING_TYPES(g2c.scalar_type(), "conv_weight_grad", [&] {
      gemm_row_major<scalar_t>(false, true, Co, CK, n, g2c.data_ptr<scalar_t>() + s, N,
                               c.data_ptr<scalar_t>(), c.stride(0), scalar_t(s == 0 ? 0 : 1),
                               dw.data_ptr<scalar_t>(), CK);
    });
  }
  return dw;
}

torch::Tensor bias_grad(const torch::Tensor& g) {
  const auto type = g.scalar_type();
  if (!g.device().is_cpu() || (type != torch::kFloat32 && type != torch::kFloat64)) {
    std::vector<std::int64_t> dims(std::size_t(std::max<std::int64_t>(0, g.dim() - 1)));
    for (std::size_t i = 0; i < dims.size(); ++i) dims[i] = std::int64_t(i) + 1;
    return g.sum(dims);
  }
  const auto gc = g.contiguous();
  const std::int64_t Co = g.size(0), N = g.numel() / std::max<std::int64_t>(1, Co);
  auto db = torch::empty({Co}, gc.options());
  AT_DISPATCH_FLOATING_TYPES(type, "bias_grad", [&] {
    const auto* src = gc.data_ptr<scalar_t>();
    auto* out = db.data_ptr<scalar_t>();
    constexpr std::int64_t lanes = 8;
    for (std::int64_t o = 0; o < Co; ++o) {
      const scalar_t* row = src + o * N;
      double acc[lanes] = {};
      std::int64_t i = 0;
      for (; i + lanes <= N; i += lanes)
        for (std::int64_t l = 0; l < lanes; ++l) acc[l] += double(row[i + l]);
      for (; i < N; ++i) acc[i % lanes] += double(row[i]);
      out[o] = scalar_t(((acc[0] + acc[4]) + (acc[2] + acc[6])) +
                        ((acc[1] + acc[5]) + (acc[3] + acc[7])));
    }
  });
  return db;
}

torch::Tensor transposed_weight(const torch::Tensor& w) {
  const std::int64_t Co = w.size(0), C = w.size(1);
  const std::int64_t K = w.numel() / std::max<std::int64_t>(1, Co * C);
  const auto type = w.scalar_type();
  if (!w.device().is_cpu() || (type != torch::kFloat32 && type != torch::kFloat64))
    return w.transpose(0, 1).reshape({C, Co * K});
  const auto wc = w.contiguous();
  auto wt = torch::empty({C, Co * K}, wc.options());
  AT_DISPATCH_FLOATING_TYPES(type, "transposed_weight", [&] {
    const auto* src = wc.data_ptr<scalar_t>();
    auto* dst = wt.data_ptr<scalar_t>();
    for (std::int64_t o = 0; o < Co; ++o)
      for (std::int64_t c = 0; c < C; ++c)
        std::copy_n(src + (o * C + c) * K, K, dst + (c * Co + o) * K);
  });
  return wt;
}

std::pair<torch::Tensor, torch::Tensor> conv_input_and_weight_grad(const torch::Tensor& w,
                                                                   std::int64_t N,
                                                                   const ColumnSource& opposite,
                                                                   const torch::Tensor& x,
                                                                   at::IntArrayRef dx_sizes) {
  const std::int64_t Co = w.size(0), C = w.size(1);
  const std::int64_t K = w.numel() / std::max<std::int64_t>(1, Co * C), CoK = Co * K;
  const auto wt = transposed_weight(w);  // (C, Co K), contiguous
  const auto xc = x.contiguous();
  torch::Tensor dx, r;             // r (Co K, C): r[(o, j), c] = dw[o, c, j]
  if (!direct_blas({&wt, &xc})) {  // (a GPU: one gather, two products)
    const auto cols = opposite(0, N);
    dx = shaped(wt.mm(cols), dx_sizes);
    r = cols.mm(as_matrix(xc).t());
  } else {
    dx = dx_sizes.empty() ? torch::empty({C, N}, wt.options())
                          : torch::empty(dx_sizes, wt.options());
    r = torch::empty({CoK, C}, wt.options());
    const std::int64_t piece = gemm_piece_columns(wt, C, CoK);
    for (std::int64_t s = 0; s < N; s += piece) {
      const auto n = std::min(piece, N - s);
      const auto c = direct_columns(opposite(s, n), wt);
      AT_DISPATCH_FLOATING_TYPES(wt.scalar_type(), "conv_input_and_weight_grad", [&] {
        gemm_row_major<scalar_t>(false, false, C, n, CoK, wt.data_ptr<scalar_t>(), CoK,
                                 c.data_ptr<scalar_t>(), c.stride(0), scalar_t(0),
                                 dx.data_ptr<scalar_t>() + s, N);
        gemm_row_major<scalar_t>(false, true, CoK, C, n, c.data_ptr<scalar_t>(), c.stride(0),
                                 xc.data_ptr<scalar_t>() + s, N, scalar_t(s == 0 ? 0 : 1),
                                 r.data_ptr<scalar_t>(), C);
      });
    }
  }
  if (!r.device().is_cpu() || !direct_blas({&r}))
    return {dx, r.view({Co, K, C}).permute({0, 2, 1}).reshape(w.sizes())};
  auto dw = torch::empty(w.sizes(), r.options());
  AT_DISPATCH_FLOATING_TYPES(r.scalar_type(), "conv_input_and_weight_grad", [&] {
    const auto* src = r.data_ptr<scalar_t>();
    auto* dst = dw.data_ptr<scalar_t>();
    for (std::int64_t o = 0; o < Co; ++o)
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t j = 0; j < K; ++j) dst[(o * C + c) * K + j] = src[(o * K + j) * C + c];
  });
  return {dx, dw};
}

torch::Tensor conv_weight_grad(const torch::Tensor& g2, const torch::Tensor& cols,
                               std::int64_t piece) {
  return conv_weight_grad(
      g2, cols.size(0), [&cols](std::int64_t s, std::int64_t n) { return cols.narrow(1, s, n); },
      piece);
}

}  // namespace phyflow::flows
