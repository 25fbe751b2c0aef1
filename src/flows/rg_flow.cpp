// The NeuralRG hierarchy (rg_flow.hpp).
#include "phyflow/flows/rg_flow.hpp"

#include <torch/torch.h>

#include <utility>

#include "phyflow/core/error.hpp"

namespace phyflow::flows {

namespace {
/// Parity of the block position p: the number of set bits (one bit per lattice axis) mod 2.
int position_parity(std::int64_t p) {
  int n = 0;
  for (; p; p >>= 1) n += int(p & 1);
  return n % 2;
}

/// An index tensor on `device`, moved there in place the first time it is needed elsewhere
/// (index tensors are not parameters: Module::to leaves them on the host).
const torch::Tensor& on_device(torch::Tensor& t, const torch::Device& device) {
  if (t.device() != device) t = t.to(device);
  return t;
}
}  // namespace

BlockRealNvp::BlockRealNvp(int dims, std::int64_t couplings,
                           const std::vector<std::int64_t>& hidden, bool identity_init,
                           BlockCoupling coupling)
    : coupling_(std::move(coupling)) {
  const std::int64_t P = std::int64_t(1) << dims, half = P / 2;
  if (couplings < 1) throw input_error("model.layers (couplings per block) must be at least 1");
  const bool spline = coupling_.kind == "spline";
  if (!spline && coupling_.kind != "affine")
    throw input_error("unknown model.coupling '" + coupling_.kind + "' (known: affine, spline)");
  if (spline && coupling_.bins < 2)
    throw input_error("model.bins must be at least 2: " + std::to_string(coupling_.bins));
  if (spline && !(coupling_.bound > 0))
    throw input_error("model.bound must be positive: " + std::to_string(coupling_.bound));
  // Parameters per active variable: s and t, or K widths, K heights, K - 1 knot derivatives.
  const std::int64_t per = spline ? 3 * coupling_.bins - 1 : 2;
  std::vector<std::int64_t> even, odd;
  for (std::int64_t p = 0; p < P; ++p) (position_parity(p) ? odd : even).push_back(p);
  for (std::int64_t i = 0; i < couplings; ++i) {
    const auto& f = i % 2 ? odd : even;
    const auto& a = i % 2 ? even : odd;
    frozen_.push_back(torch::tensor(f, torch::kInt64));
    active_.push_back(torch::tensor(a, torch::kInt64));
    torch::nn::Sequential net;
    std::int64_t in = half;
    for (const auto h : hidden) {
      net->push_back(torch::nn::Linear(in, h));
      net->push_back(torch::nn::LeakyReLU());
      in = h;
    }
    net->push_back(torch::nn::Linear(in, per * half));
    if (identity_init) {
      zero_final_layer(net);
      if (spline) {
        // Equal bins from the zero layer; unit knot slopes from the derivative parameters'
        // bias (parameter-major outputs: the K - 1 derivative rows of `half` entries each).
        auto bias = net->ptr<torch::nn::LinearImpl>(net->size() - 1)->bias;
        torch::NoGradGuard no_grad;
        bias.narrow(0, 2 * coupling_.bins * half, (coupling_.bins - 1) * half)
            .fill_(spline_unit_derivative_parameter());
      }
    }
    nets_.push_back(register_module("coupling" + std::to_string(i), net));
  }
}

std::pair<torch::Tensor, torch::Tensor> BlockRealNvp::shift_scale(std::size_t i,
                                                                  const torch::Tensor& x) {
  const auto out = nets_[i]->forward(x.index_select(1, on_device(frozen_[i], x.device())));
  const auto half = out.size(1) / 2;
  return {torch::tanh(out.narrow(1, 0, half)), out.narrow(1, half, half)};
}

std::pair<torch::Tensor, torch::Tensor> BlockRealNvp::couple(std::size_t i, const torch::Tensor& x,
                                                             bool inverse) {
  const auto& a = on_device(active_[i], x.device());
  const auto xa = x.index_select(1, a);
  if (coupling_.kind == "affine") {
    const auto [s, t] = shift_scale(i, x);
    if (!inverse) return {x.index_copy(1, a, xa * torch::exp(s) + t), s.sum(1)};
    return {x.index_copy(1, a, (xa - t) * torch::exp(-s)), -s.sum(1)};
  }
  const std::int64_t K = coupling_.bins, half = xa.size(1);
  const auto out = nets_[i]->forward(x.index_select(1, on_device(frozen_[i], x.device())));
  const auto params = out.view({out.size(0), 3 * K - 1, half}).transpose(1, 2);  // (R, half, 3K-1)
  const auto [y, logdet] =
      rational_quadratic_spline(xa, params.narrow(-1, 0, K), params.narrow(-1, K, K),
                                params.narrow(-1, 2 * K, K - 1), coupling_.bound, inverse);
  return {x.index_copy(1, a, y), logdet.sum(1)};
}

std::pair<torch::Tensor, torch::Tensor> BlockRealNvp::forward(const torch::Tensor& z) {
  auto x = z;
  auto logdet = torch::zeros({z.size(0)}, z.options());
  for (std::size_t i = 0; i < nets_.size(); ++i) {
    auto [y, ld] = couple(i, x, false);
    x = y;
    logdet = logdet + ld;
  }
  return {x, logdet};
}

std::pair<torch::Tensor, torch::Tensor> BlockRealNvp::reverse(const torch::Tensor& x_in) {
  auto x = x_in;
  auto logdet = torch::zeros({x.size(0)}, x.options());
  for (std::size_t i = nets_.size(); i-- > 0;) {
    auto [y, ld] = couple(i, x, true);
    x = y;
    logdet = logdet + ld;
  }
  return {x, logdet};
}

RgBlockLayer::RgBlockLayer(const LatticeShape& shape, std::int64_t stride, int offset,
                           std::int64_t couplings, const std::vector<std::int64_t>& hidden,
                           bool identity_init, const BlockCoupling& coupling) {
  const int d = shape.dims;
  const std::int64_t L = shape.L, M = L / stride, P = std::int64_t(1) << d;
  if (M < 2 || M % 2 != 0 || L % stride != 0)
    throw runtime_error("RgBlockLayer: stride " + std::to_string(stride) +
                        " does not fit L = " + std::to_string(L));
  std::int64_t blocks = 1;
  for (int mu = 0; mu < d; ++mu) blocks *= M / 2;
  sites_ = torch::empty({blocks, P}, torch::kInt64);
  auto s = sites_.accessor<std::int64_t, 2>();
  for (std::int64_t b = 0; b < blocks; ++b)
    for (std::int64_t p = 0; p < P; ++p) {
      // Block b's corner (2 b_mu + offset) on the level lattice, plus position p's bit per axis
      // (axis 0 the most significant, as the row-major flat index); back to full coordinates.
      std::int64_t flat = 0, rest = b;
      std::vector<std::int64_t> coord(static_cast<std::size_t>(d));
      for (int mu = d - 1; mu >= 0; --mu, rest /= M / 2) coord[std::size_t(mu)] = rest % (M / 2);
      for (int mu = 0; mu < d; ++mu) {
        const std::int64_t bit = (p >> (d - 1 - mu)) & 1;
        const std::int64_t c = ((2 * coord[std::size_t(mu)] + offset + bit) % M) * stride;
        flat = flat * L + c;
      }
      s[b][p] = flat;
    }
  block_ = register_module(
      "block", std::make_shared<BlockRealNvp>(d, couplings, hidden, identity_init, coupling));
}

std::pair<torch::Tensor, torch::Tensor> RgBlockLayer::apply(const torch::Tensor& x, bool inverse) {
  const std::int64_t B = x.size(0), blocks = sites_.size(0), P = sites_.size(1);
  const auto flat = x.reshape({B, -1});
  if (!flat_sites_.defined()) flat_sites_ = sites_.reshape({-1});
  const auto& idx = on_device(flat_sites_, x.device());
  const auto rows = flat.index_select(1, idx).reshape({B * blocks, P});
  const auto [y, logdet] = inverse ? block_->reverse(rows) : block_->forward(rows);
  const auto out = flat.index_copy(1, idx, y.reshape({B, blocks * P}));
  return {out.reshape(x.sizes()), logdet.reshape({B, blocks}).sum(1)};
}

std::pair<torch::Tensor, torch::Tensor> RgBlockLayer::forward(const torch::Tensor& z) {
  return apply(z, false);
}

std::pair<torch::Tensor, torch::Tensor> RgBlockLayer::reverse(const torch::Tensor& phi) {
  return apply(phi, true);
}

std::vector<std::shared_ptr<RgBlockLayer>> mera_layers(
    const LatticeShape& shape, std::int64_t disentanglers, std::int64_t couplings,
    const std::vector<std::int64_t>& hidden, bool identity_init, const BlockCoupling& coupling) {
  const std::int64_t L = shape.L;
  if (L < 2 || (L & (L - 1)) != 0)
    throw input_error(
        "model.hierarchy mera needs action.L a power of two (blocks of 2 per axis "
        "at every level), got L = " +
        std::to_string(L) + "; use L = 4, 8, 16, ... or model.hierarchy: none");
  if (disentanglers < 0) throw input_error("model.disentanglers must be >= 0");
  std::vector<std::int64_t> strides;
  for (std::int64_t s = 1; s < L; s *= 2) strides.push_back(s);
  std::vector<std::shared_ptr<RgBlockLayer>> layers;
  for (auto it = strides.rbegin(); it != strides.rend(); ++it) {
    layers.push_back(
        std::make_shared<RgBlockLayer>(shape, *it, 0, couplings, hidden, identity_init, coupling));
    for (std::int64_t k = 0; k < disentanglers; ++k)
      layers.push_back(std::make_shared<RgBlockLayer>(shape, *it, 1, couplings, hidden,
                                                      identity_init, coupling));
  }
  return layers;
}

}  // namespace phyflow::flows
