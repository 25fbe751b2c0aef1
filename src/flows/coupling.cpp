// Coupling layers and conditioners (coupling.hpp).
#include "phyflow/flows/coupling.hpp"

#include <torch/torch.h>

#include "phyflow/core/error.hpp"

namespace phyflow::flows {

torch::Tensor checker_mask(const LatticeShape& shape, int parity) {
  auto sum = torch::zeros(shape.sites(), torch::kInt64);
  for (int mu = 0; mu < shape.dims; ++mu) {
    std::vector<std::int64_t> view(std::size_t(shape.dims), 1);
    view[std::size_t(mu)] = shape.L;
    sum = sum + torch::arange(shape.L, torch::kInt64).reshape(view);
  }
  return ((sum + parity) % 2).to(torch::kFloat64);
}

std::pair<torch::Tensor, torch::Tensor> rational_quadratic_spline(const torch::Tensor& x,
                                                                  const torch::Tensor& w,
                                                                  const torch::Tensor& h,
                                                                  const torch::Tensor& d,
                                                                  double bound, bool inverse) {
  // Smallest bin width, height and knot derivative, as in Durkan et al.'s code (nflows).
  constexpr double min_w = 1e-3, min_h = 1e-3, min_d = 1e-3;
  const std::int64_t K = w.size(-1);
  const double B = bound;
  const auto inside = (x >= -B) & (x <= B);
  const auto xc = x.clamp(-B, B);
  // Knots: normalised widths/heights, cumulated onto [-B, B] with exact end points.
  auto knots = [&](const torch::Tensor& u, double min_size) {
    auto s = min_size + (1.0 - min_size * double(K)) * torch::softmax(u, -1);
    auto c = 2.0 * B * torch::cumsum(s, -1) - B;
    auto lo = torch::full_like(c.narrow(-1, 0, 1), -B);
    auto hi = torch::full_like(lo, B);
    c = torch::cat({lo, c.narrow(-1, 0, K - 1), hi}, -1);
    return std::make_pair(c, c.narrow(-1, 1, K) - c.narrow(-1, 0, K));
  };
  const auto [cw, widths] = knots(w, min_w);
  const auto [ch, heights] = knots(h, min_h);
  auto one = torch::ones_like(cw.narrow(-1, 0, 1));
  const auto derivs = torch::cat({one, min_d + torch::softplus(d), one}, -1);  // K + 1 knots

  const auto& loc = inverse ? ch : cw;
  auto idx = (xc.unsqueeze(-1) >= loc.narrow(-1, 0, K)).sum(-1, /*keepdim=*/true) - 1;
  idx = idx.clamp(0, K - 1);
  auto pick = [&](const torch::Tensor& t, const torch::Tensor& i) {
    return t.gather(-1, i).squeeze(-1);
  };
  const auto xk = pick(cw, idx), wk = pick(widths, idx), yk = pick(ch, idx),
             hk = pick(heights, idx);
  const auto dk = pick(derivs, idx), dk1 = pick(derivs, idx + 1);
  const auto delta = hk / wk;
  const auto curv = dk + dk1 - 2.0 * delta;

  torch::Tensor out, theta;
  if (!inverse) {
    theta = (xc - xk) / wk;
  } else {
    const auto dy = xc - yk;
    const auto a = hk * (delta - dk) + dy * curv;
    const auto b = hk * dk - dy * curv;
    const auto c = -delta * dy;
    const auto disc = (b * b - 4.0 * a * c).clamp_min(0.0);
    theta = (2.0 * c) / (-b - disc.sqrt());
  }
  const auto t1 = theta * (1.0 - theta);
  const auto den = delta + curv * t1;
  const auto dnum =
      delta * delta * (dk1 * theta * theta + 2.0 * delta * t1 + dk * (1.0 - theta).pow(2));
  auto logdet = dnum.log() - 2.0 * den.log();
  if (!inverse) {
    out = yk + hk * (delta * theta * theta + dk * t1) / den;
  } else {
    out = xk + theta * wk;
    logdet = -logdet;
  }
  return {torch::where(inside, out, x), torch::where(inside, logdet, torch::zeros_like(logdet))};
}

namespace {

// Circular ("periodic") padding as one gather: entry j of the flattened padded lattice
// (L + 2 pad)^d is site index[j] of the flattened lattice L^d.
torch::Tensor circular_pad_index(std::int64_t L, int dims, std::int64_t pad) {
  const std::int64_t P = L + 2 * pad;
  std::int64_t n = 1;
  for (int mu = 0; mu < dims; ++mu) n *= P;
  std::vector<std::int64_t> index(std::size_t(n), 0);
  for (std::int64_t j = 0; j < n; ++j) {
    std::int64_t rest = j, site = 0, stride = 1;
    for (int mu = dims - 1; mu >= 0; --mu) {  // last axis fastest, as in a contiguous tensor
      const std::int64_t c = rest % P;
      rest /= P;
      site += (((c - pad) % L + L) % L) * stride;
      stride *= L;
    }
    index[std::size_t(j)] = site;
  }
  return torch::tensor(index, torch::kInt64);
}

torch::Tensor circular_pad(const torch::Tensor& x, const torch::Tensor& index, std::int64_t padded) {
  std::vector<std::int64_t> shape{x.size(0), x.size(1)};
  for (std::int64_t mu = 2; mu < x.dim(); ++mu) shape.push_back(padded);
  return x.reshape({x.size(0), x.size(1), -1}).index_select(2, index).reshape(shape);
}

// y = conv(circular_pad(x), w) + b with a hand-written backward. LibTorch's own path
// (padding_mode circular) pads with a chain of slice copies, and its convolution backward
// computes the input gradient as a transposed convolution that is slow for these tiny
// images. The adjoint of a circular convolution is the circular convolution with the
// flipped, channel-transposed kernel, i.e. one more forward convolution:
//   dx = conv(circular_pad(dy), flip(w)^T),   dw, db = convolution_backward(dy, pad(x), w).
// bench: a 1 -> 8 -> 8 -> 2 conditioner on 64 x 8 x 8, forward + backward, 3.2 ms -> 2.2 ms.
class CircularConvFunction : public torch::autograd::Function<CircularConvFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& w, const torch::Tensor& b,
                               const torch::Tensor& index, std::int64_t padded) {
    const auto xp = circular_pad(x, index, padded);
    ctx->save_for_backward({xp, w, index});
    ctx->saved_data["padded"] = padded;
    ctx->saved_data["bias"] = b.defined();
    const std::vector<std::int64_t> ones(std::size_t(x.dim() - 2), 1), zeros(ones.size(), 0);
    return at::convolution(xp, w, b, ones, zeros, ones, false, zeros, 1);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &xp = saved[0], &w = saved[1], &index = saved[2];
    const auto padded = ctx->saved_data["padded"].toInt();
    const bool has_bias = ctx->saved_data["bias"].toBool();
    const auto& dy = grads[0];
    const std::vector<std::int64_t> ones(std::size_t(dy.dim() - 2), 1), zeros(ones.size(), 0);
    std::vector<std::int64_t> spatial;
    for (std::int64_t mu = 2; mu < w.dim(); ++mu) spatial.push_back(mu);
    torch::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0))
      dx = at::convolution(circular_pad(dy, index, padded), w.flip(spatial).transpose(0, 1),
                           torch::Tensor(), ones, zeros, ones, false, zeros, 1);
    if (ctx->needs_input_grad(1) || (has_bias && ctx->needs_input_grad(2))) {
      const std::vector<std::int64_t> bias_sizes{w.size(0)};
      auto r = at::convolution_backward(
          dy, xp, w, has_bias ? at::OptionalIntArrayRef(bias_sizes) : at::OptionalIntArrayRef(),
          ones, zeros, ones, false, zeros, 1, {false, true, has_bias});
      dw = std::get<1>(r);
      db = std::get<2>(r);
    }
    return {dx, dw, db, torch::Tensor(), torch::Tensor()};
  }
};

// A convolution over (B, C, L, ..., L) with periodic boundaries and an odd kernel, output of
// the same size. Its parameters are named and initialised as torch::nn::ConvNd's (weight,
// bias; Kaiming-uniform), so model files and seeds mean what they meant with ConvNd.
class CircularConvImpl : public torch::nn::Cloneable<CircularConvImpl> {
 public:
  CircularConvImpl(int dims, std::int64_t in, std::int64_t out, std::int64_t kernel,
                   std::int64_t L)
      : dims_(dims), in_(in), out_(out), kernel_(kernel), L_(L) {
    reset();
  }
  void reset() override {
    std::vector<std::int64_t> shape{out_, in_};
    for (int mu = 0; mu < dims_; ++mu) shape.push_back(kernel_);
    weight = register_parameter("weight", torch::empty(shape));
    bias = register_parameter("bias", torch::empty({out_}));
    index_ = circular_pad_index(L_, dims_, kernel_ / 2);
    torch::NoGradGuard no_grad;
    torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
    const double bound = 1.0 / std::sqrt(double(weight.numel() / out_));
    torch::nn::init::uniform_(bias, -bound, bound);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    if (index_.device() != x.device()) index_ = index_.to(x.device());
    if (!torch::GradMode::is_enabled()) {  // sampling: no autograd node to build
      const std::vector<std::int64_t> ones(std::size_t(dims_), 1), zeros(ones.size(), 0);
      return at::convolution(circular_pad(x, index_, L_ + 2 * (kernel_ / 2)), weight, bias, ones,
                             zeros, ones, false, zeros, 1);
    }
    return CircularConvFunction::apply(x, weight, bias, index_, L_ + 2 * (kernel_ / 2));
  }
  torch::Tensor weight, bias;

 private:
  int dims_;
  std::int64_t in_, out_, kernel_, L_;
  torch::Tensor index_;
};
TORCH_MODULE(CircularConv);

}  // namespace

torch::nn::Sequential make_conditioner(const LatticeShape& shape, const ConditionerOptions& o,
                                       std::int64_t out_channels) {
  torch::nn::Sequential net;
  const bool conv = o.net == "conv";
  if (conv && (shape.dims > 3))
    throw input_error("conv conditioners exist for d = 1, 2, 3; use model.net: dense for d = " +
                      std::to_string(shape.dims));
  if (conv && o.kernel % 2 == 0)
    throw input_error(
        "model.kernel must be odd (circular padding of kernel/2 keeps the lattice "
        "size): " +
        std::to_string(o.kernel));
  std::vector<std::int64_t> sizes{conv ? 1 : shape.volume()};
  sizes.insert(sizes.end(), o.hidden.begin(), o.hidden.end());
  sizes.push_back(conv ? out_channels : out_channels * shape.volume());
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    const auto a = sizes[i], b = sizes[i + 1];
    if (!conv)
      net->push_back(torch::nn::Linear(a, b));
    else
      net->push_back(CircularConv(shape.dims, a, b, o.kernel, shape.L));
    if (i + 2 < sizes.size())
      net->push_back(torch::nn::LeakyReLU());
    else if (o.final_tanh)
      net->push_back(torch::nn::Tanh());
  }
  return net;
}

CouplingLayer::CouplingLayer(const LatticeShape& shape, int parity, const ConditionerOptions& o,
                             std::int64_t out_channels)
    : shape_(shape),
      net_kind_(o.net),
      out_channels_(out_channels),
      mask_(checker_mask(shape, parity)) {
  if (o.net != "conv" && o.net != "dense")
    throw input_error("unknown model.net '" + o.net + "' (known: conv, dense)");
  net_ = register_module("net", make_conditioner(shape, o, out_channels));
}

void CouplingLayer::cast_masks(const torch::Tensor& like) const {
  if (mask_cast_.defined() && mask_cast_.scalar_type() == like.scalar_type() &&
      mask_cast_.device() == like.device())
    return;
  mask_cast_ = mask_.to(like.device(), like.scalar_type());
  active_cast_ = 1.0 - mask_cast_;
}

torch::Tensor CouplingLayer::condition(const torch::Tensor& frozen) {
  const std::int64_t B = frozen.size(0);
  if (net_kind_ == "conv") return net_->forward(frozen.unsqueeze(1));
  auto out = net_->forward(frozen.reshape({B, -1}));
  auto shape = shape_.batch(B);
  shape.insert(shape.begin() + 1, out_channels_);
  return out.reshape(shape);
}

AffineCoupling::AffineCoupling(const LatticeShape& shape, int parity, const ConditionerOptions& o,
                               bool z2)
    : CouplingLayer(shape, parity, o, 2), z2_(z2) {}

std::pair<torch::Tensor, torch::Tensor> AffineCoupling::shift_scale(const torch::Tensor& frozen) {
  const auto out = condition(frozen);
  auto s = out.select(1, 0), t = out.select(1, 1);
  if (z2_) {
    const auto flipped = condition(-frozen);
    s = 0.5 * (s + flipped.select(1, 0));
    t = 0.5 * (t - flipped.select(1, 1));
  }
  return {s, t};
}

std::pair<torch::Tensor, torch::Tensor> AffineCoupling::forward(const torch::Tensor& z) {
  const auto m = mask(z), active = active_mask(z);
  const auto frozen = m * z;
  const auto [s, t] = shift_scale(frozen);
  // phi = m z + (1 - m)(z e^s + t), written with as few autograd nodes as possible
  const auto phi = torch::addcmul(frozen, active, torch::addcmul(t, z, torch::exp(s)));
  return {phi, sum_sites(active * s)};
}

std::pair<torch::Tensor, torch::Tensor> AffineCoupling::reverse(const torch::Tensor& phi) {
  const auto m = mask(phi), active = active_mask(phi);
  const auto frozen = m * phi;
  const auto [s, t] = shift_scale(frozen);
  const auto z = torch::addcmul(frozen, active, (phi - t) * torch::exp(-s));
  return {z, sum_sites(-active * s)};
}

SplineCoupling::SplineCoupling(const LatticeShape& shape, int parity, const ConditionerOptions& o,
                               std::int64_t bins, double bound)
    : CouplingLayer(shape, parity, o, 3 * bins - 1), bins_(bins), bound_(bound) {
  if (bins < 2) throw input_error("model.bins must be at least 2: " + std::to_string(bins));
  if (!(bound > 0)) throw input_error("model.bound must be positive: " + std::to_string(bound));
}

std::pair<torch::Tensor, torch::Tensor> SplineCoupling::apply(const torch::Tensor& x,
                                                              bool inverse) {
  const auto m = mask(x), active = active_mask(x);
  const auto params = condition(m * x).movedim(1, -1);  // (B, L..., 3K - 1)
  const auto w = params.narrow(-1, 0, bins_), h = params.narrow(-1, bins_, bins_);
  const auto d = params.narrow(-1, 2 * bins_, bins_ - 1);
  const auto [y, logdet] = rational_quadratic_spline(x, w, h, d, bound_, inverse);
  return {m * x + active * y, sum_sites(active * logdet)};
}

std::pair<torch::Tensor, torch::Tensor> SplineCoupling::forward(const torch::Tensor& z) {
  return apply(z, false);
}

std::pair<torch::Tensor, torch::Tensor> SplineCoupling::reverse(const torch::Tensor& phi) {
  return apply(phi, true);
}

}  // namespace phyflow::flows
