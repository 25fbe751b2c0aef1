// The periodic convolutions' GEMMs in pieces of columns (conv_gemm.hpp).
#include "phyflow/flows/conv_gemm.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <limits>

namespace phyflow::flows {

std::int64_t gemm_piece_columns(const torch::Tensor& t, std::int64_t rows, std::int64_t inner) {
  if (!t.device().is_cpu()) return std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t small = 1000000, align = 64;
  return std::max(align, small / std::max<std::int64_t>(1, rows * inner) / align * align);
}

torch::Tensor conv_gemm(const torch::Tensor& w2, std::int64_t N, const ColumnSource& cols,
                        const torch::Tensor& bias, std::int64_t piece) {
  const std::int64_t Co = w2.size(0), CK = w2.size(1);
  if (piece <= 0) piece = gemm_piece_columns(w2, Co, CK);
  if (N <= piece) {
    const auto c = cols(0, N);
    return bias.defined() ? torch::addmm(bias.unsqueeze(1), w2, c) : w2.mm(c);
  }
  auto y = torch::empty({Co, N}, w2.options());
  for (std::int64_t s = 0; s < N; s += piece) {
    const auto n = std::min(piece, N - s);
    auto out = y.narrow(1, s, n);
    const auto c = cols(s, n);
    if (bias.defined())
      torch::addmm_out(out, bias.unsqueeze(1), w2, c);
    else
      torch::mm_out(out, w2, c);
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
                               std::int64_t piece) {
  const std::int64_t Co = g2.size(0), N = g2.size(1);
  if (piece <= 0) {
    constexpr std::int64_t shortest = 512;
    piece = gemm_piece_columns(g2, Co, CK);
    if (piece < shortest) piece = N;
  }
  if (N <= piece) return g2.mm(cols(0, N).t());
  torch::Tensor dw;
  for (std::int64_t s = 0; s < N; s += piece) {
    const auto n = std::min(piece, N - s);
    const auto g = g2.narrow(1, s, n), c = cols(s, n).t();
    if (s == 0)
      dw = g.mm(c);
    else
      dw.addmm_(g, c);
  }
  return dw;
}

torch::Tensor conv_weight_grad(const torch::Tensor& g2, const torch::Tensor& cols,
                               std::int64_t piece) {
  return conv_weight_grad(
      g2, cols.size(0), [&cols](std::int64_t s, std::int64_t n) { return cols.narrow(1, s, n); },
      piece);
}

}  // namespace phyflow::flows
