// Search quality: exact recovery of physics laws from noiseless data within a generation
// budget for a fixed seed (checked on fresh points, after simplification), R^2 > 0.999 with
// 1 % noise, the Pareto front's invariants, and PySR's best-equation choice.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <functional>

#include "phyflow/core/error.hpp"
#include "phyflow/sr/data.hpp"
#include "phyflow/sr/search.hpp"
#include "phyflow/sr/variation.hpp"

namespace sr = phyflow::sr;
using sr::Op;

namespace {

using Law = std::function<double(const std::vector<double>&)>;

struct Box {
  double lo, hi;
};

sr::Dataset sample(const std::vector<std::string>& names, const std::vector<Box>& box,
                   const Law& law, int rows, std::uint64_t seed, double noise = 0.0) {
  sr::Dataset d;
  d.names = names;
  d.x.assign(names.size(), {});
  sr::Draws draws(seed, "test-sample", 0, 0);
  for (int r = 0; r < rows; ++r) {
    std::vector<double> row;
    for (std::size_t f = 0; f < names.size(); ++f) {
      const double v = box[f].lo + (box[f].hi - box[f].lo) * draws.uniform();
      d.x[f].push_back(v);
      row.push_back(v);
    }
    d.y.push_back(law(row) * (1.0 + noise * draws.normal()));
  }
  return d;
}

/// max |best - law| over fresh points, relative to the RMS of the law there.
double fresh_error(const sr::Expression& e, const std::vector<std::string>& names,
                   const std::vector<Box>& box, const Law& law) {
  const sr::Dataset fresh = sample(names, box, law, 500, 987654321);
  std::vector<double> out(fresh.rows());
  sr::Evaluator ev;
  if (!ev.evaluate(e, fresh, out.data())) return INFINITY;
  double worst = 0.0, rms = 0.0;
  for (std::size_t r = 0; r < fresh.rows(); ++r) {
    worst = std::max(worst, std::fabs(out[r] - fresh.y[r]));
    rms += fresh.y[r] * fresh.y[r];
  }
  return worst / std::sqrt(rms / double(fresh.rows()));
}

sr::SearchOptions options(std::vector<Op> ops, int generations) {
  sr::SearchOptions o;
  o.operators = std::move(ops);
  o.seed = 1;
  o.generations = generations;
  o.max_complexity = 20;
  o.islands = 4;
  o.population = 64;
  o.loss_threshold = 1e-26;  // stop once exact
  return o;
}

void expect_recovered(const char* what, const std::vector<std::string>& names,
                      const std::vector<Box>& box, const Law& law, std::vector<Op> ops,
                      int generations) {
  const sr::Dataset d = sample(names, box, law, 300, 42);
  const sr::SearchResult r = sr::search(d, options(std::move(ops), generations), MPI_COMM_SELF);
  const sr::Equation& best = r.pareto.at(r.best);
  const double err = fresh_error(best.expression, names, box, law);
  EXPECT_LT(err, 1e-9) << what << ": best " << best.equation << " (loss " << best.loss << ", after "
                       << r.generations << " generations)";
  std::printf("%s: %s  [complexity %d, loss %.3g, %d generations, %.2f s]\n", what,
              best.equation.c_str(), best.complexity, best.loss, r.generations, r.seconds);
}

}  // namespace

TEST(SrRecovery, LinearSpringForce) {
  expect_recovered(
      "-2(r-1)", {"r"}, {{0.5, 3.0}}, [](auto& v) { return -2.0 * (v[0] - 1.0); },
      {Op::add, Op::sub, Op::mul, Op::div}, 60);
}

TEST(SrRecovery, Coulomb) {
  expect_recovered(
      "q1*q2/r^2", {"q1", "q2", "r"}, {{-2, 2}, {-2, 2}, {0.5, 3}},
      [](auto& v) { return v[0] * v[1] / (v[2] * v[2]); },
      {Op::add, Op::sub, Op::mul, Op::div, Op::square}, 150);
}

TEST(SrRecovery, NewtonPotential) {
  expect_recovered(
      "m1*m2/r", {"m1", "m2", "r"}, {{0.5, 3}, {0.5, 3}, {0.5, 3}},
      [](auto& v) { return v[0] * v[1] / v[2]; }, {Op::add, Op::sub, Op::mul, Op::div}, 150);
}

TEST(SrRecovery, ShiftedCosine) {
  expect_recovered(
      "x*cos(y-3.2)", {"x", "y"}, {{-3, 3}, {-3, 3}},
      [](auto& v) { return v[0] * std::cos(v[1] - 3.2); },
      {Op::add, Op::sub, Op::mul, Op::sin, Op::cos}, 150);
}

TEST(SrRecovery, OnePercentNoiseGivesRSquaredAbove0999) {
  // Kinetic plus potential energy, E = m v^2 / 2 + 9.81 m h, with 1 % multiplicative noise.
  const Law law = [](auto& v) { return 0.5 * v[0] * v[1] * v[1] + 9.81 * v[0] * v[2]; };
  const sr::Dataset d = sample({"m", "v", "h"}, {{0.5, 2}, {-3, 3}, {0, 2}}, law, 400, 5, 0.01);
  sr::SearchOptions o = options({Op::add, Op::sub, Op::mul, Op::div, Op::square}, 60);
  o.loss_threshold = 0.0;
  const sr::SearchResult r = sr::search(d, o, MPI_COMM_SELF);
  const sr::Equation& best = r.pareto.at(r.best);
  double mean = 0.0, sst = 0.0;
  for (double y : d.y) mean += y / double(d.rows());
  for (double y : d.y) sst += (y - mean) * (y - mean) / double(d.rows());
  const double r2 = 1.0 - best.loss / sst;
  EXPECT_GT(r2, 0.999) << best.equation;
  std::printf("noisy energy: %s  [R^2 %.6f, complexity %d]\n", best.equation.c_str(), r2,
              best.complexity);
}

TEST(SrPareto, FrontIsMonotoneAndBestFollowsPySRScore) {
  const Law law = [](auto& v) { return v[0] * v[1] / v[2]; };
  const sr::Dataset d = sample({"m1", "m2", "r"}, {{0.5, 3}, {0.5, 3}, {0.5, 3}}, law, 200, 3);
  sr::SearchOptions o = options({Op::add, Op::sub, Op::mul, Op::div}, 20);
  o.loss_threshold = 0.0;
  const sr::SearchResult r = sr::search(d, o, MPI_COMM_SELF);
  ASSERT_GE(r.pareto.size(), 3u);
  for (std::size_t i = 1; i < r.pareto.size(); ++i) {
    EXPECT_GT(r.pareto[i].complexity, r.pareto[i - 1].complexity);
    EXPECT_LT(r.pareto[i].loss, r.pareto[i - 1].loss);
  }
  // The best is the exact law at its smallest complexity (m1*m2/r in some operand order).
  const sr::Equation& best = r.pareto[r.best];
  EXPECT_EQ(best.complexity, 5) << best.equation;
  EXPECT_LT(fresh_error(best.expression, {"m1", "m2", "r"}, {{0.5, 3}, {0.5, 3}, {0.5, 3}}, law),
            1e-12)
      << best.equation;

  // choose_best on a hand-made front: the big drop at complexity 5 wins over the accurate but
  // barely better complexity 9, and an inaccurate big jump does not count.
  std::vector<sr::Equation> f(4);
  const int c[] = {1, 3, 5, 9};
  const double l[] = {1.0, 0.5, 1e-6, 0.9e-6};
  for (int i = 0; i < 4; ++i) f[std::size_t(i)].complexity = c[i], f[std::size_t(i)].loss = l[i];
  EXPECT_EQ(sr::choose_best(f, 1e-30), 2u);
  EXPECT_NEAR(f[2].score, -(std::log(1e-6) - std::log(0.5)) / 2.0, 1e-12);
}

TEST(SrSearch, ZeroGenerationsGivesTheInitialPopulationsFront) {
  const Law law = [](auto& v) { return v[0] * v[1]; };
  const sr::Dataset d = sample({"a", "b"}, {{1, 2}, {1, 2}}, law, 50, 8);
  sr::SearchOptions o = options({Op::add, Op::mul}, 0);
  const sr::SearchResult r = sr::search(d, o, MPI_COMM_SELF);
  EXPECT_EQ(r.generations, 0);
  EXPECT_FALSE(r.pareto.empty());
  EXPECT_EQ(r.evaluations, std::uint64_t(o.islands * o.population));
}

TEST(SrSearch, RejectsUnusableInput) {
  sr::Dataset d;
  d.names = {"x"};
  d.x = {{1.0, 2.0, 3.0}};
  d.y = {4.0, 4.0, 4.0};
  EXPECT_THROW(sr::search(d, options({Op::add}, 5), MPI_COMM_SELF), phyflow::Error);  // constant
  d.y = {1.0, 2.0, 3.0};
  EXPECT_THROW(sr::search(d, options({}, 5), MPI_COMM_SELF), phyflow::Error);  // no operators
  d.x.clear();
  d.names.clear();
  EXPECT_THROW(sr::search(d, options({Op::add}, 5), MPI_COMM_SELF), phyflow::Error);  // no features
}

TEST(SrSearch, ValidationRowsAreHeldOutAndScored) {
  const Law law = [](auto& v) { return v[0] * v[1] / v[2]; };
  const sr::Dataset d = sample({"m1", "m2", "r"}, {{0.5, 3}, {0.5, 3}, {0.5, 3}}, law, 400, 9);
  sr::SearchOptions o = options({Op::add, Op::sub, Op::mul, Op::div}, 30);
  o.validation_fraction = 0.25;
  const sr::SearchResult r = sr::search(d, o, MPI_COMM_SELF);
  EXPECT_EQ(r.train_rows + r.validation_rows, d.rows());
  EXPECT_GT(r.validation_rows, 70u);  // 100 expected
  EXPECT_LT(r.validation_rows, 130u);
  for (const auto& e : r.pareto) EXPECT_TRUE(std::isfinite(e.validation_loss)) << e.equation;
  // The exact law generalises: its validation loss is at round-off level too.
  EXPECT_LT(r.pareto[r.best].validation_loss, 1e-20) << r.pareto[r.best].equation;
  // Without validation the field is NaN.
  o.validation_fraction = 0.0;
  const sr::SearchResult all = sr::search(d, o, MPI_COMM_SELF);
  EXPECT_EQ(all.validation_rows, 0u);
  EXPECT_TRUE(std::isnan(all.pareto.front().validation_loss));
}

TEST(SrSearch, BatchedScoringStillRecoversAndIsDeterministic) {
  const Law law = [](auto& v) { return v[0] * v[1] / (v[2] * v[2]); };
  const std::vector<Box> box = {{-2, 2}, {-2, 2}, {0.5, 3}};
  const sr::Dataset d = sample({"q1", "q2", "r"}, box, law, 2000, 11);
  sr::SearchOptions o = options({Op::add, Op::sub, Op::mul, Op::div, Op::square}, 150);
  o.batch_rows = 64;
  const sr::SearchResult a = sr::search(d, o, MPI_COMM_SELF);
  const sr::SearchResult b = sr::search(d, o, MPI_COMM_SELF);
  const sr::Equation& best = a.pareto.at(a.best);
  EXPECT_LT(fresh_error(best.expression, {"q1", "q2", "r"}, box, law), 1e-9) << best.equation;
  // Losses in the front are on all rows, not on a batch.
  sr::Evaluator ev;
  for (const auto& e : a.pareto) EXPECT_EQ(ev.loss(e.expression, d), e.loss) << e.equation;
  ASSERT_EQ(a.pareto.size(), b.pareto.size());
  for (std::size_t i = 0; i < a.pareto.size(); ++i)
    EXPECT_EQ(a.pareto[i].equation, b.pareto[i].equation);
  std::printf("batched (64 of 2000 rows): %s [%d generations, %.2f s]\n", best.equation.c_str(),
              a.generations, a.seconds);
}

TEST(SrData, SelectRowsTrimsTheLargestTargetsThenStrides) {
  using Rows = std::vector<std::int64_t>;
  const std::vector<double> y = {0.5, -3, 1, 2, -0.1, 10, 1, 0.2, -2, 4};
  // no trim: an even stride over all rows, or all of them
  EXPECT_EQ(phyflow::sr::select_rows(y, 3), (Rows{0, 3, 6}));
  EXPECT_EQ(phyflow::sr::select_rows(y, 100).size(), 10u);
  // 20 %: the rows with |y| = 10 and 4 go; the stride runs over the 8 left, in row order
  EXPECT_EQ(phyflow::sr::select_rows(y, 100, 0.2), (Rows{0, 1, 2, 3, 4, 6, 7, 8}));
  EXPECT_EQ(phyflow::sr::select_rows(y, 4, 0.2), (Rows{0, 2, 4, 7}));
  // 15 % of 10 rows keeps ceil(8.5) = 9: only |y| = 10 goes
  EXPECT_EQ(phyflow::sr::select_rows(y, 100, 0.15), (Rows{0, 1, 2, 3, 4, 6, 7, 8, 9}));
  // ties: the later row is left out first; at least one row is always kept
  EXPECT_EQ(phyflow::sr::select_rows({1, -1, 1, 1}, 10, 0.25), (Rows{0, 1, 2}));
  EXPECT_EQ(phyflow::sr::select_rows({5, -0.5, 3}, 10, 0.9), (Rows{1}));
  EXPECT_TRUE(phyflow::sr::select_rows({}, 10, 0.1).empty());
  EXPECT_THROW(phyflow::sr::select_rows(y, 10, 1.0), std::invalid_argument);
  EXPECT_THROW(phyflow::sr::select_rows(y, 10, -0.1), std::invalid_argument);
}
