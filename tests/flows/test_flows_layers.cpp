// The flows' building blocks on tiny lattices in float64: every bijector inverts exactly and
// its log|det J| equals the log-determinant of the autograd Jacobian; the spline is monotone,
// hits its boundaries and is the identity outside [-B, B]; the batched action equals the serial
// reference; the priors are the distributions they claim; flows survive their model file.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "../io/io_test_support.hpp"
#include "phyflow/flows/action.hpp"
#include "phyflow/flows/coupling.hpp"
#include "phyflow/flows/flow.hpp"
#include "phyflow/flows/prior.hpp"
#include "phyflow/io/output_file.hpp"
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

FlowConfig tiny(int dims, int L, const std::string& coupling, const std::string& net,
                bool z2 = false) {
  FlowConfig c;
  c.shape = {dims, L};
  c.coupling = coupling;
  c.layers = 4;
  c.net.net = net;
  c.net.hidden = {6, 5};
  c.net.final_tanh = coupling == "affine";
  c.z2 = z2;
  c.bins = 5;
  c.bound = 2.5;
  c.dtype = "float64";
  return c;
}

void check_bijection(const FlowConfig& c) {
  SCOPED_TRACE(c.to_json().dump());
  torch::manual_seed(3);
  Flow flow(c);
  // Affine layers: larger initial weights than torch's default, so that they are far from
  // the identity (splines are far from it already; steeper ones make the check ill-conditioned).
  if (c.coupling == "affine") {
    torch::NoGradGuard ng;
    for (auto& p : flow.parameters()) p.mul_(3.0);
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
  check_bijection(tiny(1, 6, "affine", "conv"));
  check_bijection(tiny(2, 4, "affine", "conv"));
  check_bijection(tiny(3, 2, "affine", "conv"));
}

TEST(FlowLayers, AffineDenseAnyDimension) {
  for (int d = 1; d <= 4; ++d) check_bijection(tiny(d, d == 1 ? 5 : 2, "affine", "dense"));
}

TEST(FlowLayers, SplineInvertsWithExactLogDet) {
  check_bijection(tiny(1, 6, "spline", "conv"));
  check_bijection(tiny(2, 4, "spline", "conv"));
  check_bijection(tiny(2, 2, "spline", "dense"));
}

TEST(FlowLayers, Z2EquivariantAffineIsOdd) {
  const auto c = tiny(2, 4, "affine", "conv", true);
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

TEST(FlowAction, MatchesSerialReferenceInEveryDimension) {
  torch::manual_seed(2);
  for (int d = 1; d <= 4; ++d) {
    const int L = d <= 2 ? 5 : 3;
    const LatticeShape s{d, L};
    const lattice::Phi4Couplings c{-1.3, 0.7};
    const auto phi = torch::randn(s.batch(3), torch::kFloat64).requires_grad_(true);
    const auto S = phi4_action(phi, d, c);
    const auto grad = torch::autograd::grad({S.sum()}, {phi})[0];
    for (int b = 0; b < 3; ++b) {
      const auto pb = phi[b].detach().contiguous();
      EXPECT_NEAR(S[b].item<double>(), lattice::phi4_action(pb.data_ptr<double>(), d, L, c),
                  1e-11 * std::abs(S[b].item<double>()) + 1e-12);
      std::vector<double> g(static_cast<std::size_t>(s.volume()));
      lattice::phi4_action_gradient(pb.data_ptr<double>(), d, L, c, g.data());
      const auto gb = grad[b].contiguous();
      for (std::size_t x = 0; x < g.size(); ++x) EXPECT_NEAR(gb.data_ptr<double>()[x], g[x], 1e-11);
    }
  }
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
  const auto z = prior->sample(0, 5, 3, 4, 0, torch::kFloat64);
  const auto zf = z.reshape({5, V});
  const auto expect = -0.5 * (zf.matmul(P) * zf).sum(1) +
                      0.5 * std::get<1>(torch::linalg_slogdet(P)) -
                      0.5 * double(V) * std::log(2 * M_PI);
  EXPECT_LT((prior->log_prob(z) - expect).abs().max().item<double>(), 1e-10);
  // <phi^2> of 4000 samples against the exact free-field value (independent samples).
  const auto many = prior->sample(0, 4000, 5, 6, 0, torch::kFloat64);
  const auto per = (many * many).reshape({4000, -1}).mean(1);
  const double mean = per.mean().item<double>(), err = per.std().item<double>() / std::sqrt(4000.0);
  EXPECT_NEAR(mean, lattice::free_field_phi2(2, 4, m2), 4 * err);
}

TEST(FlowFile, RoundTripsThroughTheModelFile) {
  io::testing::TempDir dir;
  const std::string path = dir.path() + "/flow.h5";
  auto c = tiny(2, 4, "spline", "conv");
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

}  // namespace
}  // namespace phyflow::flows
