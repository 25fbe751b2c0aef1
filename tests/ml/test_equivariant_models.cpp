// Equivariance of the scalar models (ml/models/scalar_mlp.hpp), numerically: random O(5)
// elements, O(3) rotations and reflections, Lorentz boosts and rotations applied to the inputs
// change the (untrained, random) models' outputs as theory says, to floating-point accuracy;
// the plain MLP baseline on raw inputs fails the same test. Bad input (data of another kind,
// wrong vector dimension, options that do not fit the data) is an input error.
#include "phyflow/core/error.hpp"
#include "phyflow/ml/equivariant_data.hpp"
#include "phyflow/ml/model_registry.hpp"
#include "phyflow/ml/models/pendulum_dynamics.hpp"
#include "phyflow/ml/models/scalar_mlp.hpp"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <random>

using namespace phyflow;
using namespace phyflow::ml;
namespace eq = phyflow::ml::equivariant;

namespace {

DataShape shape_of(const std::string& kind) {
  const auto k = eq::kind_from_name(kind, "test");
  return DataShape{DataLayout::regression, {eq::x_columns(k)}, {eq::y_columns(k)}, kind};
}

ModelPtr model(const std::string& model_kind, const std::string& data, nlohmann::json options = {}) {
  torch::manual_seed(3);
  if (options.is_null()) options = nlohmann::json::object();
  options["layers"] = 2;
  options["width"] = 32;
  auto m = make_model(model_kind, options, shape_of(data));
  m->to(torch::kFloat64);
  return m;
}

/// Batch of b samples of the data kind (inputs from the generators).
torch::Tensor inputs(const std::string& kind, int b) {
  const auto k = eq::kind_from_name(kind, "test");
  const int c = eq::x_columns(k);
  auto x = torch::empty({b, c}, torch::kFloat64);
  for (int i = 0; i < b; ++i) eq::draw_inputs(k, 17, std::uint64_t(i), x[i].data_ptr<double>());
  return x;
}

torch::Tensor predict(Model& m, const torch::Tensor& x) {
  torch::NoGradGuard g;
  Batch b;
  b.x = x;
  b.y = torch::zeros({x.size(0), m.data_shape().y[0]}, torch::kFloat64);
  for (std::int64_t i = 0; i < x.size(0); ++i) b.index.push_back(i);
  return m.predict(b);
}

/// A random orthogonal d x d matrix (QR of a Gaussian matrix, signs fixed so it is Haar), with
/// determinant -1 when `reflect`.
torch::Tensor orthogonal(int d, bool reflect, std::uint64_t seed) {
  torch::manual_seed(seed);
  auto qr = at::linalg_qr(torch::randn({d, d}, torch::kFloat64));
  auto q = std::get<0>(qr) * torch::sign(torch::diagonal(std::get<1>(qr))).unsqueeze(0);
  if ((torch::det(q).item<double>() < 0) != reflect) q.select(1, 0).neg_();
  return q;
}

/// A Lorentz transformation: rotation R (3x3) after a boost of rapidity `phi` along unit n.
torch::Tensor lorentz(double phi, std::uint64_t seed) {
  auto n = torch::randn({3}, torch::kFloat64);
  n = n / n.norm();
  auto l = torch::eye(4, torch::kFloat64);
  l[0][0] = std::cosh(phi);
  l.narrow(0, 1, 3).select(1, 0).copy_(std::sinh(phi) * n);
  l.select(0, 0).narrow(0, 1, 3).copy_(std::sinh(phi) * n);
  l.narrow(0, 1, 3).narrow(1, 1, 3).add_((std::cosh(phi) - 1) * torch::outer(n, n));
  auto rot = torch::eye(4, torch::kFloat64);
  rot.narrow(0, 1, 3).narrow(1, 1, 3).copy_(orthogonal(3, false, seed));
  return torch::matmul(rot, l);
}

/// x (B, groups * width) with the `dim` columns starting at `offset` of each group multiplied by g.
torch::Tensor act(const torch::Tensor& x, const torch::Tensor& g, int groups, int width, int offset) {
  auto v = x.clone().view({x.size(0), groups, width});
  const int d = int(g.size(0));
  auto part = v.narrow(2, offset, d);
  part.copy_(torch::matmul(part, g.transpose(0, 1)));
  return v.view({x.size(0), groups * width});
}

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / (b.abs().max() + 1e-300)).item<double>();
}

}  // namespace

TEST(ScalarMlp, O5OutputIsInvariantAndTheBaselineIsNot) {
  auto x = inputs("o5", 64);
  auto s = model("scalar_mlp", "o5"), base = model("mlp", "o5");
  for (bool reflect : {false, true}) {
    const auto g = orthogonal(5, reflect, 5 + reflect);
    const auto gx = act(x, g, 2, 5, 0);
    EXPECT_LT(rel(predict(*s, gx), predict(*s, x)), 1e-12);
    EXPECT_GT(rel(predict(*base, gx), predict(*base, x)), 1e-3) << "the baseline is invariant?";
  }
}

TEST(ScalarMlp, LorentzOutputIsInvariantUnderBoostsAndRotations) {
  auto x = inputs("lorentz", 64);
  auto s = model("scalar_mlp", "lorentz"), base = model("mlp", "lorentz");
  EXPECT_EQ(s->options()["metric"], "minkowski");
  for (double phi : {0.3, 1.0}) {
    const auto g = lorentz(phi, 9);
    // g preserves eta: g^T eta g = eta.
    const auto eta = torch::diag(torch::tensor({1.0, -1.0, -1.0, -1.0}, torch::kFloat64));
    ASSERT_LT((torch::matmul(torch::matmul(g.t(), eta), g) - eta).abs().max().item<double>(), 1e-12);
    const auto gx = act(x, g, 4, 4, 0);
    EXPECT_LT(rel(predict(*s, gx), predict(*s, x)), 1e-10 * std::cosh(phi) * std::cosh(phi)) << phi;
    EXPECT_GT(rel(predict(*base, gx), predict(*base, x)), 1e-3);
  }
  // With the Euclidean metric the model is only invariant under rotations, not boosts.
  auto e = model("scalar_mlp", "lorentz", {{"metric", "euclidean"}});
  const auto gx = act(x, lorentz(1.0, 9), 4, 4, 0);
  EXPECT_GT(rel(predict(*e, gx), predict(*e, x)), 1e-3);
}

TEST(ScalarMlp, InertiaOutputIsEquivariantAndPermutationInvariant) {
  auto x = inputs("inertia", 64);
  for (bool perm : {false, true}) {
    auto s = model("scalar_mlp", "inertia", {{"permutation_invariant", perm}});
    const auto t = predict(*s, x).view({-1, 3, 3});
    // The prediction is a symmetric tensor.
    EXPECT_LT(rel(t, t.transpose(1, 2)), 1e-15);
    for (bool reflect : {false, true}) {
      const auto r = orthogonal(3, reflect, 7 + reflect);
      const auto rt = predict(*s, act(x, r, 5, 4, 1)).view({-1, 3, 3});
      EXPECT_LT(rel(rt, torch::matmul(torch::matmul(r, t), r.t())), 1e-12) << perm << reflect;
    }
    // Swapping particles 0 and 3 (all four columns of each).
    auto swapped = x.clone().view({-1, 5, 4});
    swapped = swapped.index_select(1, torch::tensor({3, 1, 2, 0, 4}, torch::kLong)).reshape({-1, 20});
    const double d = rel(predict(*s, swapped).view({-1, 3, 3}), t);
    if (perm) EXPECT_LT(d, 1e-13);
    else EXPECT_GT(d, 1e-4) << "without weight sharing the model should see the particle order";
  }
  auto base = model("mlp", "inertia");
  const auto r = orthogonal(3, false, 7);
  const auto t = predict(*base, x).view({-1, 3, 3});
  const auto rt = predict(*base, act(x, r, 5, 4, 1)).view({-1, 3, 3});
  EXPECT_GT(rel(rt, torch::matmul(torch::matmul(r, t), r.t())), 1e-3);
}

TEST(ScalarMlp, TheTrueFunctionsAreInItsFunctionClass) {
  // The inertia tensor is sum_i m_i(|r_i|^2 I - r_i r_i^T): f_ii = -m_i, f_0 = sum m_i |r_i|^2.
  // Checked on the features: the model's scalars reproduce the target through that formula.
  auto x = inputs("inertia", 8);
  auto m = std::dynamic_pointer_cast<ScalarMlp>(model("scalar_mlp", "inertia"));
  ASSERT_TRUE(m);
  const auto s = m->scalars(x);  // m (5), then <r_i, r_j> for i <= j (15)
  ASSERT_EQ(s.size(1), 20);
  for (int b = 0; b < 8; ++b) {
    double y[9];
    eq::inertia_target(x[b].data_ptr<double>(), y);
    double trace = 0, expect = 0;
    for (int a = 0; a < 3; ++a) trace += y[4 * a];
    // trace I = 2 sum m_i |r_i|^2; the diagonal inner products are at triu positions 0,5,9,12,14.
    const int diag[5] = {0, 5, 9, 12, 14};
    for (int i = 0; i < 5; ++i) expect += 2 * s[b][i].item<double>() * s[b][5 + diag[i]].item<double>();
    EXPECT_NEAR(trace, expect, 1e-12 * (1 + std::abs(trace)));
  }
  // O(5): <x1,x1>, <x1,x2>, <x2,x2> determine the target.
  auto xo = inputs("o5", 4);
  auto mo = std::dynamic_pointer_cast<ScalarMlp>(model("scalar_mlp", "o5"));
  const auto so = mo->scalars(xo);
  for (int b = 0; b < 4; ++b) {
    const double a = so[b][0].item<double>(), c = so[b][1].item<double>(), d = so[b][2].item<double>();
    const double f = std::sin(std::sqrt(a)) - 0.5 * std::pow(d, 1.5) + c / std::sqrt(a * d);
    EXPECT_NEAR(f, eq::o5_target(xo[b].data_ptr<double>()), 1e-12);
  }
}

TEST(ScalarMlp, BadInputIsAnInputError) {
  auto msg = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      EXPECT_EQ(int(e.code()), 2);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // A plain /x, /y file (no dataset_kind).
  EXPECT_NE(msg([] { make_model("scalar_mlp", {}, DataShape{DataLayout::regression, {10}, {1}, ""}); })
                .find("workflow: dataset"),
            std::string::npos);
  // Wrong vector dimension: an o5 file with 12 columns.
  EXPECT_NE(msg([] { make_model("scalar_mlp", {}, DataShape{DataLayout::regression, {12}, {1}, "o5"}); })
                .find("2 vectors of dimension 5"),
            std::string::npos);
  // Pendulum data is not for scalar_mlp; Minkowski on R^5; permutations on o5.
  EXPECT_NE(msg([] { make_model("scalar_mlp", {}, shape_of("pendulum")); }).find("pendulum"), std::string::npos);
  EXPECT_NE(msg([] { make_model("scalar_mlp", {{"metric", "minkowski"}}, shape_of("o5")); }).find("4-vectors"),
            std::string::npos);
  EXPECT_NE(msg([] { make_model("scalar_mlp", {{"permutation_invariant", true}}, shape_of("lorentz")); })
                .find("permutation_invariant"),
            std::string::npos);
  // Ising data.
  EXPECT_NE(msg([] { make_model("scalar_mlp", {}, DataShape{DataLayout::ising, {4, 4}, {}, ""}); }), "no error");
}

// ---- pendulum: Hamiltonian network and Neural ODE ------------------------------------------------

namespace {
std::shared_ptr<PendulumModel> pendulum_model(bool hnn, int substeps = 4,
                                              const std::string& activation = "tanh", int layers = 2) {
  torch::manual_seed(5);
  auto m = make_model(hnn ? "hnn" : "neural_ode",
                      {{"layers", layers}, {"width", 16}, {"substeps", substeps}, {"activation", activation}},
                      DataShape{DataLayout::regression, {12}, {48}, "pendulum"});
  m->to(torch::kFloat64);
  return std::dynamic_pointer_cast<PendulumModel>(m);
}
torch::Tensor pendulum_states(int b) {
  auto z = torch::empty({b, 12}, torch::kFloat64);
  for (int i = 0; i < b; ++i) eq::pendulum_initial(3, std::uint64_t(i), z[i].data_ptr<double>());
  return z;
}
/// Rotation about the gravity axis (angle a) and, when `reflect`, the reflection y -> -y.
torch::Tensor about_z(double a, bool reflect) {
  auto r = torch::eye(3, torch::kFloat64);
  r[0][0] = std::cos(a), r[0][1] = -std::sin(a), r[1][0] = std::sin(a), r[1][1] = std::cos(a);
  if (reflect) r.select(1, 1).neg_();
  return r;
}
}  // namespace

TEST(PendulumModels, HnnFieldIsTheSymplecticGradientOfH) {
  auto m = pendulum_model(true);
  const auto z = pendulum_states(4);
  torch::NoGradGuard off;
  const auto f = m->field(z);
  const double h = 1e-6;
  for (int i = 0; i < 12; ++i) {
    auto zp = z.clone(), zm = z.clone();
    zp.select(1, i).add_(h), zm.select(1, i).sub_(h);
    const auto dh = (m->hamiltonian(zp) - m->hamiltonian(zm)) / (2 * h);
    const auto expect = i < 6 ? -f.select(1, i + 6) : f.select(1, i - 6);
    EXPECT_LT((dh - expect).abs().max().item<double>(), 1e-7) << i;
  }
}

// The HNN's field is dH/dz written out as tensor operations (not autograd's double backward):
// against autograd's gradient of H, for every activation and depth.
TEST(PendulumModels, HnnFieldEqualsAutogradsGradientOfH) {
  const auto z = pendulum_states(6) * 1.7;  // pre-activations of both signs, beyond +-1
  for (const std::string act : {"tanh", "softplus", "silu", "relu"})
    for (int layers : {0, 1, 2, 3}) {
      auto m = pendulum_model(true, 4, act, layers);
      auto zz = z.clone().requires_grad_(true);
      const auto g = torch::autograd::grad({m->hamiltonian(zz).sum()}, {zz})[0];
      const auto expect = torch::cat({g.narrow(1, 6, 6), -g.narrow(1, 0, 6)}, 1);
      torch::NoGradGuard off;
      EXPECT_LT(rel(m->field(z), expect), 1e-13) << act << " " << layers;
    }
}

TEST(PendulumModels, LossGradientsMatchFiniteDifferences) {
  for (const auto& [hnn, act] : {std::pair{true, "tanh"}, {true, "softplus"}, {true, "silu"}, {false, "tanh"}}) {
    auto m = pendulum_model(hnn, 1, act);
    Batch b;
    b.x = pendulum_states(3);
    b.y = torch::randn({3, 48}, torch::kFloat64) * 0.1 + b.x.repeat({1, 4});
    b.index = {0, 1, 2};
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    m->loss(b).backward();  // through RK4 and, for the HNN, through dH/dz (double backward)
    torch::NoGradGuard off;
    for (const auto& named : m->named_parameters()) {
      auto p = named.value();
      auto flat = p.view({-1});
      for (std::int64_t k : {std::int64_t(0), flat.numel() / 2, flat.numel() - 1}) {
        const double v = flat[k].item<double>(), e = 1e-6;
        flat[k] = v + e;
        const double lp = m->loss(b).item<double>();
        flat[k] = v - e;
        const double lm = m->loss(b).item<double>();
        flat[k] = v;
        // The HNN's output bias does not enter dH/dz: no gradient (the reducer treats it as 0).
        const double fd = (lp - lm) / (2 * e),
                     g = p.grad().defined() ? p.grad().view({-1})[k].item<double>() : 0.0;
        EXPECT_NEAR(g, fd, 1e-6 * (1 + std::abs(fd))) << (hnn ? "hnn " : "ode ") << act << " " << named.key() << "[" << k << "]";
      }
    }
  }
}

TEST(PendulumModels, HnnRolloutConservesItsEnergy) {
  auto m = pendulum_model(true, 8);
  torch::NoGradGuard off;
  const auto z0 = pendulum_states(4);
  const auto traj = m->rollout(z0, 150);  // 30 s at dt = 0.2
  const auto e0 = m->hamiltonian(z0);
  double drift = 0;
  for (int k = 0; k < 150; ++k)
    drift = std::max(drift, (m->hamiltonian(traj.select(1, k)) - e0).abs().max().item<double>());
  EXPECT_LT(drift, 1e-6 * (1 + e0.abs().max().item<double>()));
  EXPECT_GT((traj.select(1, 149) - z0).abs().max().item<double>(), 1e-3);  // it moved
}

TEST(PendulumModels, DynamicsAreEquivariantUnderRotationsAboutGravity) {
  for (bool hnn : {true, false}) {
    auto m = pendulum_model(hnn);
    torch::NoGradGuard off;
    const auto z = pendulum_states(8);
    for (bool reflect : {false, true}) {
      const auto r = about_z(0.9, reflect);
      const auto rz = torch::matmul(z.view({8, 4, 3}), r.t()).reshape({8, 12});
      const auto f = m->field(z), rf = m->field(rz);
      EXPECT_LT(rel(rf, torch::matmul(f.view({8, 4, 3}), r.t()).reshape({8, 12})), 1e-12) << hnn;
    }
  }
  EXPECT_THROW(make_model("hnn", {}, shape_of("o5")), Error);
  EXPECT_THROW(make_model("hnn", {}, DataShape{DataLayout::regression, {12}, {50}, "pendulum"}), Error);
}
