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

torch::Tensor conv_gemm(const torch::Tensor& w2, const torch::Tensor& cols,
                        const torch::Tensor& bias, std::int64_t piece) {
  const std::int64_t Co = w2.size(0), CK = w2.size(1), N = cols.size(1);
  if (piece <= 0) piece = gemm_piece_columns(cols, Co, CK);
  if (N <= piece) return bias.defined() ? torch::addmm(bias.unsqueeze(1), w2, cols) : w2.mm(cols);
  auto y = torch::empty({Co, N}, cols.options());
  for (std::int64_t s = 0; s < N; s += piece) {
    const auto n = std::min(piece, N - s);
    auto out = y.narrow(1, s, n);
    if (bias.defined())
      torch::addmm_out(out, bias.unsqueeze(1), w2, cols.narrow(1, s, n));
    else
      torch::mm_out(out, w2, cols.narrow(1, s, n));
  }
  return y;
}

torch::Tensor conv_weight_grad(const torch::Tensor& g2, const torch::Tensor& cols,
                               std::int64_t piece) {
  const std::int64_t Co = g2.size(0), CK = cols.size(0), N = cols.size(1);
  if (piece <= 0) {
    constexpr std::int64_t shortest = 512;
    piece = gemm_piece_columns(cols, Co, CK);
    if (piece < shortest) piece = N;
  }
  if (N <= piece) return g2.mm(cols.t());
  torch::Tensor dw;
  for (std::int64_t s = 0; s < N; s += piece) {
    const auto n = std::min(piece, N - s);
    const auto g = g2.narrow(1, s, n), c = cols.narrow(1, s, n).t();
    if (s == 0)
      dw = g.mm(c);
    else
      dw.addmm_(g, c);
  }
  return dw;
}

}  // namespace phyflow::flows
