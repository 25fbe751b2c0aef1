// The models and the pieces of the training runtime that need no MPI: snake orders, the
// gradients of every model against central finite differences (float64, tiny instances),
// learning-rate schedules against their closed forms, epoch permutations and step plans,
// datasets and model files.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "ml_test_support.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/ml/dataset.hpp"
#include "phyflow/ml/flat_parameters.hpp"
#include "phyflow/ml/model_file.hpp"
#include "phyflow/ml/model_registry.hpp"
#include "phyflow/ml/models/energy_lm.hpp"
#include "phyflow/ml/optimizer.hpp"
#include "phyflow/ml/sample_order.hpp"

using namespace phyflow;
using namespace phyflow::ml;
using namespace phyflow::ml::testing;

TEST(SnakeOrder, RowsAndColumnsAlternateDirection) {
  EXPECT_EQ(snake_order(3, false), (std::vector<std::int64_t>{0, 1, 2, 5, 4, 3, 6, 7, 8}));
  EXPECT_EQ(snake_order(3, true), (std::vector<std::int64_t>{0, 3, 6, 7, 4, 1, 2, 5, 8}));
  // Consecutive sites of the sequence are lattice neighbours.
  for (bool cols : {false, true}) {
    const auto o = snake_order(6, cols);
    for (std::size_t i = 1; i < o.size(); ++i) {
      const auto a = o[i - 1], b = o[i];
      EXPECT_EQ(std::abs(a / 6 - b / 6) + std::abs(a % 6 - b % 6), 1) << i;
    }
  }
}

namespace {

Batch ising_batch(int n, int L, std::uint64_t seed) {
  torch::manual_seed(seed);
  Batch b;
  b.x = torch::randint(0, 2, {n, L, L}, torch::kFloat64) * 2 - 1;
  b.y = torch::randn({n}, torch::kFloat64) * 5 - 10;
  b.beta = torch::full({n}, 0.4, torch::kFloat64);
  b.beta.narrow(0, 0, n / 2).fill_(0.25);
  for (int i = 0; i < n; ++i) b.index.push_back(i);
  return b;
}

/// Checks d loss / d theta of `model` on `batch` against central differences for a few entries
/// of every parameter tensor.
void check_gradients(Model& model, const Batch& batch) {
  model.to(torch::kFloat64);
  for (auto& p : model.parameters()) p.mutable_grad() = torch::Tensor();
  model.loss(batch).backward();
  torch::NoGradGuard no_grad;
  std::mt19937 gen(3);
  for (const auto& named : model.named_parameters()) {
    auto p = named.value();
    auto flat = p.view({-1});
    const auto grad = p.grad().view({-1});
    for (int trial = 0; trial < 4; ++trial) {
      const std::int64_t i = std::int64_t(gen() % std::uint64_t(flat.numel()));
      const double h = 1e-6, orig = flat[i].item<double>();
      flat[i] = orig + h;
      const double up = model.loss(batch).item<double>();
      flat[i] = orig - h;
      const double down = model.loss(batch).item<double>();
      flat[i] = orig;
      const double fd = (up - down) / (2 * h), ad = grad[i].item<double>();
      EXPECT_NEAR(ad, fd, 1e-6 * std::max(1.0, std::abs(fd))) << named.key() << "[" << i << "]";
    }
  }
}

}  // namespace

TEST(Gradients, EveryEnergyModelMatchesFiniteDifferences) {
  const DataShape shape{DataLayout::ising, {4, 4}, {}};
  const Batch batch = ising_batch(6, 4, 11);
  const std::vector<nlohmann::json> variants = {
      {{"hidden", 3}},
      {{"hidden", 3}, {"bidirectional", true}},
      {{"hidden", 3}, {"two_d", true}},
      {{"hidden", 3}, {"attention", true}},
      {{"hidden", 3}, {"attention", true}, {"bidirectional", true}, {"two_d", true}},
      {{"hidden", 3}, {"mask", "input"}},
  };
  for (const auto& v : variants) {
    SCOPED_TRACE(v.dump());
    torch::manual_seed(5);
    auto m = make_model("energy_gru", v, shape);
    check_gradients(*m, batch);
  }
  torch::manual_seed(5);
  auto p = make_model("probability_gru", {{"hidden", 3}}, shape);
  check_gradients(*p, batch);
}

TEST(Gradients, MlpMatchesFiniteDifferences) {
  const DataShape shape{DataLayout::regression, {3}, {2}};
  for (const std::string act : {"tanh", "silu", "softplus"}) {
    torch::manual_seed(2);
    auto m = make_model("mlp", {{"layers", 2}, {"width", 5}, {"activation", act}}, shape);
    Batch b;
    b.x = torch::randn({7, 3}, torch::kFloat64);
    b.y = torch::randn({7, 2}, torch::kFloat64);
    for (int i = 0; i < 7; ++i) b.index.push_back(i);
    check_gradients(*m, b);
  }
}

TEST(EnergyModels, EnergiesFollowTheirDefinitions) {
  // energy_gru: E = (1/beta) sum log p; probability_gru: -(1/beta) sum log p; the 2D variant
  // averages the two readings.
  const DataShape shape{DataLayout::ising, {4, 4}, {}};
  const Batch batch = ising_batch(4, 4, 2);
  torch::manual_seed(1);
  auto e = std::dynamic_pointer_cast<EnergyLM>(make_model("energy_gru", {{"hidden", 4}, {"two_d", true}}, shape));
  e->to(torch::kFloat64);
  const auto lp = e->log_probabilities(batch);
  ASSERT_EQ(lp.size(), 2u);
  EXPECT_TRUE(torch::allclose(e->predict(batch), (lp[0] + lp[1]) / 2 / batch.beta, 1e-12, 1e-12));
  EXPECT_TRUE((lp[0] < 0).all().item<bool>());
  torch::manual_seed(1);
  auto p = std::dynamic_pointer_cast<EnergyLM>(make_model("probability_gru", {{"hidden", 4}}, shape));
  p->to(torch::kFloat64);
  const auto lpp = p->log_probabilities(batch);
  EXPECT_TRUE(torch::allclose(p->predict(batch), -lpp[0] / batch.beta, 1e-12, 1e-12));
}

TEST(EnergyModels, PredictAndLossInOnePassEqualTheTwoCalls) {
  // Evaluation takes both from predict_and_loss (one pass of each GRU): bit for bit the
  // values of predict() and loss(), for every energy model option and the probability model.
  const DataShape shape{DataLayout::ising, {4, 4}, {}};
  const Batch batch = ising_batch(5, 4, 7);
  std::vector<std::pair<std::string, nlohmann::json>> kinds = {{"probability_gru", {{"hidden", 4}}}};
  for (bool bi : {false, true})
    for (bool att : {false, true})
      for (bool two_d : {false, true})
        kinds.push_back({"energy_gru", {{"hidden", 4}, {"bidirectional", bi}, {"attention", att}, {"two_d", two_d}}});
  for (const auto& [kind, options] : kinds) {
    auto m = make_model(kind, options, shape);
    m->to(torch::kFloat64);
    m->eval();
    torch::NoGradGuard no_grad;
    const auto [pred, loss] = m->predict_and_loss(batch);
    EXPECT_TRUE(torch::equal(pred, m->predict(batch))) << kind << " " << options.dump();
    EXPECT_EQ(loss.item<double>(), m->loss(batch).item<double>()) << kind << " " << options.dump();
  }
}

TEST(EnergyModels, ProbabilitiesOfAllConfigurationsSumToOne) {
  // The unidirectional next-spin model is a normalised distribution over s_1..s_{N-1} given s_0:
  // summing p over all 2^(N-1) continuations of a fixed first spin gives 1 (target mask).
  const DataShape shape{DataLayout::ising, {2, 2}, {}};
  torch::manual_seed(4);
  auto m = std::dynamic_pointer_cast<EnergyLM>(make_model("probability_gru", {{"hidden", 5}}, shape));
  m->to(torch::kFloat64);
  Batch b;
  b.x = torch::empty({8, 2, 2}, torch::kFloat64);
  const auto order = snake_order(2, false);
  for (int c = 0; c < 8; ++c) {
    auto flat = b.x[c].view({-1});
    flat[order[0]] = 1.0;
    for (int k = 1; k < 4; ++k) flat[order[std::size_t(k)]] = ((c >> (k - 1)) & 1) ? 1.0 : -1.0;
  }
  b.beta = torch::ones({8}, torch::kFloat64);
  torch::NoGradGuard no_grad;
  EXPECT_NEAR(m->log_probabilities(b)[0].exp().sum().item<double>(), 1.0, 1e-12);
}

TEST(Schedules, MatchTheirClosedForms) {
  LrSchedule s;
  s.lr = 0.01;
  s.total_steps = 100;
  s.steps_per_epoch = 10;
  s.kind = "constant";
  EXPECT_DOUBLE_EQ(s.at(57), 0.01);
  s.kind = "step";
  s.step_size = 3;
  s.gamma = 0.5;
  EXPECT_DOUBLE_EQ(s.at(29), 0.01);     // epoch 2
  EXPECT_DOUBLE_EQ(s.at(30), 0.005);    // epoch 3
  EXPECT_DOUBLE_EQ(s.at(65), 0.0025);   // epoch 6
  s.kind = "cosine";
  s.lr_min = 0.001;
  EXPECT_DOUBLE_EQ(s.at(0), 0.01);
  EXPECT_NEAR(s.at(50), 0.0055, 1e-15);
  EXPECT_NEAR(s.at(100), 0.001, 1e-15);
  // OneCycleLR(max_lr=0.01, total_steps=100): starts at max_lr/25, peaks at step 29
  // (pct_start * total - 1), ends at max_lr/25/1e4.
  s.kind = "one_cycle";
  EXPECT_NEAR(s.at(0), 0.0004, 1e-15);
  EXPECT_NEAR(s.at(29), 0.01, 1e-15);
  EXPECT_NEAR(s.at(99), 0.0004 / 1e4, 1e-15);
  EXPECT_LT(s.at(14), 0.01);
  EXPECT_GT(s.at(14), 0.0004);
}

// make_optimizer's Adam keeps its moments in flat buffers; its parameters must be bitwise
// those of torch::optim::Adam: float32 and float64, with and without weight decay, and with
// a parameter that has no gradient on some steps (torch skips it, with its own step count).
// Its state survives optimizer_state / restore_optimizer_state.
TEST(Optimizers, FlatAdamIsTorchAdamBitForBit) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64})
    for (const double wd : {0.0, 0.01}) {
      SCOPED_TRACE(std::string(dtype == torch::kFloat32 ? "float32" : "float64") +
                   ", weight decay " + std::to_string(wd));
      torch::manual_seed(5);
      std::vector<torch::Tensor> a, b;
      for (const auto& shape : std::vector<std::vector<std::int64_t>>{{7, 3}, {3}, {2, 2, 5}, {1}}) {
        a.push_back(torch::randn(shape, dtype).requires_grad_(true));
        b.push_back(a.back().detach().clone().requires_grad_(true));
      }
      OptimizerOptions o;
      o.lr = 3e-2;
      o.weight_decay = wd;
      auto ours = make_optimizer(a, o);
      ASSERT_EQ(dynamic_cast<torch::optim::Adam*>(ours.get()), nullptr) << "not the flat Adam";
      torch::optim::Adam theirs(b, torch::optim::AdamOptions(o.lr).weight_decay(wd));
      std::unique_ptr<torch::optim::Optimizer> resumed;
      for (int step = 0; step < 12; ++step) {
        for (std::size_t i = 0; i < a.size(); ++i) {
          const bool skip = i == 2 && (step == 3 || step == 4);  // no gradient this step
          a[i].mutable_grad() = torch::Tensor();
          b[i].mutable_grad() = torch::Tensor();
          if (skip) continue;
          const auto g = torch::randn(a[i].sizes(), dtype) * double(1 + step);
          a[i].mutable_grad() = g.clone();
          b[i].mutable_grad() = g.clone();
        }
        ours->step();
        theirs.step();
        for (std::size_t i = 0; i < a.size(); ++i)
          ASSERT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i << " after step " << step;
        if (step == 6) {  // a restart from the state after step 6 continues identically
          const auto bytes = optimizer_state(*ours);
          resumed = make_optimizer(a, o);
          restore_optimizer_state(*resumed, bytes);
          ours.swap(resumed);
        }
      }
    }
}

// flatten_parameters (what the trainers do before making the optimiser): the same model
// trained with and without it (backward, zero_gradients, the flat Adam) has bitwise the same
// parameters, and after every step parameters and gradients are still views of the flat
// buffers, so the optimiser takes its no-copy path. Tied weights are left alone.
TEST(Optimizers, FlatParametersChangeNoNumber) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    SCOPED_TRACE(dtype == torch::kFloat32 ? "float32" : "float64");
    torch::manual_seed(3);
    auto make = [&] {
      torch::nn::Sequential net(torch::nn::Linear(4, 6), torch::nn::Tanh(),
                                torch::nn::Linear(6, 2));
      net->to(dtype);
      return net;
    };
    auto a = make(), b = make();
    {
      torch::NoGradGuard no_grad;
      auto pa = a->parameters(), pb = b->parameters();
      for (std::size_t i = 0; i < pa.size(); ++i) pb[i].copy_(pa[i]);
    }
    const auto pa = a->parameters(), pb = b->parameters();
    ASSERT_TRUE(flatten_parameters(pa));
    const auto values = flat_alias(pa);
    ASSERT_TRUE(values.defined());
    ASSERT_EQ(values.numel(), 4 * 6 + 6 + 6 * 2 + 2);
    OptimizerOptions o;
    o.lr = 1e-2;
    auto oa = make_optimizer(pa, o), ob = make_optimizer(pb, o);
    for (int step = 0; step < 8; ++step) {
      const auto x = torch::randn({5, 4}, dtype);
      zero_gradients(pa);
      zero_gradients(pb);
      a->forward(x).pow(2).sum().backward();
      b->forward(x).pow(2).sum().backward();
      oa->step();
      ob->step();
      for (std::size_t i = 0; i < pa.size(); ++i) {
        ASSERT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i << " after step " << step;
        ASSERT_TRUE(torch::equal(pa[i].grad(), pb[i].grad())) << "gradient " << i;
      }
      const auto v = flat_alias(pa), g = flat_alias(gradients_of(pa));
      ASSERT_TRUE(v.defined() && g.defined()) << "left the flat layout at step " << step;
      EXPECT_EQ(v.data_ptr(), values.data_ptr());
    }
    zero_gradients(pa);
    EXPECT_EQ(flat_alias(gradients_of(pa)).abs().sum().item<double>(), 0.0);
  }
  // Two parameters sharing a storage stay as they are.
  auto w = torch::randn({3, 3}).requires_grad_();
  std::vector<torch::Tensor> tied{w, w};
  EXPECT_FALSE(flatten_parameters(tied));
  EXPECT_FALSE(flat_alias({torch::zeros({2}), torch::zeros({2})}).defined());
}

TEST(SampleOrder, PermutationsDependOnlyOnSeedAndEpoch) {
  const auto a = epoch_permutation(7, 0, 1000), b = epoch_permutation(7, 0, 1000);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, epoch_permutation(7, 1, 1000));
  EXPECT_NE(a, epoch_permutation(8, 0, 1000));
  std::vector<std::int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 1000; ++i) EXPECT_EQ(sorted[std::size_t(i)], i);
  // Roughly uniform: position of element 0 over many epochs is spread out.
  std::set<std::int64_t> where;
  for (std::uint64_t e = 0; e < 50; ++e) {
    const auto p = epoch_permutation(3, e, 10);
    where.insert(std::find(p.begin(), p.end(), 0) - p.begin());
  }
  EXPECT_GE(where.size(), 8u);
}

TEST(SampleOrder, TwoRanksWithBatchBSeeWhatOneRankWithBatch2BSees) {
  const StepPlan one{103, 20, 1, false}, two{103, 10, 2, false};
  ASSERT_EQ(one.steps_per_epoch(), 6);
  ASSERT_EQ(two.steps_per_epoch(), 6);
  for (std::int64_t s = 0; s < 6; ++s) {
    const auto [a, b] = one.local_range(s, 0);
    const auto [a0, b0] = two.local_range(s, 0);
    const auto [a1, b1] = two.local_range(s, 1);
    EXPECT_EQ(a, a0);
    EXPECT_EQ(b0, std::min(a1, b1));
    EXPECT_EQ(b, b1 > a1 ? b1 : b0);
    EXPECT_EQ(one.global_count(s), two.global_count(s));
  }
  EXPECT_EQ(two.local_range(5, 1).second - two.local_range(5, 1).first, 0);  // 100..103 on rank 0
  EXPECT_EQ((StepPlan{103, 10, 2, true}.steps_per_epoch()), 5);
  // Chunked shares tile [0, n) in order for any rank count.
  for (int ranks : {1, 2, 3, 4, 7}) {
    std::int64_t next = 0;
    for (int r = 0; r < ranks; ++r) {
      const auto [a, b] = chunked_share(1000, 64, r, ranks);
      EXPECT_EQ(a, next);
      EXPECT_EQ(a % 64, 0);
      next = b;
    }
    EXPECT_EQ(next, 1000);
  }
}

TEST(Datasets, LayoutsAreDetectedAndGatheredInOrder) {
  TempDir dir;
  const std::string ising = dir.path() + "/i.h5", reg = dir.path() + "/r.h5";
  write_ising_file(ising, 5, 4, 1);
  write_regression_file(reg, 9, 3, 2, [](const double* x) { return x[0] - x[2]; });
  for (auto cache : {CacheMode::memory, CacheMode::stream}) {
    const auto d = Dataset::open(ising, "data.train", cache);
    EXPECT_EQ(d.layout(), DataLayout::ising);
    EXPECT_EQ(d.size(), 10);
    EXPECT_EQ(d.shape().x, (std::vector<std::int64_t>{4, 4}));
    ASSERT_EQ(d.groups().size(), 2u);
    EXPECT_EQ(d.groups()[1].begin, 5);
    EXPECT_DOUBLE_EQ(d.groups()[1].beta, 0.5);
    const Batch b = d.gather({7, 2, 3, 4, 5}, torch::kFloat64);
    const auto f = io::InputFile::open(ising);
    const auto e0 = f.read<double>("/t0/energy"), e1 = f.read<double>("/t1/energy");
    const auto s1 = f.read<std::int8_t>("/t1/spins");
    EXPECT_DOUBLE_EQ(b.y[0].item<double>(), e1[2]);
    EXPECT_DOUBLE_EQ(b.y[1].item<double>(), e0[2]);
    EXPECT_DOUBLE_EQ(b.y[4].item<double>(), e1[0]);
    EXPECT_DOUBLE_EQ(b.beta[0].item<double>(), 0.5);
    EXPECT_DOUBLE_EQ(b.beta[3].item<double>(), 0.3);
    EXPECT_DOUBLE_EQ(b.x[0][1][3].item<double>(), double(s1[2 * 16 + 7]));
    const auto r = Dataset::open(reg, "data.val", cache);
    EXPECT_EQ(r.layout(), DataLayout::regression);
    const Batch rb = r.range(3, 4, torch::kFloat32);
    EXPECT_EQ(rb.x.sizes(), (std::vector<std::int64_t>{4, 3}));
    EXPECT_EQ(rb.y.sizes(), (std::vector<std::int64_t>{4, 1}));
    EXPECT_NEAR(rb.y[1][0].item<double>(), rb.x[1][0].item<double>() - rb.x[1][2].item<double>(), 1e-6);
    EXPECT_THROW(d.require(DataLayout::regression, "mlp"), Error);
  }
}

TEST(ModelFiles, RoundTripEveryTensorAndRefuseOtherFiles) {
  TempDir dir;
  const std::string path = dir.path() + "/m.h5", data = dir.path() + "/d.h5";
  const DataShape shape{DataLayout::ising, {4, 4}, {}};
  torch::manual_seed(9);
  auto m = make_model("energy_gru", {{"hidden", 5}, {"attention", true}, {"two_d", true}}, shape);
  if (world_rank() == 0) {
    auto out = io::OutputFile::create(MPI_COMM_SELF, path, true);
    write_model(out, "/model", *m);
    out.commit();
  }
  MPI_Barrier(MPI_COMM_WORLD);
  auto back = read_model(path);
  EXPECT_EQ(back->kind(), "energy_gru");
  EXPECT_EQ(back->options(), m->options());
  EXPECT_EQ(max_relative_difference(*m, *back, 1e-300), 0.0);
  write_ising_file(data, 3, 4, 1);
  try {
    read_model(data);
    FAIL() << "a data file was read as a model";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("not a phyflow model file"), std::string::npos);
  }
}

TEST(ModelKinds, ConflictingOptionsAreRejected) {
  const nlohmann::json ok = {{"hidden", 8}, {"bidirectional", false}};
  EXPECT_NO_THROW(check_model_options("probability_gru", ok, "deck"));
  EXPECT_THROW(check_model_options("probability_gru", {{"bidirectional", true}}, "deck"), Error);
  EXPECT_THROW(check_model_options("mlp", {{"hidden", 7}}, "deck"), Error);
  EXPECT_THROW(model_kind("energy_gruu"), Error);
}
