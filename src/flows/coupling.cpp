// Coupling layers and conditioners (coupling.hpp).
#include "phyflow/flows/coupling.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "phyflow/core/error.hpp"
#include "phyflow/flows/conv_gemm.hpp"

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

namespace {
// Smallest bin width, height and knot derivative, as in Durkan et al.'s code (nflows).
constexpr double kSplineMinWidth = 1e-3, kSplineMinHeight = 1e-3, kSplineMinDerivative = 1e-3;
}  // namespace

double spline_unit_derivative_parameter() {
  // The interior knot derivatives are min_d + softplus(u): u = log(e^(1 - min_d) - 1) gives 1.
  return std::log(std::expm1(1.0 - kSplineMinDerivative));
}

std::pair<torch::Tensor, torch::Tensor> rational_quadratic_spline(const torch::Tensor& x,
                                                                  const torch::Tensor& w,
                                                                  const torch::Tensor& h,
                                                                  const torch::Tensor& d,
                                                                  double bound, bool inverse) {
  constexpr double min_w = kSplineMinWidth, min_h = kSplineMinHeight, min_d = kSplineMinDerivative;
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

// Periodic neighbours for a kernel of side k in d dimensions: row j = kernel offset (row-major
// over the kernel, each component in [-k/2, k/2]) holds, for every site v of the flattened
// lattice L^d, the site v + offset (periodic). Row K - 1 - j is the opposite offset.
std::vector<std::int64_t> periodic_neighbours(std::int64_t L, int dims, std::int64_t kernel) {
  const std::int64_t pad = kernel / 2;
  std::int64_t K = 1, V = 1;
  for (int mu = 0; mu < dims; ++mu) K *= kernel, V *= L;
  std::vector<std::int64_t> index(std::size_t(K * V));
  for (std::int64_t j = 0; j < K; ++j)
    for (std::int64_t v = 0; v < V; ++v) {
      std::int64_t jr = j, vr = v, site = 0, stride = 1;
      for (int mu = dims - 1; mu >= 0; --mu) {  // last axis fastest, as in a contiguous tensor
        const std::int64_t offset = jr % kernel - pad, x = vr % L;
        jr /= kernel;
        vr /= L;
        site += (((x + offset) % L + L) % L) * stride;
        stride *= L;
      }
      index[std::size_t(j * V + v)] = site;
    }
  return index;
}

// A gather table (K rows of V sites) as runs of consecutive sites: row j, sites
// [dst, dst + len) <- [src, src + len). A periodic shift moves whole lattice rows but for the
// wrap-around, so on the tutorial's 8 x 8 lattice a kernel-3 table of 576 entries is 101 runs.
struct SiteRun {
  std::int64_t row, dst, src, len;
};
std::vector<SiteRun> site_runs(const std::vector<std::int64_t>& index, std::int64_t K,
                               std::int64_t V) {
  std::vector<SiteRun> runs;
  for (std::int64_t j = 0; j < K; ++j)
    for (std::int64_t v = 0; v < V; ++v) {
      const auto src = index[std::size_t(j * V + v)];
      if (v > 0 && runs.back().src + runs.back().len == src)
        ++runs.back().len;
      else
        runs.push_back({j, v, src, 1});
    }
  return runs;
}

// The neighbour tables of one (L, d, k), on the host, with their runs. Built once per
// lattice and kept for the program's life (a handful of lattices per run), so the autograd
// nodes can refer to them by address.
struct PeriodicStencil {
  std::int64_t K = 0, V = 0;
  torch::Tensor neighbours, opposite;  // int64 (K V): row j and row K - 1 - j
  std::vector<SiteRun> neighbour_runs, opposite_runs;
  /// The two tables on `device`: the host's, or copies made once per device and kept (the
  /// backward pass of every coupling asks again; a copy each time was a synchronous
  /// host-to-device transfer per layer and training step).
  std::pair<torch::Tensor, torch::Tensor> on(const torch::Device& device) const {
    if (device.is_cpu()) return {neighbours, opposite};
    const std::lock_guard<std::mutex> lock(copies_mutex);
    auto& c = copies[{int(device.type()), int(device.index())}];
    if (!c.first.defined()) c = {neighbours.to(device), opposite.to(device)};
    return c;
  }
  mutable std::mutex copies_mutex;
  mutable std::map<std::pair<int, int>, std::pair<torch::Tensor, torch::Tensor>> copies;
};
const PeriodicStencil& periodic_stencil(std::int64_t L, int dims, std::int64_t kernel) {
  static std::mutex mutex;
  static std::map<std::array<std::int64_t, 3>, PeriodicStencil> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  auto [it, fresh] = cache.try_emplace({L, std::int64_t(dims), kernel});
  if (fresh) {
    auto& st = it->second;
    const auto index = periodic_neighbours(L, dims, kernel);
    st.V = 1;
    for (int mu = 0; mu < dims; ++mu) st.V *= L;
    st.K = std::int64_t(index.size()) / st.V;
    std::vector<std::int64_t> opposite(index.size());
    for (std::int64_t j = 0; j < st.K; ++j)
      std::copy_n(index.begin() + (st.K - 1 - j) * st.V, st.V, opposite.begin() + j * st.V);
    st.neighbours = torch::tensor(index, torch::kInt64);
    st.opposite = torch::tensor(opposite, torch::kInt64);
    st.neighbour_runs = site_runs(index, st.K, st.V);
    st.opposite_runs = site_runs(opposite, st.K, st.V);
  }
  return it->second;
}

// x (C, V, B) -> (C K, V B): row (c, j) holds channel c of every site's j-th entry of the
// table. On the host a contiguous tensor is copied run by run (a memcpy of len B elements
// each; index_select copies one site's B elements per call, which at the tutorial's batch
// sizes was a tenth of the training step); elsewhere one index_select. Either is a copy, so
// the values are the same.
torch::Tensor gather_sites(const torch::Tensor& x, const torch::Tensor& index,
                           const std::vector<SiteRun>& runs, std::int64_t K) {
  const std::int64_t C = x.size(0), V = x.size(1), B = x.size(2);
  if (!x.device().is_cpu()) return x.index_select(1, index).reshape({C * K, V * B});
  const auto xc = x.contiguous();
  auto out = torch::empty({C * K, V * B}, xc.options());
  const auto row = std::size_t(B) * xc.element_size();
  const auto* src = static_cast<const char*>(xc.data_ptr());
  auto* dst = static_cast<char*>(out.data_ptr());
  for (std::int64_t c = 0; c < C; ++c)
    for (const auto& r : runs)
      std::memcpy(dst + std::size_t((c * K + r.row) * V + r.dst) * row,
                  src + std::size_t(c * V + r.src) * row, std::size_t(r.len) * row);
  return out;
}

// Columns [s, s + n) of gather_sites(x, ...) into out (C K rows, at least n columns, any row
// stride), x contiguous on the host: each run's part inside the columns, one memcpy. The
// convolutions gather piece by piece (StencilOnDevice::columns) so that a piece is still in
// cache for its product: the whole gathered matrix is K times x (10 MB for 16 channels on
// 12 x 12 at batch 128), and saving it for the backward pass wrote and read back ~0.5 GB per
// training step of the AKS recipe's flow at L = 12.
void gather_site_columns(const torch::Tensor& xc, const std::vector<SiteRun>& runs, std::int64_t K,
                         std::int64_t s, std::int64_t n, torch::Tensor& out) {
  const std::int64_t C = xc.size(0), V = xc.size(1), B = xc.size(2), ld = out.stride(0);
  const auto size = std::size_t(xc.element_size());
  const auto* src = static_cast<const char*>(xc.data_ptr());
  auto* dst = static_cast<char*>(out.data_ptr());
  for (std::int64_t c = 0; c < C; ++c)
    for (const auto& r : runs) {
      const std::int64_t lo = std::max(r.dst * B, s), hi = std::min((r.dst + r.len) * B, s + n);
      if (lo >= hi) continue;
      std::memcpy(dst + std::size_t((c * K + r.row) * ld + (lo - s)) * size,
                  src + std::size_t((c * V + r.src) * B + (lo - r.dst * B)) * size,
                  std::size_t(hi - lo) * size);
    }
}

// A (rows, n) buffer of `like`'s dtype for a piece of gathered columns. Every piece is
// consumed by its product before the next is gathered, and a training step asks for the same
// few shapes again and again: each thread keeps one block of memory per dtype, as large as the
// largest piece so far, and a view of it per shape, made once (a fresh buffer per convolution
// was an allocation and LibTorch calls, ~150 per step of the tutorial's flow; one block for all
// shapes keeps the gathers in the same cache lines, as the freed and reallocated buffers were).
torch::Tensor column_buffer(std::int64_t rows, std::int64_t n, const torch::Tensor& like) {
  struct Block {
    torch::Tensor memory;
    std::map<std::pair<std::int64_t, std::int64_t>, torch::Tensor> views;
  };
  thread_local std::map<int, Block> blocks;
  auto& b = blocks[int(like.scalar_type())];
  const auto it = b.views.find({rows, n});
  if (it != b.views.end()) return it->second;
  if (!b.memory.defined() || b.memory.numel() < rows * n) {
    b.memory = torch::empty({rows * n}, like.options());
    b.views.clear();
  }
  if (b.views.size() >= 32) b.views.clear();  // many shapes (batches that vary): start again
  auto view = b.memory.narrow(0, 0, rows * n).view({rows, n});
  b.views.emplace(std::make_pair(rows, n), view);
  return view;
}

// The gathered columns of x as a ColumnSource: on the host each piece is gathered into a
// buffer of this thread (column_buffer; valid until the next piece of any source); elsewhere
// the whole matrix at once (one index_select; no pieces there).
ColumnSource gathered_columns(const torch::Tensor& x, const torch::Tensor& index,
                              const std::vector<SiteRun>& runs, std::int64_t K) {
  if (!x.device().is_cpu())
    return [x, index, runs = &runs, K](std::int64_t, std::int64_t) {
      return gather_sites(x, index, *runs, K);
    };
  return [xc = x.contiguous(), runs = &runs, K](std::int64_t s, std::int64_t n) {
    auto out = column_buffer(xc.size(0) * K, n, xc);
    gather_site_columns(xc, *runs, K, s, n, out);
    return out;
  };
}

// The tables on x's device: the host's, or copies made once per device.
struct StencilOnDevice {
  const PeriodicStencil* host = nullptr;
  torch::Tensor neighbours, opposite;
  void to(const torch::Device& device) {
    if (neighbours.device() == device) return;
    std::tie(neighbours, opposite) = host->on(device);
  }
  ColumnSource columns(const torch::Tensor& x) const {
    return gathered_columns(x, neighbours, host->neighbour_runs, host->K);
  }
  ColumnSource opposite_columns(const torch::Tensor& x) const {
    return gathered_columns(x, opposite, host->opposite_runs, host->K);
  }
  // Rebuilt in a backward pass from the host tables and the saved opposite table: the
  // neighbour table on its device (copied there once); on the host the gathers read the runs.
  static StencilOnDevice in_backward(const PeriodicStencil* host, const torch::Tensor& opposite) {
    StencilOnDevice st{host, {}, opposite};
    if (!opposite.device().is_cpu()) st.neighbours = host->on(opposite.device()).first;
    return st;
  }
};

// A stencil's address kept in an autograd node's saved data (the cache never frees one).
std::int64_t address(const PeriodicStencil* st) {
  return std::int64_t(reinterpret_cast<std::intptr_t>(st));
}
const PeriodicStencil* stencil_at(const c10::IValue& v) {
  return reinterpret_cast<const PeriodicStencil*>(std::intptr_t(v.toInt()));
}

// A periodic convolution (the cross-correlation of torch's ConvNd with circular padding k/2)
// on activations in the site-major layout (C, V, B), batch innermost: one gather of the
// k^d neighbours of every site, which copies contiguous batch rows (gather_sites: runs of
// consecutive sites), then one GEMM (conv_gemm: in pieces of columns),
//   y (C_out, V B) = W (C_out, C k^d) cols (C k^d, V B) + b.
// Backward: dW = dy cols^T, db = sum dy, and dx is the adjoint convolution -- the gather of
// dy at the opposite offsets times W^T -- so no scatter-add is needed.
// Why not LibTorch's Conv2d(padding_mode = circular): it pads with a chain of slice copies
// and its oneDNN kernels cost ~40 us a call whatever the size (slower still for one output
// channel); on the tutorial's 8 x 8 lattices they made a fixed cost per training step that
// did not shrink with the batch, i.e. with the number of ranks. bench: a 1 -> 8 -> 8 -> 2
// conditioner forward + backward at batch 64 / 32 / 16: 3.2 / 1.9 / 1.3 ms -> 1.4 / 0.6 /
// 0.35 ms (bench/flow_throughput.sh for the whole step).
class PeriodicConvFunction : public torch::autograd::Function<PeriodicConvFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& w, const torch::Tensor& b,
                               const StencilOnDevice* stencil) {
    ctx->save_for_backward({x, w, stencil->opposite});
    ctx->saved_data["stencil"] = address(stencil->host);
    const std::int64_t V = x.size(1), B = x.size(2);
    return conv_gemm(w, V * B, stencil->columns(x), b, 0, {w.size(0), V, B});
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1];
    const auto stencil =
        StencilOnDevice::in_backward(stencil_at(ctx->saved_data["stencil"]), saved[2]);
    const auto& dy = grads[0];
    const std::int64_t C = w.size(1), V = dy.size(1), B = dy.size(2);
    const std::int64_t K = stencil.host->K;
    torch::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0) && ctx->needs_input_grad(1)) {  // one gather for both
      std::tie(dx, dw) =
          conv_input_and_weight_grad(w, V * B, stencil.opposite_columns(dy), x, {C, V, B});
    } else if (ctx->needs_input_grad(0)) {
      dx = conv_gemm(transposed_weight(w), V * B, stencil.opposite_columns(dy), {}, 0, {C, V, B});
    } else if (ctx->needs_input_grad(1)) {
      dw = conv_weight_grad(dy, C * K, stencil.columns(x), 0, w.sizes());
    }
    if (ctx->needs_input_grad(2)) db = bias_grad(dy);
    return {dx, dw, db, torch::Tensor()};
  }
};

// The conv conditioners' layer. Its parameters are named, shaped and initialised as
// torch::nn::ConvNd's (weight (C_out, C, k, ..., k), bias; Kaiming-uniform), so model files
// and seeds mean what they meant with ConvNd.
class PeriodicConvImpl : public torch::nn::Cloneable<PeriodicConvImpl> {
 public:
  PeriodicConvImpl(int dims, std::int64_t in, std::int64_t out, std::int64_t kernel,
                   std::int64_t L)
      : dims_(dims), in_(in), out_(out), kernel_(kernel), L_(L) {
    reset();
  }
  void reset() override {
    std::vector<std::int64_t> shape{out_, in_};
    for (int mu = 0; mu < dims_; ++mu) shape.push_back(kernel_);
    weight = register_parameter("weight", torch::empty(shape));
    bias = register_parameter("bias", torch::empty({out_}));
    const auto& host = periodic_stencil(L_, dims_, kernel_);
    stencil_ = StencilOnDevice{&host, host.neighbours, host.opposite};
    torch::NoGradGuard no_grad;
    torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
    const double bound = 1.0 / std::sqrt(double(weight.numel() / out_));
    torch::nn::init::uniform_(bias, -bound, bound);
  }
  /// x (C, V, B) -> (C_out, V, B).
  torch::Tensor forward(const torch::Tensor& x) {
    const auto& st = stencil(x.device());
    if (!torch::GradMode::is_enabled())  // sampling: no autograd node to build
      return conv_gemm(weight, x.size(1) * x.size(2), st.columns(x), bias, 0,
                       {out_, x.size(1), x.size(2)});
    return PeriodicConvFunction::apply(x, weight, bias, &st);
  }
  /// The neighbour tables on `device` (copied there once).
  const StencilOnDevice& stencil(const torch::Device& device) {
    stencil_.to(device);
    return stencil_;
  }
  torch::Tensor weight, bias;

 private:
  int dims_;
  std::int64_t in_, out_, kernel_, L_;
  StencilOnDevice stencil_;
};
TORCH_MODULE(PeriodicConv);

// The fused affine coupling's elementwise part runs on the host as one hand-written pass
// (affine_tail_host below); set_host_coupling_loops(false) routes it through the LibTorch ops
// that other devices run.
std::atomic<bool> host_coupling_loops{true};
bool use_host_loops(const torch::Tensor& x) {
  return host_coupling_loops.load(std::memory_order_relaxed) && x.device().is_cpu() &&
         (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64);
}

// A conv net's pass (periodic convolutions, LeakyReLU between them, optional final tanh) on
// x (C, V, B); with save, what its backward needs: per layer its input and its output (the
// backward gathers the input's columns again, piece by piece).
torch::Tensor conv_net_apply(const torch::Tensor& x, torch::TensorList weights,
                             torch::TensorList biases, const StencilOnDevice& stencil, double slope,
                             bool final_tanh, std::vector<torch::Tensor>* save) {
  const std::int64_t V = x.size(1), B = x.size(2), n = std::int64_t(weights.size());
  torch::Tensor h = x;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& w = weights[std::size_t(i)];
    auto z = conv_gemm(w, V * B, stencil.columns(h), biases[std::size_t(i)], 0, {w.size(0), V, B});
    // in place: z is the product's own fresh tensor (no autograd records inside the node)
    if (i + 1 < n)
      torch::leaky_relu_(z, slope);
    else if (final_tanh)
      z.tanh_();
    if (save != nullptr) save->push_back(h);
    h = z;
    if (save != nullptr) save->push_back(h);
  }
  return h;
}

// Its backward: g, the gradient of the output; saved = (input, output) per layer as
// conv_net_apply left them. Fills dw and db; returns the input gradient when need_dx (else
// undefined).
torch::Tensor conv_net_backward(torch::Tensor g, const std::vector<torch::Tensor>& saved,
                                std::size_t first_saved, torch::TensorList weights,
                                const StencilOnDevice& stencil, double slope, bool final_tanh,
                                bool need_dx, std::vector<torch::Tensor>& dw,
                                std::vector<torch::Tensor>& db) {
  const std::size_t n = weights.size();
  dw.assign(n, torch::Tensor());
  db.assign(n, torch::Tensor());
  for (std::size_t i = n; i-- > 0;) {
    const auto &in = saved[first_saved + 2 * i], &h = saved[first_saved + 2 * i + 1];
    const auto& w = weights[i];
    const std::int64_t C = w.size(1), V = h.size(1), B = h.size(2);
    const std::int64_t K = stencil.host->K;
    if (i + 1 < n) g = torch::leaky_relu_backward(g, h, slope, /*self_is_result=*/true);
    else if (final_tanh) g = torch::tanh_backward(g, h);
    // g (Co, V, B) throughout: the products take and give these layouts (no reshapes)
    db[i] = bias_grad(g);
    if (i > 0 || need_dx)  // one gather of g for both gradients
      std::tie(g, dw[i]) =
          conv_input_and_weight_grad(w, V * B, stencil.opposite_columns(g), in, {C, V, B});
    else
      dw[i] = conv_weight_grad(g, C * K, stencil.columns(in), 0, w.sizes());
  }
  return need_dx ? g : torch::Tensor();
}

// A whole conv conditioner as one autograd node with a hand-written backward: ~3 nodes fewer
// per layer, which on the tutorial's tiny lattices is a fixed cost per training step (it does
// not shrink with the batch per rank). Same arithmetic as the layers applied one by one
// (test_flows_layers).
class PeriodicConvNetFunction : public torch::autograd::Function<PeriodicConvNetFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               torch::TensorList weights, torch::TensorList biases,
                               const StencilOnDevice* stencil, double slope, bool final_tanh) {
    std::vector<torch::Tensor> save;
    const auto h = conv_net_apply(x, weights, biases, *stencil, slope, final_tanh, &save);
    for (const auto& w : weights) save.push_back(w);
    save.push_back(stencil->opposite);
    ctx->save_for_backward(save);
    ctx->saved_data["stencil"] = address(stencil->host);
    ctx->saved_data["slope"] = slope;
    ctx->saved_data["final_tanh"] = final_tanh;
    return h;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const std::size_t n = (saved.size() - 1) / 3;
    const std::vector<torch::Tensor> weights(saved.begin() + std::ptrdiff_t(2 * n),
                                             saved.begin() + std::ptrdiff_t(3 * n));
    std::vector<torch::Tensor> dw, db;
    const auto stencil =
        StencilOnDevice::in_backward(stencil_at(ctx->saved_data["stencil"]), saved.back());
    const auto dx =
        conv_net_backward(grads[0], saved, 0, weights, stencil, ctx->saved_data["slope"].toDouble(),
                          ctx->saved_data["final_tanh"].toBool(), ctx->needs_input_grad(0), dw, db);
    torch::autograd::variable_list out{dx};
    out.insert(out.end(), dw.begin(), dw.end());
    out.insert(out.end(), db.begin(), db.end());
    out.resize(out.size() + 3);  // stencil, slope, final_tanh
    return out;
  }
};

// The affine coupling's elementwise part on the host as one pass over the sites, in place of
// ~10 LibTorch ops (on 8 x 8 x batch elements: dispatch and allocation, a fixed cost per
// training step with the conv nets' own ops). Same arithmetic, operation by operation, as the
// ops kept for other devices, but for the order of the log-det site sum.
// x, frozen = m x, t, e (e^s, or e^{-s} reversed): (V, B) contiguous; s the same; m, a (V).
// Writes u = x e (forward) or (x - t) e (reverse), y = frozen + a (u + t) or frozen + a u, and
// log det = +- sum_v a s per column, plus ld_in (the log det of the layers before) where given.
template <typename T>
void affine_tail_host(const T* __restrict x, const T* __restrict f, const T* __restrict s,
                      const T* __restrict t, const T* __restrict e, const T* __restrict a,
                      std::int64_t V, std::int64_t B, bool reverse, T* __restrict u,
                      T* __restrict y, T* __restrict ld, const T* __restrict ld_in) {
  std::fill(ld, ld + B, T(0));
  for (std::int64_t v = 0; v < V; ++v) {
    const T av = a[v];
    const std::int64_t o = v * B;
    if (!reverse)
      for (std::int64_t b = 0; b < B; ++b) {
        const T uu = x[o + b] * e[o + b];
        u[o + b] = uu;
        y[o + b] = f[o + b] + av * (uu + t[o + b]);
        ld[b] += av * s[o + b];
      }
    else
      for (std::int64_t b = 0; b < B; ++b) {
        const T uu = (x[o + b] - t[o + b]) * e[o + b];
        u[o + b] = uu;
        y[o + b] = f[o + b] + av * uu;
        ld[b] += av * s[o + b];
      }
  }
  if (reverse)
    for (std::int64_t b = 0; b < B; ++b) ld[b] = -ld[b];
  if (ld_in != nullptr)
    for (std::int64_t b = 0; b < B; ++b) ld[b] = ld_in[b] + ld[b];
}

// Its backward: gy (V, B), gl (B) the gradients of y and log det; e, u as saved. Writes
// gx = gy m + gy a e (the part through the conditioner is added later) and g (2, V, B) = the
// gradients of s and t.
template <typename T>
void affine_tail_backward_host(const T* __restrict gy, const T* __restrict gl,
                               const T* __restrict e, const T* __restrict u, const T* __restrict m,
                               const T* __restrict a, std::int64_t V, std::int64_t B, bool reverse,
                               T* __restrict gx, T* __restrict gs, T* __restrict gt) {
  for (std::int64_t v = 0; v < V; ++v) {
    const T mv = m[v], av = a[v], nav = -av;
    const std::int64_t o = v * B;
    if (!reverse)
      for (std::int64_t b = 0; b < B; ++b) {
        const T ga = gy[o + b] * av;
        gx[o + b] = gy[o + b] * mv + ga * e[o + b];
        gs[o + b] = ga * u[o + b] + av * gl[b];
        gt[o + b] = ga;
      }
    else
      for (std::int64_t b = 0; b < B; ++b) {
        const T ga = gy[o + b] * av;
        gx[o + b] = gy[o + b] * mv + ga * e[o + b];
        gs[o + b] = -(ga * u[o + b]) + nav * gl[b];
        gt[o + b] = -(ga * e[o + b]);
      }
  }
}

// x (V, B) times m (V, 1): on the host (float32/float64, contiguous) one loop, else x * m.
torch::Tensor masked_rows(const torch::Tensor& x, const torch::Tensor& m) {
  if (!use_host_loops(x) || m.scalar_type() != x.scalar_type() || !m.device().is_cpu())
    return x * m;
  const auto mc = m.contiguous();
  auto out = torch::empty_like(x);
  const std::int64_t V = x.size(0), B = x.size(1);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "masked_rows", [&] {
    const auto* src = x.data_ptr<scalar_t>();
    const auto* mv = mc.data_ptr<scalar_t>();
    auto* dst = out.data_ptr<scalar_t>();
    for (std::int64_t v = 0; v < V; ++v)
      for (std::int64_t b = 0; b < B; ++b) dst[v * B + b] = src[v * B + b] * mv[v];
  });
  return out;
}

// A whole affine coupling with a conv conditioner (no Z2 symmetrisation) as one autograd node:
// x (V, B) site-major -> (y (V, B), log det (B)) with
//   forward (z -> phi):  y = m x + a (x e^s + t),      log det =  sum_v a s,
//   reverse (phi -> z):  y = m x + a (x - t) e^{-s},   log det = -sum_v a s,
// (s, t) = net(m x), a = 1 - m. The composition of ~12 autograd nodes (mask, layout copies,
// channel selects, exp, addcmul, site sum) and their backward nodes becomes one: on the
// tutorial's 8 x 8 lattices the autograd bookkeeping of those nodes was a fixed cost per
// training step that did not shrink with the batch per rank. Same arithmetic as the unfused
// composition but for the order of the site sum (test_flows_layers checks values and every
// gradient against it).
class AffineConvCouplingFunction
    : public torch::autograd::Function<AffineConvCouplingFunction> {
 public:
  // Saved for the backward pass: xt, e, u, m, a, the opposite table; then the conv net's
  // weights; then conv_net_apply's saved tensors.
  static constexpr std::size_t kFixedSaved = 6;
  struct Pass {
    torch::Tensor y, logdet, xt, e, u;  // u: x e^s (forward) or (x - t) e^{-s} (reverse)
    std::vector<torch::Tensor> net;    // conv_net_apply's saved tensors
  };

  // logdet_in: the log det of the layers before, added to this one's (undefined: none), so a
  // stack of couplings needs no add node per layer.
  static Pass compute(const torch::Tensor& xt, const torch::Tensor& logdet_in,
                      torch::TensorList weights, torch::TensorList biases,
                      const StencilOnDevice& stencil, const torch::Tensor& m,
                      const torch::Tensor& a, double slope, bool final_tanh, bool reverse,
                      bool save) {
    Pass p;
    p.xt = xt.contiguous();  // (V, B)
    const auto frozen = masked_rows(p.xt, m);
    const auto out = conv_net_apply(frozen.unsqueeze(0), weights, biases, stencil, slope,
                                    final_tanh, save ? &p.net : nullptr)
                         .contiguous();  // (2, V, B)
    const auto s = out.select(0, 0), t = out.select(0, 1);
    if (use_host_loops(p.xt)) {
      p.e = torch::exp(reverse ? -s : s);
      p.u = torch::empty_like(p.xt);
      p.y = torch::empty_like(p.xt);
      p.logdet = torch::empty({p.xt.size(1)}, p.xt.options());
      const auto ac = a.contiguous();
      const auto ldc = logdet_in.defined() ? logdet_in.contiguous() : logdet_in;
      AT_DISPATCH_FLOATING_TYPES(p.xt.scalar_type(), "affine_tail_host", [&] {
        affine_tail_host<scalar_t>(
            p.xt.data_ptr<scalar_t>(), frozen.data_ptr<scalar_t>(), s.data_ptr<scalar_t>(),
            t.data_ptr<scalar_t>(), p.e.data_ptr<scalar_t>(), ac.data_ptr<scalar_t>(), p.xt.size(0),
            p.xt.size(1), reverse, p.u.data_ptr<scalar_t>(), p.y.data_ptr<scalar_t>(),
            p.logdet.data_ptr<scalar_t>(), ldc.defined() ? ldc.data_ptr<scalar_t>() : nullptr);
      });
    } else if (!reverse) {
      p.e = torch::exp(s);
      p.u = p.xt * p.e;
      p.y = torch::addcmul(frozen, a, p.u + t);
      p.logdet = (a * s).sum(0);
    } else {
      p.e = torch::exp(-s);
      p.u = (p.xt - t) * p.e;
      p.y = torch::addcmul(frozen, a, p.u);
      p.logdet = -(a * s).sum(0);
    }
    if (logdet_in.defined() && !use_host_loops(p.xt)) p.logdet = logdet_in + p.logdet;
    return p;
  }

  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& xt,
                                                const torch::Tensor& logdet_in,
                                                torch::TensorList weights, torch::TensorList biases,
                                                const StencilOnDevice* stencil,
                                                const torch::Tensor& m, const torch::Tensor& a,
                                                double slope, bool final_tanh, bool reverse) {
    auto p =
        compute(xt, logdet_in, weights, biases, *stencil, m, a, slope, final_tanh, reverse, true);
    std::vector<torch::Tensor> save{p.xt, p.e, p.u, m, a, stencil->opposite};  // kFixedSaved
    save.insert(save.end(), weights.begin(), weights.end());
    save.insert(save.end(), p.net.begin(), p.net.end());
    ctx->save_for_backward(save);
    ctx->saved_data["slope"] = slope;
    ctx->saved_data["final_tanh"] = final_tanh;
    ctx->saved_data["reverse"] = reverse;
    ctx->saved_data["layers"] = std::int64_t(weights.size());
    ctx->saved_data["stencil"] = address(stencil->host);
    return {p.y, p.logdet};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &e = saved[1], &u = saved[2], &m = saved[3], &a = saved[4];
    const auto stencil =
        StencilOnDevice::in_backward(stencil_at(ctx->saved_data["stencil"]), saved[5]);
    const auto n = std::size_t(ctx->saved_data["layers"].toInt());
    const std::vector<torch::Tensor> weights(saved.begin() + kFixedSaved,
                                             saved.begin() + kFixedSaved + std::ptrdiff_t(n));
    const bool reverse = ctx->saved_data["reverse"].toBool();
    // (the engine materialises the gradient of an unused output as zeros)
    const auto gyt = grads[0].contiguous();  // (V, B)
    const auto gld = grads[1].contiguous();
    torch::Tensor gx, gst;  // d y / d x along the diagonal; d y / d (s, t), (2, V, B)
    if (use_host_loops(gyt)) {
      gx = torch::empty_like(gyt);
      gst = torch::empty({2, gyt.size(0), gyt.size(1)}, gyt.options());
      const auto mc = m.contiguous(), ac = a.contiguous();
      AT_DISPATCH_FLOATING_TYPES(gyt.scalar_type(), "affine_tail_backward_host", [&] {
        affine_tail_backward_host<scalar_t>(
            gyt.data_ptr<scalar_t>(), gld.data_ptr<scalar_t>(), e.data_ptr<scalar_t>(),
            u.data_ptr<scalar_t>(), mc.data_ptr<scalar_t>(), ac.data_ptr<scalar_t>(), gyt.size(0),
            gyt.size(1), reverse, gx.data_ptr<scalar_t>(), gst.data_ptr<scalar_t>(),
            gst.data_ptr<scalar_t>() + gyt.numel());
      });
    } else {
      const auto ga = gyt * a;  // gradient of the active part before the mask
      // d y / d x along the diagonal: m + a e (both directions); d y / d s and d y / d t
      gx = torch::addcmul(gyt * m, ga, e);
      torch::Tensor gs, gt;
      if (!reverse) {
        gs = ga * u;
        gt = ga;
      } else {
        gs = -(ga * u);
        gt = -(ga * e);
      }
      gs = torch::addcmul(gs, reverse ? -a : a, gld.unsqueeze(0));
      gst = torch::stack({gs, gt});
    }
    std::vector<torch::Tensor> dw, db;
    const auto gfrozen = conv_net_backward(gst, saved, kFixedSaved + n, weights, stencil,
                                           ctx->saved_data["slope"].toDouble(),
                                           ctx->saved_data["final_tanh"].toBool(),
                                           /*need_dx=*/true, dw, db);
    gx.addcmul_(m, gfrozen.select(0, 0));
    // log det out = logdet_in + this layer's: logdet_in's gradient is the output's
    torch::autograd::variable_list out{gx, ctx->needs_input_grad(1) ? grads[1] : torch::Tensor()};
    out.insert(out.end(), dw.begin(), dw.end());
    out.insert(out.end(), db.begin(), db.end());
    out.resize(out.size() + 6);  // stencil, m, a, slope, final_tanh, reverse
    return out;
  }
};

}  // namespace

void set_host_coupling_loops(bool on) { host_coupling_loops.store(on); }

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
      net->push_back(PeriodicConv(shape.dims, a, b, o.kernel, shape.L));
    if (i + 2 < sizes.size())
      net->push_back(torch::nn::LeakyReLU());
    else if (o.final_tanh)
      net->push_back(torch::nn::Tanh());
  }
  if (o.identity_init) zero_final_layer(net);
  return net;
}

void zero_final_layer(torch::nn::Sequential& net) {
  const auto children = net->children();
  for (auto it = children.rbegin(); it != children.rend(); ++it) {
    const auto params = (*it)->parameters(/*recurse=*/true);
    if (params.empty()) continue;
    torch::NoGradGuard no_grad;
    for (auto p : params) p.zero_();
    return;
  }
  throw runtime_error("zero_final_layer: the conditioner has no parameters");
}

namespace {
// The parts of a conv conditioner made by make_conditioner.
struct ConvNet {
  std::vector<torch::Tensor> weights, biases;
  PeriodicConvImpl* first = nullptr;
  double slope = 0.01;
  bool final_tanh = false;
};
ConvNet conv_net_parts(torch::nn::Sequential& net) {
  ConvNet c;
  for (const auto& child : net->children()) {
    if (auto* conv = dynamic_cast<PeriodicConvImpl*>(child.get())) {
      if (c.first == nullptr) c.first = conv;
      c.weights.push_back(conv->weight);
      c.biases.push_back(conv->bias);
      c.final_tanh = false;
    } else if (auto* leaky = dynamic_cast<torch::nn::LeakyReLUImpl*>(child.get())) {
      c.slope = leaky->options.negative_slope();
    } else if (dynamic_cast<torch::nn::TanhImpl*>(child.get())) {
      c.final_tanh = true;
    }
  }
  if (c.first == nullptr) throw runtime_error("not a conv conditioner");
  return c;
}
}  // namespace

torch::Tensor conv_conditioner_forward(torch::nn::Sequential& net, const torch::Tensor& x) {
  const auto c = conv_net_parts(net);
  const auto& st = c.first->stencil(x.device());
  if (!torch::GradMode::is_enabled())  // no node to build
    return conv_net_apply(x, c.weights, c.biases, st, c.slope, c.final_tanh, nullptr);
  return PeriodicConvNetFunction::apply(x, torch::TensorList(c.weights),
                                        torch::TensorList(c.biases), &st, c.slope, c.final_tanh);
}

std::pair<torch::Tensor, torch::Tensor> affine_conv_coupling_site_major(
    torch::nn::Sequential& net, const torch::Tensor& mask, const torch::Tensor& active,
    const torch::Tensor& xt, bool reverse, const torch::Tensor& logdet_in) {
  const auto c = conv_net_parts(net);
  const auto& st = c.first->stencil(xt.device());
  const auto m = mask.reshape({-1, 1}), a = active.reshape({-1, 1});
  if (!torch::GradMode::is_enabled()) {
    auto p = AffineConvCouplingFunction::compute(xt, logdet_in, c.weights, c.biases, st, m, a,
                                                 c.slope, c.final_tanh, reverse, /*save=*/false);
    return {p.y, p.logdet};
  }
  // (an autograd node takes no undefined tensor: zeros for "no layers before")
  const auto ld_in = logdet_in.defined() ? logdet_in : torch::zeros({xt.size(1)}, xt.options());
  const auto out = AffineConvCouplingFunction::apply(xt, ld_in, torch::TensorList(c.weights),
                                                     torch::TensorList(c.biases), &st, m, a,
                                                     c.slope, c.final_tanh, reverse);
  return {out[0], out[1]};
}

torch::Tensor to_site_major(const torch::Tensor& x) {
  return x.reshape({x.size(0), -1}).t().contiguous();
}

torch::Tensor from_site_major(const torch::Tensor& xt, const LatticeShape& shape) {
  return xt.t().reshape(shape.batch(xt.size(1)));
}

std::pair<torch::Tensor, torch::Tensor> affine_conv_coupling(torch::nn::Sequential& net,
                                                             const torch::Tensor& mask,
                                                             const torch::Tensor& active,
                                                             const torch::Tensor& x, bool reverse) {
  const auto [yt, logdet] =
      affine_conv_coupling_site_major(net, mask, active, to_site_major(x), reverse);
  return {yt.t().reshape(x.sizes()), logdet};
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
  if (net_kind_ == "conv") {  // the site-major layout (C, V, B) of the periodic convolutions
    const auto out = conv_conditioner_forward(net_, frozen.reshape({B, -1}).t().unsqueeze(0));
    auto shape = shape_.batch(B);
    shape.insert(shape.begin() + 1, out_channels_);
    return out.permute({2, 0, 1}).reshape(shape);
  }
  auto out = net_->forward(frozen.reshape({B, -1}));
  auto shape = shape_.batch(B);
  shape.insert(shape.begin() + 1, out_channels_);
  return out.reshape(shape);
}

AffineCoupling::AffineCoupling(const LatticeShape& shape, int parity, const ConditionerOptions& o,
                               bool z2)
    : CouplingLayer(shape, parity, o, 2), z2_(z2) {}

std::pair<torch::Tensor, torch::Tensor> AffineCoupling::site_major(const torch::Tensor& xt,
                                                                   bool reverse,
                                                                   const torch::Tensor& logdet_in) {
  if (!fused()) throw runtime_error("AffineCoupling::site_major: not a fused conv coupling");
  return affine_conv_coupling_site_major(net_, mask(xt), active_mask(xt), xt, reverse, logdet_in);
}

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
  if (fused()) return affine_conv_coupling(net_, mask(z), active_mask(z), z, /*reverse=*/false);
  const auto m = mask(z), active = active_mask(z);
  const auto frozen = m * z;
  const auto [s, t] = shift_scale(frozen);
  // phi = m z + (1 - m)(z e^s + t), written with as few autograd nodes as possible
  const auto phi = torch::addcmul(frozen, active, torch::addcmul(t, z, torch::exp(s)));
  return {phi, sum_sites(active * s)};
}

std::pair<torch::Tensor, torch::Tensor> AffineCoupling::reverse(const torch::Tensor& phi) {
  if (fused())
    return affine_conv_coupling(net_, mask(phi), active_mask(phi), phi, /*reverse=*/true);
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
  if (o.identity_init) {
    // The final layer is zero (make_conditioner): equal bins. The interior knot derivatives
    // are min_d + softplus(u); a bias u = log(e^(1 - min_d) - 1) makes them 1, and a spline
    // with equal bins and unit slopes is the identity. The outputs are channel-major: conv
    // biases one per channel, dense ones per (channel, site); through a final tanh, atanh(u).
    const double unit = spline_unit_derivative_parameter();
    const double u = o.final_tanh ? std::atanh(unit) : unit;
    torch::Tensor bias;
    for (const auto& child : net_->children())
      for (const auto& p : child->named_parameters(/*recurse=*/false))
        if (p.key() == "bias") bias = p.value();
    const std::int64_t per_channel = net_kind_ == "conv" ? 1 : shape.volume();
    torch::NoGradGuard no_grad;
    bias.narrow(0, 2 * bins * per_channel, (bins - 1) * per_channel).fill_(u);
  }
}

const torch::Tensor& SplineCoupling::active_sites(const torch::Tensor& like) const {
  if (!active_sites_.defined() || active_sites_.device() != like.device())
    active_sites_ = (mask_.reshape({-1}) == 0).nonzero().reshape({-1}).to(like.device());
  return active_sites_;
}

std::pair<torch::Tensor, torch::Tensor> SplineCoupling::apply(const torch::Tensor& x,
                                                              bool inverse) {
  // The spline (its knots, bin search and rational map: ~60 ops) runs on the active sites
  // only, half the lattice. The frozen sites keep x, the log det has zeros there: the same
  // numbers, bit for bit, as computing everywhere and masking (m x + (1 - m) y, sum (1 - m) ld).
  const std::int64_t B = x.size(0);
  const auto& a = active_sites(x);
  const auto params = condition(mask(x) * x)
                          .reshape({B, out_channels_, -1})
                          .index_select(2, a)
                          .transpose(1, 2);  // (B, V / 2, 3K - 1)
  const auto w = params.narrow(-1, 0, bins_), h = params.narrow(-1, bins_, bins_);
  const auto d = params.narrow(-1, 2 * bins_, bins_ - 1);
  const auto xf = x.reshape({B, -1});
  const auto [y, logdet] =
      rational_quadratic_spline(xf.index_select(1, a), w, h, d, bound_, inverse);
  return {xf.index_copy(1, a, y).view(x.sizes()),
          torch::zeros_like(xf).index_copy(1, a, logdet).sum(1)};
}

std::pair<torch::Tensor, torch::Tensor> SplineCoupling::forward(const torch::Tensor& z) {
  return apply(z, false);
}

std::pair<torch::Tensor, torch::Tensor> SplineCoupling::reverse(const torch::Tensor& phi) {
  return apply(phi, true);
}

}  // namespace phyflow::flows
