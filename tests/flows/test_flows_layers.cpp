// The flows' building blocks on tiny lattices in float64: every bijector inverts exactly and
// its log|det J| equals the log-determinant of the autograd Jacobian; the spline is monotone,
// hits its boundaries and is the identity outside [-B, B]; the batched action equals the serial
// reference; the priors are the distributions they claim; flows survive their model file.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "../io/io_test_support.hpp"
#include "flow_test_configs.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/flows/action.hpp"
#include "phyflow/flows/conv_gemm.hpp"
#include "phyflow/flows/coupling.hpp"
#include "phyflow/flows/flow.hpp"
#include "phyflow/flows/prior.hpp"
#include "phyflow/flows/rg_flow.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/lattice/exact_ising.hpp"
#include "phyflow/lattice/phi4_action.hpp"

namespace phyflow::flows {
namespace {

/// d phi / d z of one configuration (V x V) by autograd, row by row.
torch::Tensor jacobian(const std::function<torch::Tensor(const torch::Tensor&)>& f,
                       const torch::Tensor& z) {
  auto x = z.detach().clone().requires_grad_(true);
  const auto y = f(x).reshape({-1});
  const auto V = y.size(0);
  auto J = torch::zeros({V, V}, torch::kFloat64);
  for (std::int64_t i = 0; i < V; ++i) {
    auto g = torch::autograd::grad({y[i]}, {x}, {}, /*retain_graph=*/true, false, true)[0];
    if (g.defined()) J[i] = g.reshape({-1});
  }
  return J;
}

using testing::tiny_flow;

void check_bijection(const FlowConfig& c, double weight_scale = 3.0) {
  SCOPED_TRACE(c.to_json().dump());
  torch::manual_seed(3);
  Flow flow(c);
  // Affine layers: larger initial weights than torch's default, so that they are far from
  // the identity (splines are far from it already; steeper ones make the check ill-conditioned).
  if (c.coupling == "affine") {
    torch::NoGradGuard ng;
    for (auto& p : flow.parameters()) p.mul_(weight_scale);
  }
  const auto z = 1.5 * torch::randn(c.shape.batch(3), torch::kFloat64);
  const auto [phi, logdet] = flow.forward(z);
  const auto [back, logdet_rev] = flow.reverse(phi);
  EXPECT_LT((back - z).abs().max().item<double>(), 1e-10);
  EXPECT_LT((logdet + logdet_rev).abs().max().item<double>(), 1e-10);
  EXPECT_GT((phi - z).abs().max().item<double>(), 1e-2) << "the flow is the identity: no test";
  for (int b = 0; b < 3; ++b) {
    const auto zb = z.narrow(0, b, 1);
    const auto J = jacobian([&](const torch::Tensor& x) { return flow.forward(x).first; }, zb);
    const auto sl = torch::linalg_slogdet(J);
    EXPECT_NEAR(std::get<1>(sl).item<double>(), logdet[b].item<double>(), 1e-9);
    const auto Jr = jacobian([&](const torch::Tensor& x) { return flow.reverse(x).first; },
                             phi.narrow(0, b, 1).detach());
    EXPECT_NEAR(std::get<1>(torch::linalg_slogdet(Jr)).item<double>(), logdet_rev[b].item<double>(),
                1e-9);
  }
}

TEST(FlowLayers, AffineConvInvertsWithExactLogDet) {
  check_bijection(tiny_flow(1, 6, "affine", "conv"));
  check_bijection(tiny_flow(2, 4, "affine", "conv"));
  check_bijection(tiny_flow(3, 2, "affine", "conv"));
}

// The conv conditioner's periodic convolution (own layout and backward) against LibTorch's circular
// padding + convolution with the same weights: outputs, input gradients and parameter
// gradients, d = 1, 2, 3, kernels 3 and 5. The last case, the tutorial's 8 x 8 with hidden
// [8, 8] at batch 40, is large enough for the host GEMMs to go in pieces of columns (conv_gemm,
// conv_weight_grad: 8 x 72 by 72 x 2560).
TEST(FlowLayers, PeriodicConvMatchesLibTorchCircularPadding) {
  struct Case {
    int dims, L;
    std::int64_t kernel;
    std::vector<std::int64_t> hidden;
    std::int64_t batch;
  };
  struct Restore {
    ~Restore() { set_direct_blas(true); }
  } restore;
  // direct = false: LibTorch's products, the path of other devices
  for (const bool direct : {true, false})
    for (const Case& k :
         {Case{1, 6, 3, {4, 3}, 3}, Case{1, 4, 5, {4, 3}, 3}, Case{2, 4, 3, {4, 3}, 3},
          Case{2, 5, 5, {4, 3}, 3}, Case{3, 3, 3, {4, 3}, 3}, Case{2, 8, 3, {8, 8}, 40}}) {
      set_direct_blas(direct);
      SCOPED_TRACE("d = " + std::to_string(k.dims) + ", L = " + std::to_string(k.L) + ", kernel " +
                   std::to_string(k.kernel) + ", batch " + std::to_string(k.batch) +
                   (direct ? ", BLAS direct" : ", LibTorch products"));
      torch::manual_seed(11);
      ConditionerOptions o;
      o.hidden = k.hidden;
      o.kernel = k.kernel;
      const LatticeShape shape{k.dims, k.L};
      auto net = make_conditioner(shape, o, 2);
      net->to(torch::kFloat64);
      auto x =
          torch::randn(shape.batch(k.batch), torch::kFloat64).unsqueeze(1).requires_grad_(true);
      // the conditioner's layout: (C, V, B)
      auto site_major = [&](const torch::Tensor& t) {
        return t.reshape({t.size(0), t.size(1), -1}).permute({1, 2, 0});
      };
      const auto y = net->forward(site_major(x));

      // reference: the same parameters through torch's own circular padding
      std::vector<torch::Tensor> w, b;
      for (const auto& p : net->named_parameters())
        (p.key().find("weight") != std::string::npos ? w : b).push_back(p.value());
      ASSERT_EQ(w.size(), 3u);
      auto xr = x.detach().clone().requires_grad_(true);
      torch::Tensor h = xr;
      const auto pad = k.kernel / 2;
      const std::vector<std::int64_t> pads(std::size_t(2 * k.dims), pad),
          ones(std::size_t(k.dims), 1), zeros(std::size_t(k.dims), 0);
      for (std::size_t i = 0; i < w.size(); ++i) {
        h = torch::nn::functional::pad(
            h, torch::nn::functional::PadFuncOptions(pads).mode(torch::kCircular));
        h = at::convolution(h, w[i], b[i], ones, zeros, ones, false, zeros, 1);
        h = i + 1 < w.size() ? torch::leaky_relu(h, 0.01) : torch::tanh(h);
      }
      EXPECT_LT((y - site_major(h)).abs().max().item<double>(), 1e-13);
      // a random cotangent: gradients of <c, y> w.r.t. x and every parameter
      const auto c = torch::randn_like(y);
      std::vector<torch::Tensor> mine_in{x}, ref_in{xr};
      mine_in.insert(mine_in.end(), w.begin(), w.end());
      mine_in.insert(mine_in.end(), b.begin(), b.end());
      ref_in.insert(ref_in.end(), w.begin(), w.end());
      ref_in.insert(ref_in.end(), b.begin(), b.end());
      const auto g = torch::autograd::grad({(c * y).sum()}, mine_in);
      const auto gr = torch::autograd::grad({(c * site_major(h)).sum()}, ref_in);
      for (std::size_t i = 0; i < g.size(); ++i) {
        ASSERT_TRUE(g[i].defined());
        EXPECT_GT(gr[i].abs().max().item<double>(), 1e-3);
        EXPECT_LT((g[i] - gr[i]).abs().max().item<double>(), 1e-12) << "gradient " << i;
      }
      // the fused conditioner (one autograd node, what the coupling layers call)
      const auto yf = conv_conditioner_forward(net, site_major(x));
      EXPECT_LT((yf - y).abs().max().item<double>(), 1e-15);
      const auto gf = torch::autograd::grad({(c * yf).sum()}, mine_in);
      for (std::size_t i = 0; i < gf.size(); ++i) {
        ASSERT_TRUE(gf[i].defined());
        EXPECT_LT((gf[i] - gr[i]).abs().max().item<double>(), 1e-12) << "fused, gradient " << i;
      }
      // without autograd (the sampler's path) the same numbers
      torch::NoGradGuard ng;
      EXPECT_LT((net->forward(site_major(x)) - y).abs().max().item<double>(), 1e-15);
    }
}

// The host GEMMs in pieces of columns (conv_gemm.hpp) against one product, with and without
// a bias, for the library's piece length, short pieces, a ragged last piece and one product:
// equal to float32 rounding (which kernel OpenBLAS picks for a piece's shape decides the last
// bit: the SkylakeX small-matrix kernel sums in another order than the packed one) and the
// same bits on every call. The library's own choice splits the tutorial layer at batch 32
// (8 x 72 by 72 x 2048) and keeps the weight gradient of a 16 -> 16 layer (pieces under 512
// columns) in one product.
TEST(FlowLayers, ConvGemmPiecesEqualOneProduct) {
  torch::manual_seed(3);
  const auto w = torch::randn({8, 72}), cols = torch::randn({72, 2048 + 40}), b = torch::randn({8}),
             g = torch::randn({8, 2048 + 40});
  const auto whole = torch::addmm(b.unsqueeze(1), w, cols), whole_nb = w.mm(cols);
  const auto dw_whole = g.mm(cols.t());
  const std::int64_t N = cols.size(1);
  EXPECT_EQ(gemm_piece_columns(cols, 8, 72), 1728);  // 10^6 / 576 = 1736, down to 64s
  const auto close = [](const torch::Tensor& a, const torch::Tensor& ref) {
    return (a - ref).abs().max().item<double>() <= 1e-6 * ref.abs().max().item<double>();
  };
  for (const std::int64_t piece :
       {std::int64_t(0), std::int64_t(64), std::int64_t(700), N, 2 * N}) {
    SCOPED_TRACE("piece " + std::to_string(piece));
    const auto y = conv_gemm(w, cols, b, piece), y_nb = conv_gemm(w, cols, {}, piece);
    EXPECT_TRUE(close(y, whole));
    EXPECT_TRUE(close(y_nb, whole_nb));
    EXPECT_TRUE(torch::equal(conv_gemm(w, cols, b, piece), y));
    const auto dw = conv_weight_grad(g, cols, piece);
    EXPECT_LT((dw - dw_whole).abs().max().item<double>(),
              1e-5 * dw_whole.abs().max().item<double>());
    EXPECT_TRUE(torch::equal(conv_weight_grad(g, cols, piece), dw));
  }
  // Columns whose elements are strided (a transposed view), and float64: the same products.
  const auto strided = cols.t().contiguous().t();
  ASSERT_NE(strided.stride(1), 1);
  EXPECT_TRUE(close(conv_gemm(w, strided, b, 700), whole));
  EXPECT_LT((conv_weight_grad(g, strided, 700) - dw_whole).abs().max().item<double>(),
            1e-5 * dw_whole.abs().max().item<double>());
  const auto wd = w.to(torch::kFloat64), cd = cols.to(torch::kFloat64), bd = b.to(torch::kFloat64);
  const auto yd = torch::addmm(bd.unsqueeze(1), wd, cd);
  EXPECT_LT((conv_gemm(wd, cd, bd, 700) - yd).abs().max().item<double>(),
            1e-12 * yd.abs().max().item<double>());
  // 16 -> 16: pieces of 384 columns, so the weight gradient stays one product (bit for bit).
  const auto w16 = torch::randn({16, 144}), cols16 = torch::randn({144, 4096}),
             g16 = torch::randn({16, 4096});
  EXPECT_EQ(gemm_piece_columns(cols16, 16, 144), 384);
  EXPECT_TRUE(torch::equal(conv_weight_grad(g16, cols16), g16.mm(cols16.t())));
}

// The affine coupling with a conv conditioner is one fused autograd node (affine_conv_coupling,
// what AffineCoupling calls): its values and the gradients of every input and parameter, in
// both directions, against the same coupling composed of autograd ops on the layered
// conditioner (whose gradients the test above checks against LibTorch).
// Both ways of computing its elementwise part: the host loops and the LibTorch ops of other
// devices.
TEST(FlowLayers, FusedAffineConvCouplingMatchesTheComposition) {
  struct Case { int dims, L, parity; };
  struct Restore {
    ~Restore() {
      set_host_coupling_loops(true);
      set_direct_blas(true);
    }
  } restore;
  // loops = false: LibTorch's ops and products throughout, the path of other devices
  for (const bool loops : {true, false})
    for (const Case k : {Case{1, 6, 0}, Case{2, 4, 1}, Case{2, 6, 0}, Case{3, 4, 1}}) {
      for (const bool reverse : {false, true}) {
        set_host_coupling_loops(loops);
        set_direct_blas(loops);
        SCOPED_TRACE("d = " + std::to_string(k.dims) + ", L = " + std::to_string(k.L) +
                     (reverse ? ", reverse" : ", forward") + (loops ? ", host loops" : ", ops"));
        torch::manual_seed(5);
        ConditionerOptions o;
        o.hidden = {4, 3};
        const LatticeShape shape{k.dims, k.L};
        auto net = make_conditioner(shape, o, 2);
        net->to(torch::kFloat64);
        {  // far from the identity
          torch::NoGradGuard ng;
          for (auto& p : net->parameters()) p.mul_(3.0);
        }
        const auto m = checker_mask(shape, k.parity), a = 1.0 - m;
        const std::int64_t B = 3, V = shape.volume();
        const auto x = (1.5 * torch::randn(shape.batch(B), torch::kFloat64)).requires_grad_(true);
        const auto [y, ld] = affine_conv_coupling(net, m, a, x, reverse);

        // the composition: layered conditioner in the site-major layout, then the affine map
        const auto frozen = x * m;
        const auto out = net->forward(frozen.reshape({B, V}).t().unsqueeze(0));  // (2, V, B)
        const auto s = out.select(0, 0).t().reshape(x.sizes()),
                   t = out.select(0, 1).t().reshape(x.sizes());
        const auto yr =
            reverse ? frozen + a * (x - t) * torch::exp(-s) : frozen + a * (x * torch::exp(s) + t);
        const auto ldr = (reverse ? -1.0 : 1.0) * (a * s).reshape({B, V}).sum(1);
        EXPECT_GT((yr - x).abs().max().item<double>(), 0.1) << "the identity: no test";
        EXPECT_LT((y - yr).abs().max().item<double>(), 1e-13);
        EXPECT_LT((ld - ldr).abs().max().item<double>(), 1e-12);

        std::vector<torch::Tensor> inputs{x};
        for (const auto& p : net->parameters()) inputs.push_back(p);
        const auto cy = torch::randn_like(y), cl = torch::randn_like(ld);
        const auto g = torch::autograd::grad({(cy * y).sum() + (cl * ld).sum()}, inputs, {},
                                             /*retain_graph=*/true);
        const auto gr = torch::autograd::grad({(cy * yr).sum() + (cl * ldr).sum()}, inputs, {},
                                              /*retain_graph=*/true);
        for (std::size_t i = 0; i < g.size(); ++i) {
          ASSERT_TRUE(g[i].defined()) << "gradient " << i;
          EXPECT_GT(gr[i].abs().max().item<double>(), 1e-3) << "gradient " << i;
          EXPECT_LT((g[i] - gr[i]).abs().max().item<double>(), 1e-11) << "gradient " << i;
        }
        // with the log det of the layers before (Flow's stack of couplings): added inside the
        // node, its gradient passed through; the sampler's path (no autograd) gives the same
        const auto l0 = torch::randn({B}, torch::kFloat64).requires_grad_(true);
        const auto [yt1, ld1] =
            affine_conv_coupling_site_major(net, m, a, to_site_major(x), reverse, l0);
        EXPECT_LT((ld1 - (l0 + ldr)).abs().max().item<double>(), 1e-12);
        auto inputs1 = inputs;
        inputs1.push_back(l0);
        const auto g1 = torch::autograd::grad(
            {(cy * from_site_major(yt1, shape)).sum() + (cl * ld1).sum()}, inputs1);
        for (std::size_t i = 0; i < g.size(); ++i)
          EXPECT_LT((g1[i] - gr[i]).abs().max().item<double>(), 1e-11) << "gradient " << i;
        EXPECT_TRUE(torch::equal(g1.back(), cl)) << "the gradient of the log det before";
        {
          torch::NoGradGuard ng;
          const auto [yt0, ld10] =
              affine_conv_coupling_site_major(net, m, a, to_site_major(x), reverse, l0);
          EXPECT_TRUE(torch::equal(yt0, yt1));
          EXPECT_TRUE(torch::equal(ld10, ld1));
        }
        // only one of the outputs used: the other's gradient counts as zero
        const auto gy = torch::autograd::grad({(cy * y).sum()}, {x})[0];
        const auto gyr = torch::autograd::grad({(cy * yr).sum()}, {x})[0];
        EXPECT_LT((gy - gyr).abs().max().item<double>(), 1e-11);
        // without autograd (the sampler's path): the same numbers
        torch::NoGradGuard ng;
        const auto [y0, ld0] = affine_conv_coupling(net, m, a, x, reverse);
        EXPECT_TRUE(torch::equal(y0, y));
        EXPECT_TRUE(torch::equal(ld0, ld));
      }
    }
}

// In float32 (the flows' default dtype) the host loops and the LibTorch ops agree to rounding,
// values and gradients, both directions.
TEST(FlowLayers, FusedAffineConvCouplingHostLoopsInFloat32) {
  struct Restore {
    ~Restore() { set_host_coupling_loops(true); }
  } restore;
  const LatticeShape shape{2, 6};
  for (const bool reverse : {false, true}) {
    SCOPED_TRACE(reverse ? "reverse" : "forward");
    torch::manual_seed(7);
    ConditionerOptions o;
    o.hidden = {5, 4};
    auto net = make_conditioner(shape, o, 2);
    const auto m = checker_mask(shape, 0).to(torch::kFloat32), a = 1.0 - m;
    const auto x = torch::randn(shape.batch(9)).requires_grad_(true);
    std::vector<torch::Tensor> inputs{x};
    for (const auto& p : net->parameters()) inputs.push_back(p);
    std::vector<torch::Tensor> results[2];
    for (const bool loops : {true, false}) {
      set_host_coupling_loops(loops);
      const auto [y, ld] = affine_conv_coupling(net, m, a, x, reverse);
      torch::manual_seed(8);
      const auto cy = torch::randn_like(y), cl = torch::randn_like(ld);
      auto& r = results[loops ? 0 : 1];
      r = torch::autograd::grad({(cy * y).sum() + (cl * ld).sum()}, inputs);
      r.push_back(y.detach());
      r.push_back(ld.detach());
    }
    for (std::size_t i = 0; i < results[0].size(); ++i) {
      const auto scale = results[1][i].abs().max().item<double>();
      EXPECT_GT(scale, 1e-3) << i;
      EXPECT_LT((results[0][i] - results[1][i]).abs().max().item<double>(), 1e-5 * scale) << i;
    }
  }
}

TEST(FlowLayers, AffineDenseAnyDimension) {
  for (int d = 1; d <= 4; ++d) check_bijection(tiny_flow(d, d == 1 ? 5 : 2, "affine", "dense"));
}

TEST(FlowLayers, SplineInvertsWithExactLogDet) {
  check_bijection(tiny_flow(1, 6, "spline", "conv"));
  check_bijection(tiny_flow(2, 4, "spline", "conv"));
  check_bijection(tiny_flow(2, 2, "spline", "dense"));
}

TEST(FlowLayers, SplineCouplingOnActiveSitesIsTheMaskedLatticeBitForBit) {
  // SplineCoupling runs its spline on the active half of the checkerboard only. Reference: the
  // spline on every site, then masked, y = m x + (1 - m) spline(x), log det = sum (1 - m) ld,
  // with the conditioner's outputs taken from the layer's own net. The same bits forward and
  // reverse, in the float32 of the decks and in float64, and the same gradients of the
  // parameters and of the input.
  for (const std::string net : {"conv", "dense"})
    for (const auto dtype : {torch::kFloat32, torch::kFloat64})
      for (const int parity : {0, 1}) {
        SCOPED_TRACE(net + (dtype == torch::kFloat32 ? " float32" : " float64") + " parity " +
                     std::to_string(parity));
        const LatticeShape shape{2, 4};
        ConditionerOptions o;
        o.net = net;
        o.hidden = {6, 5};
        o.final_tanh = false;
        const std::int64_t K = 5, B = 7;
        torch::manual_seed(11);
        SplineCoupling layer(shape, parity, o, K, 2.5);
        layer.to(dtype);
        auto seq = torch::nn::Sequential(
            std::dynamic_pointer_cast<torch::nn::SequentialImpl>(layer.named_children()["net"]));
        const auto m = checker_mask(shape, parity).to(dtype).reshape({1, -1});
        const auto x = 1.5 * torch::randn(shape.batch(B), dtype);
        for (const bool inverse : {false, true}) {
          SCOPED_TRACE(inverse ? "reverse" : "forward");
          auto reference = [&](const torch::Tensor& xin) {
            const auto xf = xin.reshape({B, -1});
            const auto frozen = m * xf;
            const auto out =
                net == "conv"
                    ? conv_conditioner_forward(seq, frozen.t().unsqueeze(0)).permute({2, 0, 1})
                    : seq->forward(frozen).reshape({B, 3 * K - 1, -1});
            const auto p = out.reshape({B, 3 * K - 1, -1}).movedim(1, -1);  // (B, V, 3K - 1)
            const auto [y, ld] =
                rational_quadratic_spline(xf, p.narrow(-1, 0, K), p.narrow(-1, K, K),
                                          p.narrow(-1, 2 * K, K - 1), 2.5, inverse);
            return std::make_pair((m * xf + (1 - m) * y).reshape(x.sizes()), ((1 - m) * ld).sum(1));
          };
          // The gradients of every parameter and of the input (what earlier layers receive).
          auto grads = [&](const torch::Tensor& xin, const torch::Tensor& y,
                           const torch::Tensor& ld) {
            layer.zero_grad();
            ((y * y).sum() + ld.sum()).backward();
            std::vector<torch::Tensor> g;
            for (const auto& q : layer.parameters()) g.push_back(q.grad().clone());
            g.push_back(xin.grad().clone());
            return g;
          };
          const auto xa = x.clone().requires_grad_(true), xb = x.clone().requires_grad_(true);
          const auto [y, ld] = inverse ? layer.reverse(xa) : layer.forward(xa);
          const auto gy = grads(xa, y, ld);
          const auto [ry, rld] = reference(xb);
          const auto gr = grads(xb, ry, rld);
          EXPECT_TRUE(torch::equal(y, ry));
          EXPECT_TRUE(torch::equal(ld, rld));
          EXPECT_GT((y - x).abs().max().item<double>(), 1e-2) << "the identity: no test";
          ASSERT_EQ(gy.size(), gr.size());
          for (std::size_t k = 0; k < gy.size(); ++k) EXPECT_TRUE(torch::equal(gy[k], gr[k])) << k;
        }
      }
}

TEST(FlowLayers, Z2EquivariantAffineIsOdd) {
  const auto c = tiny_flow(2, 4, "affine", "conv", true);
  check_bijection(c);
  torch::manual_seed(5);
  Flow flow(c);
  const auto z = torch::randn(c.shape.batch(4), torch::kFloat64);
  const auto [a, la] = flow.forward(z);
  const auto [b, lb] = flow.forward(-z);
  EXPECT_LT((a + b).abs().max().item<double>(), 1e-12);
  EXPECT_LT((la - lb).abs().max().item<double>(), 1e-12);
  // Without z2 the same flow is not odd (the test can fail).
  auto c2 = c;
  c2.z2 = false;
  Flow plain(c2);
  EXPECT_GT((plain.forward(z).first + plain.forward(-z).first).abs().max().item<double>(), 1e-4);
}

FlowConfig mera(int dims, int L, std::int64_t disentanglers = 1,
                const std::string& coupling = "affine") {
  auto c = tiny_flow(dims, L, coupling, "dense");
  c.hierarchy = "mera";
  c.disentanglers = disentanglers;
  c.layers = 2;
  c.net.hidden = {6};
  return c;
}

TEST(FlowLayers, MeraHierarchyInvertsWithExactLogDet) {
  // Torch's initialisation already moves every site (tens of couplings in a row: larger weights
  // would make the Jacobian too ill-conditioned for a 1e-9 check).
  check_bijection(mera(1, 8), 1.0);
  check_bijection(mera(2, 4), 1.0);
  check_bijection(mera(2, 8, 2), 1.0);
  check_bijection(mera(3, 2), 1.0);
  // Spline blocks (the 1.5-scaled inputs reach past the bound: identity tails included).
  auto spline = mera(2, 4, 1, "spline");
  spline.bins = 4;
  spline.bound = 3.0;
  check_bijection(spline);
  check_bijection(mera(1, 8, 2, "spline"));
}

// model.identity_init: every kind of coupling starts as the identity (phi = z, log det 0 both
// ways; exact for affine couplings, to float32 rounding of one bias for splines) and can still
// learn: the loss has a gradient on the zeroed final layers. The default initialisation is far
// from the identity (so the check can fail).
TEST(FlowLayers, IdentityInitStartsAtTheIdentityAndLearns) {
  std::vector<FlowConfig> configs{tiny_flow(2, 4, "affine", "conv"),
                                  tiny_flow(3, 2, "affine", "dense"),
                                  tiny_flow(2, 4, "affine", "conv", /*z2=*/true),
                                  tiny_flow(1, 6, "spline", "conv"),
                                  tiny_flow(2, 4, "spline", "conv"),
                                  tiny_flow(2, 2, "spline", "dense"),
                                  tiny_flow(2, 4, "spline", "conv"),
                                  mera(2, 4),
                                  mera(1, 8, 2),
                                  mera(2, 4, 1, "spline")};
  configs[6].net.final_tanh = true;  // a spline whose conditioner ends in tanh
  for (auto c : configs) {
    SCOPED_TRACE(c.to_json().dump());
    torch::manual_seed(11);
    const auto z = 1.5 * torch::randn(c.shape.batch(5), torch::kFloat64);
    {
      Flow plain(c);
      EXPECT_GT((plain.forward(z).first - z).abs().max().item<double>(), 1e-3);
    }
    c.net.identity_init = true;
    Flow flow(c);
    // Exact for affine couplings (zeros); the spline's unit-slope bias is set before the flow
    // is cast to float64, so it is 1 to float32 rounding (1e-9 in phi, 1e-8 in log det here).
    const double tol = c.coupling == "spline" ? 1e-7 : 1e-12;
    const auto [phi, logdet] = flow.forward(z);
    EXPECT_LT((phi - z).abs().max().item<double>(), tol);
    EXPECT_LT(logdet.abs().max().item<double>(), tol);
    const auto [back, logdet_rev] = flow.reverse(z);
    EXPECT_LT((back - z).abs().max().item<double>(), tol);
    EXPECT_LT(logdet_rev.abs().max().item<double>(), tol);
    const auto loss = (phi * phi * phi).sum() - logdet.sum();
    loss.backward();
    double g = 0;
    for (const auto& p : flow.parameters())
      if (p.grad().defined()) g += p.grad().abs().sum().item<double>();
    EXPECT_GT(g, 1e-6) << "no gradient reaches the zeroed layers";
  }
}

TEST(FlowLayers, MeraBlocksTileEveryLevel) {
  // L = 8, d = 2: levels of spacing 4, 2, 1 (coarsest first), each a decimator (blocks at the
  // level's even sites) then a disentangler (blocks shifted by one level site). Every layer's
  // blocks cover the level's sites exactly once; a decimator's block corners are the next
  // coarser level's sites.
  const LatticeShape s{2, 8};
  const auto layers = mera_layers(s, 1, 1, {4});
  ASSERT_EQ(layers.size(), 6u);
  const std::int64_t strides[] = {4, 4, 2, 2, 1, 1};
  for (std::size_t k = 0; k < layers.size(); ++k) {
    const std::int64_t st = strides[k], M = 8 / st;
    const auto sites = layers[k]->sites();
    ASSERT_EQ(sites.size(0) * sites.size(1), M * M) << k;
    auto sorted = std::get<0>(sites.reshape({-1}).sort());
    std::vector<std::int64_t> expect;
    for (std::int64_t i = 0; i < 8; i += st)
      for (std::int64_t j = 0; j < 8; j += st) expect.push_back(i * 8 + j);
    std::sort(expect.begin(), expect.end());
    EXPECT_TRUE(torch::equal(sorted, torch::tensor(expect, torch::kInt64))) << k;
    auto corners = std::get<0>(sites.select(1, 0).sort());
    std::vector<std::int64_t> coarse;
    for (std::int64_t i = 0; i < 8; i += 2 * st)
      for (std::int64_t j = 0; j < 8; j += 2 * st) coarse.push_back(i * 8 + j);
    std::sort(coarse.begin(), coarse.end());
    const bool decimator = k % 2 == 0;
    EXPECT_EQ(torch::equal(corners, torch::tensor(coarse, torch::kInt64)), decimator) << k;
  }
  EXPECT_THROW(mera_layers({2, 6}, 1, 1, {4}), Error);
}

TEST(FlowLayers, Z2MixtureIsEvenAndConsistentWithItsSamples) {
  for (const bool mix : {true, false}) {
    auto c = mera(2, 4);
    c.symmetrize = mix;
    torch::manual_seed(6);
    Flow flow(c);
    const auto [phi, lq] = flow.sample(0, 64, 5, 77, 0);
    // The density a sample is drawn with is the density the flow reports for it.
    EXPECT_LT((flow.log_q(phi) - lq).abs().max().item<double>(), 1e-9);
    const double asym = (flow.log_q(-phi) - flow.log_q(phi)).abs().max().item<double>();
    if (mix) {
      EXPECT_LT(asym, 1e-9);
      // Both signs are drawn: the samples' mean fields are not all of one sign after a flip
      // by the sign of the unsymmetrised flow's output.
      auto plain = c;
      plain.symmetrize = false;
      torch::manual_seed(6);
      Flow f2(plain);
      const auto unsigned_phi = f2.sample(0, 64, 5, 77, 0).first;
      const auto ratio = (phi / unsigned_phi).reshape({64, -1});
      const auto sign = ratio.select(1, 0);
      EXPECT_LT((ratio - sign.unsqueeze(1)).abs().max().item<double>(), 1e-12);
      const double plus = (sign > 0).sum().item<double>();
      EXPECT_GT(plus, 16);
      EXPECT_LT(plus, 48);
    } else {
      EXPECT_GT(asym, 1e-3) << "the plain flow is already even: no test";
    }
  }
}

TEST(IsingHs, ExactBoundsAreThePublishedOnes) {
  // Li & Wang arXiv:1802.02840 (REFERENCES.md): -log Z_x at T_c for L = 4 and 8.
  const double Tc = lattice::ising2d_critical_temperature;
  EXPECT_NEAR(IsingHsTarget({2, 4}, Tc).exact_loss_bound(), -37.3767, 5e-5);
  EXPECT_NEAR(IsingHsTarget({2, 8}, Tc).exact_loss_bound(), -148.6550, 5e-5);
  EXPECT_THROW(IsingHsTarget({2, 4}, 0.0), Error);
}

TEST(IsingHs, TransformIntegratesToTheIsingPartitionFunction) {
  // d = 1, L = 2 (two sites joined by two bonds): integrate exp(-S(x)) over R^2 on a grid and
  // compare with the spin sum sum_s exp(beta sum_<ij> s_i s_j) = 2 e^{2b} + 2 e^{-2b} times the
  // transform's constant; and <E[H|x]>/V under exp(-S) with <H>/V = -tanh(2 b).
  const double T = 1.7, b = 1.0 / T;
  const IsingHsTarget target({1, 2}, T);
  const double h = 0.02, R = 14.0;
  const auto g = torch::arange(-R, R + h / 2, h, torch::kFloat64);
  const auto n = g.size(0);
  const auto x = torch::stack({g.repeat_interleave(n), g.repeat({n})}, 1);  // (n^2, 2)
  const auto S = target.action(x);
  const double smin = S.min().item<double>();
  const auto w = torch::exp(-(S - smin));
  const double log_int = std::log(w.sum().item<double>() * h * h) - smin;
  const double log_z_ising = std::log(2 * std::exp(2 * b) + 2 * std::exp(-2 * b));
  EXPECT_NEAR(log_int, log_z_ising + target.log_z_offset(), 1e-8);
  const auto e = target.ising_energy_per_site(x);
  EXPECT_NEAR((w * e).sum().item<double>() / w.sum().item<double>(), -std::tanh(2 * b), 1e-8);
}

TEST(IsingHs, FieldFromSpinsIsTheConditionalGaussian) {
  // Given s, x ~ N(K s, K): 20 000 draws for one configuration, mean and covariance against K.
  const LatticeShape shape{2, 4};
  const double T = 2.5;
  const IsingHsTarget target(shape, T);
  const std::int64_t N = 20000, V = 16;
  auto spins = torch::ones(shape.batch(N), torch::kInt8);
  spins.select(1, 0).fill_(-1);
  spins.select(2, 3).fill_(-1);
  const auto x = target.field_from_spins(spins, 3, 9).reshape({N, V});
  const auto K = lattice_adjacency(shape) / T + (0.1 + 4.0 / T) * torch::eye(V, torch::kFloat64);
  const auto mean_expected = K.matmul(spins[0].to(torch::kFloat64).reshape({V}));
  const auto mean = x.mean(0);
  const double max_sd = std::sqrt(K.diagonal().max().item<double>());
  EXPECT_LT((mean - mean_expected).abs().max().item<double>(), 5.0 * max_sd / std::sqrt(double(N)));
  const auto d = x - mean;
  const auto cov = d.t().matmul(d) / double(N - 1);
  EXPECT_LT((cov - K).abs().max().item<double>(),
            6.0 * std::sqrt(2.0 / double(N)) * max_sd * max_sd);
  // The noise of configuration n is keyed by n: a prefix gives the same fields.
  const auto few = target.field_from_spins(spins.narrow(0, 0, 10), 3, 9).reshape({10, V});
  EXPECT_TRUE(torch::equal(few, x.narrow(0, 0, 10)));
  EXPECT_FALSE(
      torch::equal(few, target.field_from_spins(spins.narrow(0, 0, 10), 4, 9).reshape({10, V})));
}

TEST(FlowLayers, CheckerMaskMatchesTutorial) {
  // make_checker_mask((4, 4), parity): parity on (even, even) and (odd, odd) sites.
  for (int parity : {0, 1}) {
    const auto m = checker_mask({2, 4}, parity);
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j)
        EXPECT_EQ(m[i][j].item<double>(), (i + j) % 2 == 0 ? parity : 1 - parity);
  }
}

TEST(FlowLayers, SplineMonotoneContinuousWithIdentityTails) {
  torch::manual_seed(11);
  const std::int64_t K = 6, n = 2001;
  const double B = 3.0;
  const auto x = torch::linspace(-B - 1.0, B + 1.0, n, torch::kFloat64);
  // One parameter set shared by all points (a single spline).
  const auto w = (2.0 * torch::randn({1, K}, torch::kFloat64)).expand({n, K});
  const auto h = (2.0 * torch::randn({1, K}, torch::kFloat64)).expand({n, K});
  const auto d = (2.0 * torch::randn({1, K - 1}, torch::kFloat64)).expand({n, K - 1});
  const auto [y, ld] = rational_quadratic_spline(x, w, h, d, B, false);
  EXPECT_GT((y.narrow(0, 1, n - 1) - y.narrow(0, 0, n - 1)).min().item<double>(), 0.0);
  const auto outside = (x.abs() > B);
  EXPECT_EQ(torch::where(outside, (y - x).abs(), torch::zeros_like(x)).max().item<double>(), 0.0);
  EXPECT_EQ(torch::where(outside, ld.abs(), torch::zeros_like(x)).max().item<double>(), 0.0);
  EXPECT_GT((y - x).abs().max().item<double>(), 1e-2);
  // Boundaries: y(+-B) = +-B, slope 1 there (continuous with the tails).
  for (double s : {-1.0, 1.0}) {
    auto xb = torch::full({1}, s * B, torch::kFloat64);
    const auto [yb, lb] = rational_quadratic_spline(xb, w.narrow(0, 0, 1), h.narrow(0, 0, 1),
                                                    d.narrow(0, 0, 1), B, false);
    EXPECT_NEAR(yb.item<double>(), s * B, 1e-12);
    EXPECT_NEAR(lb.item<double>(), 0.0, 1e-9);
    const double eps = 1e-6;
    auto xi = torch::full({1}, s * (B - eps), torch::kFloat64);
    const auto yi = rational_quadratic_spline(xi, w.narrow(0, 0, 1), h.narrow(0, 0, 1),
                                              d.narrow(0, 0, 1), B, false)
                        .first;
    EXPECT_NEAR(yi.item<double>(), s * (B - eps), 1e-9);
  }
  // log|dy/dx| against finite differences, and the inverse.
  const auto [xb, ldi] = rational_quadratic_spline(y, w, h, d, B, true);
  EXPECT_LT((xb - x).abs().max().item<double>(), 1e-9);
  EXPECT_LT((ld + ldi).abs().max().item<double>(), 1e-9);
  const double eps = 1e-6;
  const auto yp = rational_quadratic_spline(x + eps, w, h, d, B, false).first;
  const auto ym = rational_quadratic_spline(x - eps, w, h, d, B, false).first;
  const auto fd = ((yp - ym) / (2 * eps)).log();
  // Central differences straddling a knot see the jump of the second derivative: O(eps).
  EXPECT_LT((fd - ld).abs().max().item<double>(), 1e-4);
}

// The batched action (on the host: the lattice module's serial definition per configuration,
// one autograd node) against the density written out here with LibTorch ops (rolls along
// each axis, autograd for the gradient), in every dimension, float64 and float32; the serial
// definition itself is checked against finite differences and the free field in
// tests/lattice/test_phi4_action.cpp.
TEST(FlowAction, MatchesTheDensityWrittenWithTorchOpsInEveryDimension) {
  torch::manual_seed(2);
  for (const auto dtype : {torch::kFloat64, torch::kFloat32})
    for (int d = 1; d <= 4; ++d) {
      SCOPED_TRACE("d = " + std::to_string(d) +
                   (dtype == torch::kFloat64 ? ", float64" : ", float32"));
      const int L = d <= 2 ? 5 : 3;
      const LatticeShape s{d, L};
      const lattice::Phi4Couplings c{-1.3, 0.7};
      const auto phi = torch::randn(s.batch(3), dtype).requires_grad_(true);
      const auto S = phi4_action(phi, d, c);
      auto density = (2.0 * d + c.m2) * phi * phi + c.lambda * phi.pow(4);
      for (int mu = 1; mu <= d; ++mu) density = density - 2.0 * phi * torch::roll(phi, {-1}, {mu});
      const auto Sr = density.reshape({3, -1}).sum(1);
      const bool f64 = dtype == torch::kFloat64;
      EXPECT_LT((S - Sr).abs().max().item<double>(),
                (f64 ? 1e-11 : 1e-4) * (1 + Sr.abs().max().item<double>()));
      // each configuration's gradient scaled apart
      const auto weight = torch::tensor({0.5, -1.25, 2.0}, dtype);
      const auto g = torch::autograd::grad({(S * weight).sum()}, {phi})[0];
      const auto gr = torch::autograd::grad({(Sr * weight).sum()}, {phi})[0];
      EXPECT_GT(gr.abs().max().item<double>(), 1.0);
      EXPECT_LT((g - gr).abs().max().item<double>(), (f64 ? 1e-11 : 1e-4));
    }
  // A rank's share of a batch may be empty: no configurations, no division by zero.
  const auto none = torch::zeros(LatticeShape{2, 4}.batch(0), torch::kFloat64).requires_grad_(true);
  const auto S0 = phi4_action(none, 2, lattice::Phi4Couplings{-4.0, 8.0});
  EXPECT_EQ(S0.numel(), 0);
  EXPECT_EQ(torch::autograd::grad({S0.sum()}, {none}, {}, false, false, true)[0].numel(), 0);
}

TEST(FlowPrior, NoiseIsKeyedByGlobalIndex) {
  const LatticeShape s{2, 3};
  const auto all = normal_noise(s, 0, 10, 7, 99, 4);
  const auto part = normal_noise(s, 3, 4, 7, 99, 4);
  EXPECT_TRUE(torch::equal(all.narrow(0, 3, 4), part));
  EXPECT_FALSE(torch::equal(all, normal_noise(s, 0, 10, 7, 99, 5)));
  EXPECT_FALSE(torch::equal(all, normal_noise(s, 0, 10, 8, 99, 4)));
  // N(0, 1): mean and variance of 20000 x 9 numbers within 5 sigma.
  const auto big = normal_noise(s, 0, 20000, 1, 2, 0);
  EXPECT_NEAR(big.mean().item<double>(), 0.0, 5.0 / std::sqrt(180000.0));
  EXPECT_NEAR(big.var().item<double>(), 1.0, 5.0 * std::sqrt(2.0 / 180000.0));
}

TEST(FlowPrior, FreeFieldIsTheGaussianOfTheFreeAction) {
  const LatticeShape s{2, 4};
  const double m2 = 0.7;
  const auto prior = make_prior("free_field", s, m2);
  // Precision matrix P = 2A from the reference gradient (dS/dphi = 2 A phi).
  const auto V = s.volume();
  auto P = torch::zeros({V, V}, torch::kFloat64);
  std::vector<double> e(static_cast<std::size_t>(V)), g(static_cast<std::size_t>(V));
  for (std::int64_t i = 0; i < V; ++i) {
    std::fill(e.begin(), e.end(), 0.0);
    e[std::size_t(i)] = 1.0;
    lattice::phi4_action_gradient(e.data(), 2, 4, {m2, 0.0}, g.data());
    for (std::int64_t j = 0; j < V; ++j) P[j][i] = g[std::size_t(j)];
  }
  const auto z = prior->sample(0, 5, 3, 4, 0, torch::kFloat64, torch::kCPU);
  const auto zf = z.reshape({5, V});
  const auto expect = -0.5 * (zf.matmul(P) * zf).sum(1) +
                      0.5 * std::get<1>(torch::linalg_slogdet(P)) -
                      0.5 * double(V) * std::log(2 * M_PI);
  EXPECT_LT((prior->log_prob(z) - expect).abs().max().item<double>(), 1e-10);
  // <phi^2> of 4000 samples against the exact free-field value (independent samples).
  const auto many = prior->sample(0, 4000, 5, 6, 0, torch::kFloat64, torch::kCPU);
  const auto per = (many * many).reshape({4000, -1}).mean(1);
  const double mean = per.mean().item<double>(), err = per.std().item<double>() / std::sqrt(4000.0);
  EXPECT_NEAR(mean, lattice::free_field_phi2(2, 4, m2), 4 * err);
}

TEST(FlowFile, RoundTripsThroughTheModelFile) {
  io::testing::TempDir dir;
  const std::string path = dir.path() + "/flow.h5";
  auto spline_mera = mera(2, 4, 1, "spline");
  spline_mera.bins = 5;
  for (const auto& c : {tiny_flow(2, 4, "spline", "conv"), spline_mera}) {
    SCOPED_TRACE(c.to_json().dump());
    torch::manual_seed(8);
    Flow flow(c);
    {
      auto out = io::OutputFile::create(MPI_COMM_SELF, path, true);
      write_flow(out, "/model", flow);
      out.commit();
    }
    const auto back = read_flow(path);
    EXPECT_EQ(back->config().to_json(), c.to_json());
    const auto z = torch::randn(c.shape.batch(2), torch::kFloat64);
    EXPECT_TRUE(torch::equal(flow.forward(z).first, back->forward(z).first));
  }
}

}  // namespace
}  // namespace phyflow::flows
