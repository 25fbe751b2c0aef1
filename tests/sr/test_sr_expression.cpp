// Expressions: the batched evaluator against the scalar reference interpreter on random
// expressions over every operator and domain edges, the dual-number Jacobian against finite
// differences, simplification preserving values, printing, and Levenberg-Marquardt.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "phyflow/core/error.hpp"
#include "phyflow/core/host_simd.hpp"
#include "phyflow/sr/constant_fit.hpp"
#include "phyflow/sr/evaluate.hpp"
#include "phyflow/sr/simplify.hpp"
#include "phyflow/sr/trig.hpp"
#include "phyflow/sr/variation.hpp"

namespace sr = phyflow::sr;
using sr::Node;
using sr::Op;

namespace {

std::vector<Op> all_operators() {
  std::vector<Op> ops;
  for (int i = int(Op::add); i < sr::op_count; ++i) ops.push_back(Op(i));
  return ops;
}

/// Three columns over 300 rows (three batches, the last partial) mixing ordinary values with
/// domain edges: 0, -0, negatives for log/sqrt, pi/2 for tan, huge values for exp and cube.
sr::Dataset edge_data() {
  sr::Dataset d;
  d.names = {"a", "b", "c"};
  const double edges[] = {0.0,   -0.0,   -1.0,   1.0,   1.5707963267948966,
                          710.0, -710.0, 1e-300, 1e200, -1e200,
                          2.0,   -2.5,   0.5,    3.0,   1e-8};
  const int rows = 300;
  d.x.assign(3, std::vector<double>(rows));
  sr::Draws draws(7, "test-edges", 0, 0);
  for (int r = 0; r < rows; ++r)
    for (int f = 0; f < 3; ++f)
      d.x[std::size_t(f)][std::size_t(r)] =
          draws.chance(0.2) ? edges[draws.below(15)] : 4.0 * draws.uniform() - 2.0;
  d.y.assign(rows, 1.0);
  return d;
}

std::vector<double> row_of(const sr::Dataset& d, std::size_t r) {
  std::vector<double> row;
  for (const auto& col : d.x) row.push_back(col[r]);
  return row;
}

sr::Expression parse_postfix(std::initializer_list<Node> nodes) {
  sr::Expression e;
  e.nodes = nodes;
  return e;
}

Node V(int f) { return Node::variable(f); }
Node C(double v) { return Node::constant(v); }
Node O(Op op) { return Node::op_node(op); }

}  // namespace

TEST(SrEvaluate, MatchesReferenceOnRandomExpressionsWithDomainEdges) {
  const sr::Dataset d = edge_data();
  sr::Grammar g(all_operators(), 3, 40);
  sr::Draws draws(11, "test-expr", 0, 0);
  sr::Evaluator ev;
  std::vector<double> out(d.rows());
  int valid = 0, invalid = 0, rows_checked = 0;
  for (int k = 0; k < 3000; ++k) {
    const sr::Expression e = sr::random_expression(g, draws, 1 + draws.below(5));
    ASSERT_TRUE(e.valid());
    const bool ok = ev.evaluate(e, d, out.data());
    bool any_nan = false;
    for (std::size_t r = 0; r < d.rows(); ++r) {
      const double ref = sr::evaluate_reference(e, row_of(d, r));
      if (std::isnan(ref)) {
        any_nan = true;
        continue;
      }
      if (ok) {
        ASSERT_EQ(out[r], ref) << "row " << r << " of " << sr::to_infix(e, d.names);
        ++rows_checked;
      }
    }
    // Invalid exactly when some row has a non-finite value somewhere.
    ASSERT_EQ(ok, !any_nan) << sr::to_infix(e, d.names);
    (ok ? valid : invalid) += 1;
    const double loss = ev.loss(e, d);
    if (!ok) {
      ASSERT_TRUE(std::isinf(loss));
    } else {
      double sum = 0.0;
      for (std::size_t r = 0; r < d.rows(); ++r) sum += (out[r] - d.y[r]) * (out[r] - d.y[r]);
      const double expect = sum / double(d.rows());  // inf when a residual squared overflows
      if (std::isfinite(expect))
        ASSERT_NEAR(loss, expect, 1e-12 * expect);
      else
        ASSERT_TRUE(std::isinf(loss));
    }
  }
  EXPECT_GT(valid, 300);
  EXPECT_GT(invalid, 300);
  EXPECT_GT(rows_checked, 100000);
}

TEST(SrEvaluate, LossIsWeightedMeanSquaredError) {
  sr::Dataset d;
  d.names = {"x"};
  d.x = {{1.0, 2.0, 3.0}};
  d.y = {1.0, 5.0, 2.0};
  d.w = {1.0, 2.0, 1.0};
  sr::Evaluator ev;
  const auto e = parse_postfix({V(0), C(2.0), O(Op::mul)});  // 2x: residuals 1, -1, 4
  EXPECT_DOUBLE_EQ(ev.loss(e, d), (1.0 + 2.0 * 1.0 + 16.0) / 4.0);
  EXPECT_TRUE(std::isinf(ev.loss(parse_postfix({V(0), C(0.0), O(Op::div)}), d)));
  EXPECT_TRUE(std::isinf(ev.loss(parse_postfix({C(-1.0), O(Op::log)}), d)));
}

TEST(SrEvaluate, JacobianMatchesFiniteDifferences) {
  sr::Dataset d;
  d.names = {"x", "y"};
  for (int r = 0; r < 200; ++r) {
    d.x.resize(2);
    d.x[0].push_back(0.3 + 0.01 * r);
    d.x[1].push_back(std::sin(0.1 * r));
    d.y.push_back(0.0);
  }
  // 1.3 * x^0.7 * exp(-0.4 y) / (x + 2.1) + tanh(0.5 x)
  const auto e = parse_postfix({C(1.3), V(0), C(0.7), O(Op::pow), O(Op::mul), C(-0.4), V(1),
                                O(Op::mul), O(Op::exp), O(Op::mul), V(0), C(2.1), O(Op::add),
                                O(Op::div), C(0.5), V(0), O(Op::mul), O(Op::tanh), O(Op::add)});
  ASSERT_TRUE(e.valid());
  sr::Evaluator ev;
  const int K = e.constant_count();
  ASSERT_EQ(K, 5);
  std::vector<double> f(d.rows()), J(d.rows() * std::size_t(K)), fp(d.rows()), fm(d.rows());
  ASSERT_TRUE(ev.evaluate_with_jacobian(e, d, f.data(), J.data()));
  std::vector<double> plain(d.rows());
  ASSERT_TRUE(ev.evaluate(e, d, plain.data()));
  for (std::size_t r = 0; r < d.rows(); ++r)
    EXPECT_NEAR(f[r], plain[r], 1e-14 * std::fabs(plain[r]));
  for (int k = 0; k < K; ++k) {
    const double h = 1e-6;
    auto c = e.constants();
    sr::Expression ep = e, em = e;
    c[std::size_t(k)] += h;
    ep.set_constants(c);
    c[std::size_t(k)] -= 2 * h;
    em.set_constants(c);
    ASSERT_TRUE(ev.evaluate(ep, d, fp.data()));
    ASSERT_TRUE(ev.evaluate(em, d, fm.data()));
    for (std::size_t r = 0; r < d.rows(); ++r) {
      const double fd = (fp[r] - fm[r]) / (2 * h);
      EXPECT_NEAR(J[std::size_t(k) * d.rows() + r], fd, 1e-7 * (1.0 + std::fabs(fd)))
          << "constant " << k << " row " << r;
    }
  }
}

TEST(SrSimplify, PreservesValuesOnRandomExpressions) {
  const sr::Dataset d = edge_data();
  sr::Grammar g(all_operators(), 3, 40);
  sr::Draws draws(13, "test-simplify", 0, 0);
  int changed = 0, compared = 0;
  for (int k = 0; k < 3000; ++k) {
    // Small integer constants make the folding and merging rules fire often.
    sr::Expression e = sr::random_expression(g, draws, 1 + draws.below(5));
    for (Node& n : e.nodes)
      if (n.op == Op::constant && draws.chance(0.5)) n.value = double(draws.below(3));
    const sr::Expression s = sr::simplify(e);
    ASSERT_TRUE(s.valid());
    ASSERT_LE(s.complexity(), e.complexity());
    changed += !(s == e);
    // The same expression with every constant moved by a relative 1e-13: where that moves
    // the value by more than 1e-10, the point is ill-conditioned (tan near a pole, a
    // cancellation) and a merge's rounding may show at the 1e-9 level; such rows are skipped.
    sr::Expression nudged = e;
    for (Node& n : nudged.nodes)
      if (n.op == Op::constant) n.value *= 1.0 + 1e-13;
    for (std::size_t r = 0; r < d.rows(); ++r) {
      const auto row = row_of(d, r);
      const double a = sr::evaluate_reference(e, row);
      if (std::isnan(a)) continue;
      const double an = sr::evaluate_reference(nudged, row);
      if (!(std::fabs(an - a) <= 1e-10 * std::max(1.0, std::fabs(a)))) continue;
      const double b = sr::evaluate_reference(s, row);
      ASSERT_NEAR(a, b, 1e-9 * std::max(1.0, std::fabs(a)))
          << sr::to_infix(e, d.names) << "  ->  " << sr::to_infix(s, d.names) << " at row " << r;
      ++compared;
    }
  }
  EXPECT_GT(changed, 500);
  EXPECT_GT(compared, 100000);
}

TEST(SrSimplify, RulesAndCanonicalForms) {
  const std::vector<std::string> n = {"x", "y"};
  auto s = [&](std::initializer_list<Node> nodes) {
    return sr::to_infix(sr::simplify(parse_postfix(nodes)), n);
  };
  EXPECT_EQ(s({V(0), V(0), O(Op::sub)}), "0.0");
  EXPECT_EQ(s({V(0), V(1), O(Op::add), V(0), V(1), O(Op::add), O(Op::div)}), "1.0");
  EXPECT_EQ(s({V(0), C(1.0), O(Op::mul)}), "x");
  EXPECT_EQ(s({C(0.0), V(1), O(Op::add)}), "y");
  EXPECT_EQ(s({V(0), C(2.0), O(Op::add), C(3.0), O(Op::add)}), "x + 5.0");
  EXPECT_EQ(s({C(2.0), V(0), O(Op::mul), C(3.0), O(Op::mul)}), "x*6.0");
  EXPECT_EQ(s({C(2.0), C(3.0), O(Op::mul), V(0), O(Op::sub)}), "6.0 - x");
  EXPECT_EQ(s({V(0), O(Op::neg), O(Op::neg)}), "x");
  EXPECT_EQ(s({V(0), O(Op::neg)}), "-x");
  EXPECT_EQ(s({C(4.0), O(Op::sqrt), V(0), O(Op::mul)}), "x*2.0");
  // x*y and y*x become the same array, so the hall of fame keeps one of them.
  EXPECT_EQ(sr::simplify(parse_postfix({V(0), V(1), O(Op::mul)})),
            sr::simplify(parse_postfix({V(1), V(0), O(Op::mul)})));
  // log(-1) is not folded into NaN: the expression stays (and stays invalid).
  EXPECT_EQ(s({C(-1.0), O(Op::log)}), "log(-1.0)");
}

TEST(SrPrint, SympyLatexCpp) {
  const std::vector<std::string> n = {"x1", "x2"};
  const auto e = parse_postfix({V(0), V(1), C(3.2), O(Op::sub), O(Op::cos), O(Op::mul)});
  EXPECT_EQ(sr::to_infix(e, n), "x1*cos(x2 - 3.2)");
  EXPECT_EQ(sr::to_latex(e, n), "x_{1} \\cdot \\cos{\\left(x_{2} - 3.2 \\right)}");
  EXPECT_EQ(sr::to_cpp(e, n), "x1*std::cos(x2 - 3.2)");
  const auto p = parse_postfix({V(0), V(1), O(Op::add), C(2.0), O(Op::pow), C(-1.5), O(Op::mul)});
  EXPECT_EQ(sr::to_infix(p, n), "(x1 + x2)**2.0*(-1.5)");
  EXPECT_EQ(sr::to_cpp(p, n), "std::pow(x1 + x2, 2.0)*(-1.5)");
  const auto q = parse_postfix({V(0), V(1), O(Op::square), O(Op::div), V(0), O(Op::neg), O(Op::sub),
                                O(Op::inv), O(Op::abs)});
  EXPECT_EQ(sr::to_infix(q, n), "Abs(1/(x1/x2**2 - (-x1)))");
  EXPECT_EQ(sr::to_cpp(q, n), "std::fabs(1.0/(x1/((x2)*(x2)) - (-x1)))");
  const auto r = parse_postfix({V(0), V(1), O(Op::sub), C(2.0), O(Op::div)});
  EXPECT_EQ(sr::to_infix(r, n), "(x1 - x2)/2.0");
  EXPECT_EQ(sr::to_latex(r, n), "\\frac{x_{1} - x_{2}}{2.0}");
  EXPECT_EQ(sr::format_number(0.1), "0.1");
  EXPECT_EQ(sr::format_number(1e-20), "1e-20");
}

TEST(SrConstantFit, LevenbergMarquardtConvergesOnAKnownFit) {
  // y = 2.5 exp(-0.7 x) + 0.3 from the start (1, -0.1, 0): the fit must reach the true
  // constants, i.e. a loss at round-off level.
  sr::Dataset d;
  d.names = {"x"};
  d.x.resize(1);
  for (int r = 0; r < 100; ++r) {
    const double x = 0.05 * r;
    d.x[0].push_back(x);
    d.y.push_back(2.5 * std::exp(-0.7 * x) + 0.3);
  }
  auto e = parse_postfix(
      {C(1.0), C(-0.1), V(0), O(Op::mul), O(Op::exp), O(Op::mul), C(0.0), O(Op::add)});
  sr::Evaluator ev;
  const sr::FitResult fit = sr::fit_constants(e, d, ev, 100);
  EXPECT_GT(fit.loss_before, 0.1);
  EXPECT_LT(fit.loss, 1e-24);
  const auto c = e.constants();
  EXPECT_NEAR(c[0], 2.5, 1e-10);
  EXPECT_NEAR(c[1], -0.7, 1e-10);
  EXPECT_NEAR(c[2], 0.3, 1e-10);
}

TEST(SrConstantFit, AbsoluteLossIsRobustToOutliersWhereSquaredIsNot) {
  // y = 2x + 1 on 101 points of [-1, 1], every tenth one (11 of them) shifted up by 50. The
  // least-squares line is the closed-form one (intercept 1 + 50 * 11/101, slope shifted by the
  // outliers' x); the smoothed absolute loss recovers the clean line (the L1 fit is exact
  // on 90 of 101 points).
  std::vector<double> x, y;
  for (int k = 0; k <= 100; ++k) {
    x.push_back(-1.0 + 0.02 * k);
    y.push_back(2.0 * x.back() + 1.0 + (k % 10 == 0 ? 50.0 : 0.0));
  }
  const std::size_t R = x.size();
  const sr::Linearize linearize = [&](const std::vector<double>& t, double* rho, double* jac) {
    for (std::size_t k = 0; k < R; ++k) {
      rho[k] = y[k] - (t[0] * x[k] + t[1]);
      jac[k] = x[k];
      jac[R + k] = 1.0;
    }
    return true;
  };
  std::vector<double> rho(R);
  const auto objective_for = [&](const sr::LmSettings& s) {
    return sr::Objective([&, s](const std::vector<double>& t) {
      for (std::size_t k = 0; k < R; ++k) rho[k] = y[k] - (t[0] * x[k] + t[1]);
      return sr::fit_objective(rho.data(), R, nullptr, s);
    });
  };
  // Closed-form least squares.
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t k = 0; k < R; ++k) {
    sx += x[k], sy += y[k], sxx += x[k] * x[k], sxy += x[k] * y[k];
  }
  const double slope = (R * sxy - sx * sy) / (R * sxx - sx * sx), icept = (sy - slope * sx) / R;
  sr::LmSettings squared;
  std::vector<double> t = {0.0, 0.0};
  const auto fs = sr::levenberg_marquardt(t, R, linearize, objective_for(squared), nullptr, squared);
  EXPECT_NEAR(t[0], slope, 1e-9);
  EXPECT_NEAR(t[1], icept, 1e-9);
  EXPECT_GT(t[1], 5.0);  // pulled up by the outliers
  EXPECT_LT(fs.loss, fs.loss_before);

  sr::LmSettings absolute;
  absolute.loss = sr::FitLoss::absolute;
  absolute.delta = 1e-6;
  absolute.max_iterations = 500;
  t = {0.0, 0.0};
  const auto fa = sr::levenberg_marquardt(t, R, linearize, objective_for(absolute), nullptr, absolute);
  EXPECT_NEAR(t[0], 2.0, 1e-4);
  EXPECT_NEAR(t[1], 1.0, 1e-4);
  EXPECT_LT(fa.loss, fa.loss_before);
  // At the clean line the loss is the outliers' mean absolute residual (50 * 11/101).
  EXPECT_NEAR(fa.loss, 50.0 * 11.0 / 101.0, 1e-3);
  absolute.delta = 0.0;
  t = {0.0, 0.0};
  EXPECT_THROW(sr::levenberg_marquardt(t, R, linearize, objective_for(absolute), nullptr, absolute),
               phyflow::Error);
}

TEST(SrConstantFit, TrimmedFitLeavesTheLargestTargetsOutUnlessThatFitsThemWorse) {
  // f = a x on x = 1..100 with y = x, except y = 2x on the ten largest x: those are the
  // largest |y|, the rows a trim of 0.1 leaves out. Trimmed, the fit is a = 1 exactly.
  std::vector<double> x, y;
  for (int k = 1; k <= 100; ++k) {
    x.push_back(k);
    y.push_back(k > 90 ? 2.0 * k : double(k));
  }
  const std::size_t R = x.size();
  const sr::Residuals residuals = [&](const std::vector<double>& t, double* rho) {
    for (std::size_t k = 0; k < R; ++k) rho[k] = y[k] - t[0] * x[k];
    return true;
  };
  const sr::Linearize linearize = [&](const std::vector<double>& t, double* rho, double* jac) {
    residuals(t, rho);
    for (std::size_t k = 0; k < R; ++k) jac[k] = x[k];
    return true;
  };
  double sxx = 0, sxy = 0;
  for (std::size_t k = 0; k < R; ++k) sxx += x[k] * x[k], sxy += x[k] * y[k];
  const double all_rows = sxy / sxx;  // least squares on every row: between 1 and 2
  sr::LmSettings squared;

  // From a = 0.5 the trimmed fit (a = 1) also fits the left-out rows better: kept.
  std::vector<double> t = {0.5};
  auto r = sr::trimmed_fit(t, y, residuals, linearize, 0.1, squared);
  EXPECT_EQ(r.left_out, 10u);
  EXPECT_FALSE(r.trim_rejected);
  EXPECT_NEAR(t[0], 1.0, 1e-12);
  EXPECT_LT(r.fit.loss, r.fit.loss_before);

  // From a = 2 (exact on the left-out rows) the trimmed fit would move a to 1 and fit them
  // worse: rejected, and the fit runs again from a = 2 on every row.
  t = {2.0};
  r = sr::trimmed_fit(t, y, residuals, linearize, 0.1, squared);
  EXPECT_TRUE(r.trim_rejected);
  EXPECT_EQ(r.left_out, 0u);
  EXPECT_NEAR(t[0], all_rows, 1e-9);
  EXPECT_GT(t[0], 1.05);
  const double rejected = t[0];

  // No trim: the plain fit on every row.
  t = {2.0};
  r = sr::trimmed_fit(t, y, residuals, linearize, 0.0, squared);
  EXPECT_FALSE(r.trim_rejected);
  EXPECT_EQ(r.left_out, 0u);
  EXPECT_EQ(t[0], rejected);  // the same fit as the rejected trim's second one
}

TEST(SrTrig, VectorisableSinCosAgreeWithLibmToAboutOneUlp) {
  // Dense sweep over the fast range, points near multiples of pi/2 (where reduction loses
  // most), and the fallback beyond 1e5, inf and NaN.
  sr::Draws draws(17, "test-trig", 0, 0);
  double worst = 0.0;
  auto check = [&](double x) {
    const double c = sr::trig::cos(x), s = sr::trig::sin(x);
    if (!std::isfinite(x)) {
      EXPECT_TRUE(std::isnan(c) && std::isnan(s)) << x;
      return;
    }
    // Error in units of the result's magnitude, floored at 2^-53 near zeros.
    const double ec = std::fabs(c - std::cos(x)) / std::max(std::fabs(std::cos(x)), 0x1p-10);
    const double es = std::fabs(s - std::sin(x)) / std::max(std::fabs(std::sin(x)), 0x1p-10);
    worst = std::max(worst, std::max(ec, es));
    ASSERT_LE(ec, 4e-16) << "cos " << x;
    ASSERT_LE(es, 4e-16) << "sin " << x;
  };
  for (int i = 0; i < 200000; ++i) check(40.0 * draws.uniform() - 20.0);
  for (int i = 0; i < 20000; ++i) check((2e5 * draws.uniform() - 1e5));
  for (int k = -2000; k <= 2000; ++k)
    for (double d : {-1e-9, 0.0, 1e-9}) check(k * 1.5707963267948966 + d);
  for (double x : {0.0, -0.0, 1e5, -1e5, 1.0000001e5, 1e300, -1e22, double(HUGE_VAL),
                   -double(HUGE_VAL), std::numeric_limits<double>::quiet_NaN()})
    check(x);
  EXPECT_EQ(sr::trig::cos(0.0), 1.0);
  EXPECT_EQ(sr::trig::sin(-0.0), -0.0);
  std::printf("worst relative error of the vectorisable sin/cos: %.3g\n", worst);
}

TEST(SrEvaluate, SameBitsAtEverySimdLevel) {
  // The batched walk is compiled for the baseline, AVX2 and AVX-512; results must not depend
  // on which one runs (islands on different nodes must agree).
  const sr::Dataset d = edge_data();
  sr::Grammar g(all_operators(), 3, 40);
  sr::Draws draws(19, "test-simd", 0, 0);
  sr::Evaluator ev;
  const phyflow::SimdLevel levels[] = {phyflow::SimdLevel::avx512, phyflow::SimdLevel::avx2,
                                       phyflow::SimdLevel::generic};
  int compared = 0;
  for (int k = 0; k < 1000; ++k) {
    const sr::Expression e = sr::random_expression(g, draws, 1 + draws.below(5));
    std::vector<double> ref(d.rows()), out(d.rows());
    phyflow::cap_simd_level(levels[0]);
    const bool ok = ev.evaluate(e, d, ref.data());
    const double loss = ev.loss(e, d);
    for (int l = 1; l < 3; ++l) {
      phyflow::cap_simd_level(levels[l]);
      ASSERT_EQ(ev.evaluate(e, d, out.data()), ok);
      const double loss_l = ev.loss(e, d);
      ASSERT_TRUE(loss_l == loss || (std::isnan(loss) && std::isnan(loss_l)));
      if (ok)
        for (std::size_t r = 0; r < d.rows(); ++r)
          ASSERT_EQ(std::memcmp(&out[r], &ref[r], sizeof(double)), 0)
              << phyflow::simd_level_name(levels[l]) << " " << sr::to_infix(e, d.names);
      compared += ok;
    }
  }
  phyflow::cap_simd_level(phyflow::SimdLevel::avx512);
  EXPECT_GT(compared, 200);
  std::printf("host SIMD level: %s\n", phyflow::simd_level_name(phyflow::detected_simd_level()));
}

TEST(SrConstantFit, SnapRemovesRoundOffConstantsAndKeepsTheFit) {
  // y = 1.5 p V; the search's form (0.51 - (p + 0.51)) * (V * -1.5) + 2.7e-17 must come out
  // without the round-off constant and the cancelling pair, with the same values.
  sr::Dataset d;
  d.names = {"p", "V"};
  d.x.resize(2);
  sr::Draws draws(23, "test-snap", 0, 0);
  for (int r = 0; r < 100; ++r) {
    const double p = 1 + 4 * draws.uniform(), v = 1 + 4 * draws.uniform();
    d.x[0].push_back(p);
    d.x[1].push_back(v);
    d.y.push_back(1.5 * p * v);
  }
  auto e =
      parse_postfix({C(0.5136474870533904), V(0), C(0.5136474870533904), O(Op::add), O(Op::sub),
                     V(1), C(-1.5), O(Op::mul), O(Op::mul), C(2.6861473033664168e-17), O(Op::add)});
  e = sr::simplify(e);
  sr::Evaluator ev;
  const double before = ev.loss(e, d);
  EXPECT_LT(before, 1e-28);
  const double after = sr::snap_constants(e, d, ev, 1e-26);
  EXPECT_LT(after, 1e-26);
  EXPECT_LE(e.complexity(), 6) << sr::to_infix(e, d.names);
  EXPECT_EQ(e.constant_count(), 1) << sr::to_infix(e, d.names);
  EXPECT_EQ(std::fabs(e.constants()[0]), 1.5) << sr::to_infix(e, d.names);
  std::printf("snapped: %s\n", sr::to_infix(e, d.names).c_str());
}

TEST(SrConstantFit, PruneFindsTheSimplestExactForm) {
  // y = a b: the search's exact form ((a b - a) + a) * 2 * 0.5 + 0 must prune to a*b.
  sr::Dataset d;
  d.names = {"a", "b"};
  d.x.resize(2);
  sr::Draws draws(29, "test-prune", 0, 0);
  for (int r = 0; r < 100; ++r) {
    d.x[0].push_back(1 + 4 * draws.uniform());
    d.x[1].push_back(1 + 4 * draws.uniform());
    d.y.push_back(d.x[0].back() * d.x[1].back());
  }
  auto e = parse_postfix({V(0), V(1), O(Op::mul), V(0), O(Op::sub), V(0), O(Op::add), C(2.0),
                          O(Op::mul), C(0.5), O(Op::mul), V(1), V(1), O(Op::sub), O(Op::add)});
  sr::Evaluator ev;
  ASSERT_LT(ev.loss(e, d), 1e-28);
  const double loss = sr::prune_exact(e, d, ev, 1e-26);
  EXPECT_LT(loss, 1e-26);
  EXPECT_EQ(sr::to_infix(e, d.names), "a*b");
  // Not exact: nothing is pruned.
  auto inexact = parse_postfix({V(0), V(1), O(Op::mul), C(1.001), O(Op::mul), V(0), O(Op::add)});
  const auto before = inexact;
  sr::prune_exact(inexact, d, ev, 1e-26);
  EXPECT_EQ(inexact, before);
}
