// The graph network of the distillation seed and the analysis of its messages: edges and
// aggregation against a written-out loop, permutation equivariance, gradients against finite
// differences, the loss terms (L1, KL) against their formulas, per-sample keyed randomness
// (a sample's augmentation and sampled messages do not depend on its batch), and the robust
// message fit / R^2 against constructed data with a known answer.
#include <gtest/gtest.h>

#include "ml_test_support.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/ml/message_analysis.hpp"
#include "phyflow/ml/model_registry.hpp"
#include "phyflow/ml/models/graph_network.hpp"

#include <torch/torch.h>

#include <random>

namespace {

using namespace phyflow::ml;

DataShape nbody_shape(int n, int d) {
  DataShape s;
  s.layout = DataLayout::nbody;
  s.x = {n, 2 * d + 2};
  s.y = {n, d};
  return s;
}

std::shared_ptr<GraphNetwork> make_gnn(int n, int d, nlohmann::json options) {
  torch::manual_seed(3);
  auto m = std::dynamic_pointer_cast<GraphNetwork>(make_model("gnn", options, nbody_shape(n, d)));
  m->to(torch::kFloat64);
  return m;
}

Batch random_batch(int B, int n, int d, std::int64_t first_index = 0) {
  Batch b;
  b.x = torch::randn({B, n, 2 * d + 2}, torch::kFloat64);
  b.y = torch::randn({B, n, d}, torch::kFloat64);
  for (int i = 0; i < B; ++i) b.index.push_back(first_index + i);
  return b;
}

torch::nn::Sequential submodule(GraphNetwork& m, const std::string& name) {
  for (const auto& item : m.named_children())
    if (item.key() == name)
      return torch::nn::Sequential(std::dynamic_pointer_cast<torch::nn::SequentialImpl>(item.value()));
  throw std::runtime_error("no submodule " + name);
}

TEST(GraphNetwork, SumsEdgeMessagesOverSendersAsWrittenOut) {
  const int n = 4, d = 3;
  auto m = make_gnn(n, d, {{"hidden", 7}, {"msg_dim", 5}});
  EXPECT_EQ(m->message_dim(), 5);
  auto edge = submodule(*m, "edge"), node = submodule(*m, "node");
  torch::manual_seed(4);
  const auto b = random_batch(3, n, d);
  const auto pred = m->predict(b);
  ASSERT_EQ(pred.sizes(), (std::vector<std::int64_t>{3, n, d}));
  EXPECT_EQ(m->messages(b.x).sizes(), (std::vector<std::int64_t>{3, n * (n - 1), 5}));
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < n; ++i) {
      auto sum = torch::zeros({5}, torch::kFloat64);
      for (int j = 0; j < n; ++j)
        if (j != i) sum += edge->forward(torch::cat({b.x[s][i], b.x[s][j]}));
      const auto expected = node->forward(torch::cat({b.x[s][i], sum}));
      EXPECT_TRUE(torch::allclose(pred[s][i], expected, 1e-12, 1e-12)) << "sample " << s << " body " << i;
    }
}

TEST(GraphNetwork, RelabellingBodiesRelabelsAccelerations) {
  const int n = 5, d = 2;
  auto m = make_gnn(n, d, {{"hidden", 16}});
  const auto b = random_batch(2, n, d);
  const auto perm = torch::tensor(std::vector<std::int64_t>{3, 0, 4, 1, 2});
  Batch p = b;
  p.x = b.x.index_select(1, perm);
  EXPECT_TRUE(torch::allclose(m->predict(p), m->predict(b).index_select(1, perm), 1e-12, 1e-12));
  // A model that treated bodies by position in the list would fail: the check has teeth.
  EXPECT_FALSE(torch::allclose(m->predict(p), m->predict(b), 1e-6, 1e-6));
}

TEST(GraphNetwork, GradientsMatchFiniteDifferences) {
  for (const std::string reg : {"standard", "bottleneck", "l1", "kl"}) {
    SCOPED_TRACE(reg);
    const int n = 3, d = 2;
    auto m = make_gnn(n, d, {{"hidden", 6}, {"regularizer", reg}, {"augment", 0.0}});
    m->eval();  // deterministic loss (no sampling)
    const auto b = random_batch(2, n, d);
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    m->loss(b).backward();
    int checked = 0;
    for (auto& p : m->parameters()) {
      auto flat = p.detach().view({-1});
      const auto grad = p.grad().view({-1});
      for (std::int64_t k = 0; k < flat.numel(); k += std::max<std::int64_t>(1, flat.numel() / 3)) {
        const double keep = flat[k].item<double>(), h = 1e-6;
        torch::NoGradGuard guard;
        flat[k] = keep + h;
        const double up = m->loss(b).item<double>();
        flat[k] = keep - h;
        const double down = m->loss(b).item<double>();
        flat[k] = keep;
        EXPECT_NEAR(grad[k].item<double>(), (up - down) / (2 * h), 1e-6);
        ++checked;
      }
    }
    EXPECT_GT(checked, 10);
  }
}

TEST(GraphNetwork, LossTermsFollowTheSeedsFormulas) {
  const int n = 4, d = 2, B = 3;
  const auto b = random_batch(B, n, d);
  const double edges = double(B) * n * (n - 1);
  {
    auto m = make_gnn(n, d, {{"hidden", 6}, {"regularizer", "l1"}, {"l1_weight", 0.3}});
    m->eval();
    const double base = (m->predict(b) - b.y).abs().sum().item<double>() / (B * n);
    const double l1 = m->messages(b.x).abs().sum().item<double>() / edges;
    EXPECT_NEAR(m->loss(b).item<double>(), base + 0.3 * l1, 1e-12);
  }
  {
    auto m = make_gnn(n, d, {{"hidden", 6}, {"regularizer", "kl"}, {"msg_dim", 3}, {"kl_weight", 2.0}});
    m->eval();
    auto edge = submodule(*m, "edge");
    // Raw edge outputs interleave (mu, log sigma^2) per component, as the seed's VarGNN.
    std::vector<torch::Tensor> rows;
    for (int s = 0; s < B; ++s)
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j)
          if (i != j) rows.push_back(edge->forward(torch::cat({b.x[s][i], b.x[s][j]})));
    const auto raw = torch::stack(rows);
    const auto mu = raw.slice(1, 0, 6, 2), logvar = raw.slice(1, 1, 6, 2);
    EXPECT_TRUE(torch::allclose(m->messages(b.x).reshape({-1, 3}), mu, 1e-12, 1e-12));
    const double kl = (0.5 * (mu.square() + logvar.exp() - logvar - 1)).sum().item<double>() / edges;
    const double base = (m->predict(b) - b.y).abs().sum().item<double>() / (B * n);
    EXPECT_NEAR(m->loss(b).item<double>(), base + 2.0 * kl, 1e-12);
  }
}

TEST(GraphNetwork, TrainingRandomnessBelongsToTheSampleNotTheBatch) {
  // The loss is a mean over samples; with augmentation and sampled messages keyed by (seed,
  // sample index, step), the loss of a batch is the mean of its samples' losses alone.
  const int n = 3, d = 2;
  for (const std::string reg : {"standard", "kl"}) {
    SCOPED_TRACE(reg);
    auto m = make_gnn(n, d, {{"hidden", 6}, {"regularizer", reg}, {"augment", 3.0}});
    m->train();
    auto b = random_batch(4, n, d, 100);
    b.seed = 9;
    b.step = 5;
    const double whole = m->loss(b).item<double>();
    double parts = 0;
    for (int s = 0; s < 4; ++s) {
      Batch one;
      one.x = b.x.slice(0, s, s + 1);
      one.y = b.y.slice(0, s, s + 1);
      one.index = {b.index[s]};
      one.seed = 9;
      one.step = 5;
      parts += m->loss(one).item<double>() / 4;
    }
    EXPECT_NEAR(whole, parts, 1e-12);
    // The randomness is there: another step, another seed, or evaluation change the loss.
    Batch later = b;
    later.step = 6;
    EXPECT_NE(m->loss(later).item<double>(), whole);
    Batch other = b;
    other.seed = 10;
    EXPECT_NE(m->loss(other).item<double>(), whole);
    m->eval();
    EXPECT_NE(m->loss(b).item<double>(), whole);
  }
}

TEST(GraphNetwork, RejectsWrongDataAndOptions) {
  DataShape reg;
  reg.layout = DataLayout::regression;
  reg.x = {4};
  reg.y = {1};
  EXPECT_THROW(make_model("gnn", {}, reg), phyflow::Error);
  DataShape odd = nbody_shape(3, 2);
  odd.x = {3, 7};
  EXPECT_THROW(make_model("gnn", {}, odd), phyflow::Error);
  EXPECT_THROW(make_model("gnn", {{"regularizer", "l2"}}, nbody_shape(3, 2)), phyflow::Error);
  EXPECT_THROW(make_model("gnn", {{"regularizer", "bottleneck"}, {"msg_dim", 5}}, nbody_shape(3, 2)),
               phyflow::Error);
  EXPECT_EQ(make_gnn(3, 3, {{"regularizer", "bottleneck"}})->message_dim(), 3);
  EXPECT_EQ(make_gnn(3, 2, {})->message_dim(), 100);
}

TEST(MessageAnalysis, RecoversAKnownLinearTransformDespiteOutliers) {
  std::mt19937_64 gen(1);
  std::normal_distribution<double> normal;
  const int rows = 2000, d = 2, M = 6;
  std::vector<double> force(rows * d), msg(rows * M);
  for (int i = 0; i < rows; ++i) {
    force[i * d] = normal(gen);
    force[i * d + 1] = normal(gen);
    // Components 1 and 4 carry the force (large spread); the others are small noise.
    for (int c = 0; c < M; ++c) msg[i * M + c] = 0.01 * normal(gen);
    msg[i * M + 1] = 3.0 * force[i * d] - 2.0 * force[i * d + 1] + 0.5;
    msg[i * M + 4] = -1.0 * force[i * d] + 4.0 * force[i * d + 1] - 1.0;
    if (i % 20 == 0) msg[i * M + 1] += 50.0;  // 5 % wild outliers: the trimmed fit ignores them
  }
  const auto a = analyse_messages(msg, M, force, d, 0.1);
  ASSERT_EQ(a.components.size(), 2u);
  EXPECT_EQ(std::min(a.components[0], a.components[1]), 1);
  EXPECT_EQ(std::max(a.components[0], a.components[1]), 4);
  const auto& f1 = a.fits[a.components[0] == 1 ? 0 : 1];
  EXPECT_NEAR(f1.coefficients[0], 3.0, 1e-9);
  EXPECT_NEAR(f1.coefficients[1], -2.0, 1e-9);
  EXPECT_NEAR(f1.intercept, 0.5, 1e-9);
  EXPECT_NEAR(a.r2, 1.0, 1e-9);
  EXPECT_LT(f1.r2_all, 0.9);  // judged on every row, the outliers cost R^2
  // Messages unrelated to the force: R^2 near 0.
  std::vector<double> noise(rows * M);
  for (auto& v : noise) v = normal(gen);
  EXPECT_LT(analyse_messages(noise, M, force, d, 0.1).r2, 0.05);
}

TEST(MessageAnalysis, AWiderBasisExplainsReceiverDependentMessages) {
  // Edges with random features (dx, dy, r, m1, m2, q1, q2) and forces. Messages M (1 + 1/m1) F
  // are no linear map of F or of F/m1 alone (the trimmed fits leave R^2 0.90 and 0.95) but
  // exactly one of force_bases' [F, F/m1]; messages M q1 F (a network sending the field) are
  // exactly one of q1 F and of the widest charge basis, and of no basis without q1.
  std::mt19937_64 gen(4);
  std::normal_distribution<double> normal;
  const int rows = 2000, d = 2, k = d + 5;
  std::vector<double> force(rows * d), features(rows * k), acc(rows * d), field(rows * d);
  const auto mix = [&](std::vector<double>& msg, int i, double g) {
    msg[i * d] = g * force[i * d];
    msg[i * d + 1] = g * (force[i * d] - force[i * d + 1]);
  };
  for (int i = 0; i < rows; ++i) {
    for (int c = 0; c < k; ++c) features[i * k + c] = normal(gen);
    const double m1 = std::exp(normal(gen)), q1 = normal(gen) > 0 ? 1.0 : -1.0;
    features[i * k + d + 1] = m1;
    features[i * k + d + 3] = q1;
    for (int c = 0; c < d; ++c) force[i * d + c] = normal(gen);
    mix(acc, i, 1.0 + 1.0 / m1);
    mix(field, i, q1);
  }
  const auto plain = force_bases(force, features, d, false);
  const auto charged = force_bases(force, features, d, true);
  ASSERT_EQ(plain.size(), 3u);
  ASSERT_EQ(charged.size(), 5u);
  const std::vector<std::string> names = {"force", "acceleration", "force_and_acceleration",
                                          "field", "force_acceleration_and_field"};
  for (std::size_t b = 0; b < charged.size(); ++b) {
    EXPECT_EQ(charged[b].name, names[b]);
    EXPECT_EQ(charged[b].cols, (b == 2 ? 2 : b == 4 ? 4 : 1) * d);
    EXPECT_EQ(charged[b].values.size(), std::size_t(rows * charged[b].cols));
  }
  EXPECT_EQ(plain[2].values, charged[2].values);
  // The columns themselves: F, F/m1, then [F, F/m1]; q1 F; [F, F/m1, q1 F, q1 F/m1].
  const int i = 17;
  const double m1 = features[i * k + d + 1], q1 = features[i * k + d + 3], fx = force[i * d];
  EXPECT_EQ(charged[0].values[i * d], fx);
  EXPECT_EQ(charged[1].values[i * d], fx / m1);
  EXPECT_EQ(charged[2].values[i * 2 * d + d], fx / m1);
  EXPECT_EQ(charged[3].values[i * d], q1 * fx);
  EXPECT_EQ(charged[4].values[i * 4 * d + 3 * d], q1 / m1 * fx);

  const auto r2 = [&](const std::vector<double>& msg, const ForceBasis& b) {
    return analyse_messages(msg, d, b.values, d, 0.1, b.cols).r2;
  };
  EXPECT_LT(r2(acc, charged[0]), 0.96);
  EXPECT_LT(r2(acc, charged[1]), 0.96);
  EXPECT_NEAR(r2(acc, charged[2]), 1.0, 1e-9);
  EXPECT_LT(r2(acc, charged[3]), 0.5);
  EXPECT_NEAR(r2(acc, charged[4]), 1.0, 1e-9);
  for (int b = 0; b < 3; ++b) EXPECT_LT(r2(field, charged[std::size_t(b)]), 0.5) << b;
  EXPECT_NEAR(r2(field, charged[3]), 1.0, 1e-9);
  EXPECT_NEAR(r2(field, charged[4]), 1.0, 1e-9);
  const auto a = analyse_messages(acc, d, charged[2].values, d, 0.1, charged[2].cols);
  ASSERT_EQ(a.fits[0].coefficients.size(), 4u);
  EXPECT_THROW(force_bases(force, std::vector<double>(rows * (k - 1)), d, false),
               phyflow::Error);
}

TEST(MessageAnalysis, AComponentConstantOnTheKeptRowsHasRSquaredZero) {
  // A collapsed component: one value on 96 % of the rows, noise on the rest. The trimmed fit
  // drops the varying 4 % and keeps rows without variance: R^2 0 (it was 1 before 2026-12-05).
  std::mt19937_64 gen(3);
  std::normal_distribution<double> normal;
  const int rows = 1000, d = 2;
  std::vector<double> force(rows * d), msg(rows * d);
  for (int i = 0; i < rows; ++i) {
    force[i * d] = normal(gen);
    force[i * d + 1] = normal(gen);
    msg[i * d] = i % 25 == 0 ? normal(gen) : -1.3e-4;
    msg[i * d + 1] = i % 25 == 0 ? normal(gen) : 7.7e-5;
  }
  const auto a = analyse_messages(msg, d, force, d, 0.1);
  EXPECT_EQ(a.fits[0].kept, 900);
  EXPECT_EQ(a.fits[0].r2, 0.0);
  EXPECT_EQ(a.r2, 0.0);
  EXPECT_LT(a.fits[0].r2_all, 0.1);  // judged on every row: the noise is not the force either
}

TEST(MessageAnalysis, RSquaredOfAPartlyExplainedSignal) {
  // y = f + e with var f = var e = 1: R^2 = 1/2 without trimming.
  std::mt19937_64 gen(2);
  std::normal_distribution<double> normal;
  const int rows = 200000;
  std::vector<double> y(rows), f(rows);
  for (int i = 0; i < rows; ++i) {
    f[i] = normal(gen);
    y[i] = f[i] + normal(gen);
  }
  const auto fit = robust_linear_fit(y, f, 1, 0.0);
  EXPECT_NEAR(fit.r2, 0.5, 0.01);
  EXPECT_NEAR(fit.coefficients[0], 1.0, 0.01);
  EXPECT_EQ(fit.kept, rows);
}

}  // namespace
