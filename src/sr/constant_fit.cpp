// Levenberg-Marquardt constant fitting (see constant_fit.hpp): normal equations
// (J^T W J + lambda diag(J^T W J)) delta = J^T W r solved by Cholesky; lambda shrinks after
// an accepted step and grows after a rejected one (Nielsen's simple schedule). For the
// absolute loss W is reweighted by 1/sqrt(r^2 + delta^2) at every step (IRLS).
#include "phyflow/sr/constant_fit.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "phyflow/core/error.hpp"
#include "phyflow/sr/data.hpp"
#include "phyflow/sr/simplify.hpp"

namespace phyflow::sr {

namespace {

/// Solves A x = b for a symmetric positive definite A (n x n, row-major) in place; false
/// if A is not positive definite.
bool cholesky_solve(std::vector<double>& A, std::vector<double>& b, int n) {
  for (int j = 0; j < n; ++j) {
    double d = A[std::size_t(j * n + j)];
    for (int k = 0; k < j; ++k) d -= A[std::size_t(j * n + k)] * A[std::size_t(j * n + k)];
    if (!(d > 0.0) || !std::isfinite(d)) return false;
    const double l = std::sqrt(d);
    A[std::size_t(j * n + j)] = l;
    for (int i = j + 1; i < n; ++i) {
      double s = A[std::size_t(i * n + j)];
      for (int k = 0; k < j; ++k) s -= A[std::size_t(i * n + k)] * A[std::size_t(j * n + k)];
      A[std::size_t(i * n + j)] = s / l;
    }
  }
  for (int i = 0; i < n; ++i) {
    double s = b[std::size_t(i)];
    for (int k = 0; k < i; ++k) s -= A[std::size_t(i * n + k)] * b[std::size_t(k)];
    b[std::size_t(i)] = s / A[std::size_t(i * n + i)];
  }
  for (int i = n - 1; i >= 0; --i) {
    double s = b[std::size_t(i)];
    for (int k = i + 1; k < n; ++k) s -= A[std::size_t(k * n + i)] * b[std::size_t(k)];
    b[std::size_t(i)] = s / A[std::size_t(i * n + i)];
  }
  return true;
}

}  // namespace

double fit_objective(const double* rho, std::size_t rows, const double* w, const LmSettings& settings) {
  double sum = 0.0, wsum = 0.0;
  for (std::size_t k = 0; k < rows; ++k) {
    const double wk = w ? w[k] : 1.0;
    const double e = settings.loss == FitLoss::squared
                         ? rho[k] * rho[k]
                         : std::sqrt(rho[k] * rho[k] + settings.delta * settings.delta) - settings.delta;
    sum += wk * e;
    wsum += wk;
  }
  return std::isfinite(sum) && wsum > 0.0 ? sum / wsum : std::numeric_limits<double>::infinity();
}

FitResult levenberg_marquardt(std::vector<double>& theta, std::size_t rows, const Linearize& linearize,
                              const Objective& objective, const double* w, const LmSettings& settings) {
  FitResult res;
  res.loss_before = res.loss = objective(theta);
  const int K = int(theta.size());
  if (K == 0 || !std::isfinite(res.loss) || settings.max_iterations <= 0) return res;
  if (settings.loss == FitLoss::absolute && !(settings.delta > 0.0))
    throw runtime_error("sr: the absolute fit loss needs a smoothing scale delta > 0");
  std::vector<double> rho(rows), J(rows * std::size_t(K)), A(std::size_t(K) * std::size_t(K)),
      g(std::size_t(K), 0.0), step(std::size_t(K), 0.0);
  double lambda = 1e-3;
  while (res.iterations < settings.max_iterations) {
    if (!linearize(theta, rho.data(), J.data())) break;
    std::fill(A.begin(), A.end(), 0.0);
    std::fill(g.begin(), g.end(), 0.0);
    for (std::size_t r = 0; r < rows; ++r) {
      double wr = w ? w[r] : 1.0;
      if (settings.loss == FitLoss::absolute)
        wr /= std::sqrt(rho[r] * rho[r] + settings.delta * settings.delta);
      for (int i = 0; i < K; ++i) {
        const double wji = wr * J[std::size_t(i) * rows + r];
        g[std::size_t(i)] += wji * rho[r];
        for (int j = 0; j <= i; ++j)
          A[std::size_t(i * K + j)] += wji * J[std::size_t(j) * rows + r];
      }
    }
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < i; ++j) A[std::size_t(j * K + i)] = A[std::size_t(i * K + j)];
    bool accepted = false;
    double improvement = 0.0;
    while (lambda < 1e12) {
      std::vector<double> M = A;
      for (int i = 0; i < K; ++i) {
        // Marquardt's scaling by the diagonal, plus a floor so a constant the data do not
        // constrain (zero column) cannot make the system singular.
        const double d = A[std::size_t(i * K + i)];
        M[std::size_t(i * K + i)] = d + lambda * (d > 0.0 ? d : 1.0) + 1e-300;
      }
      step = g;
      if (cholesky_solve(M, step, K)) {
        std::vector<double> trial(theta);
        for (int i = 0; i < K; ++i) trial[std::size_t(i)] += step[std::size_t(i)];
        const double l = objective(trial);
        if (l < res.loss) {
          improvement = (res.loss - l) / res.loss;
          theta = trial;
          res.loss = l;
          lambda = std::max(lambda / 3.0, 1e-12);
          accepted = true;
          break;
        }
      }
      lambda *= 4.0;
    }
    if (!accepted) break;
    ++res.iterations;
    if (improvement < settings.min_improvement || res.loss == 0.0) break;
  }
  return res;
}

FitResult fit_constants(Expression& e, const Dataset& data, Evaluator& ev, int max_iterations) {
  std::vector<double> c = e.constants();
  Expression trial = e;
  const Linearize linearize = [&](const std::vector<double>& theta, double* rho, double* jac) {
    trial.set_constants(theta);
    if (!ev.evaluate_with_jacobian(trial, data, rho, jac)) return false;
    for (std::size_t r = 0; r < data.rows(); ++r) rho[r] = data.y[r] - rho[r];
    return true;
  };
  const Objective objective = [&](const std::vector<double>& theta) {
    trial.set_constants(theta);
    return ev.loss(trial, data);
  };
  LmSettings settings;
  settings.max_iterations = max_iterations;
  const auto res = levenberg_marquardt(c, data.rows(), linearize, objective,
                                       data.w.empty() ? nullptr : data.w.data(), settings);
  if (res.iterations > 0) e.set_constants(c);
  return res;
}

double snap_constants(Expression& e, const Dataset& data, Evaluator& ev, double floor) {
  double loss = ev.loss(e, data);
  if (!std::isfinite(loss)) return loss;
  // Every accepted snap removes a constant or fixes one to a round value; the bound only
  // guards against a refit that keeps moving a snapped value back.
  int budget = 4 * e.constant_count() + 4;
  bool changed = true;
  while (changed && budget-- > 0) {
    changed = false;
    for (std::size_t i = 0; i < e.size() && !changed; ++i) {
      if (e.nodes[i].op != Op::constant) continue;
      const double c = e.nodes[i].value;
      const double candidates[] = {0.0, std::round(c), std::round(2.0 * c) / 2.0,
                                   std::round(4.0 * c) / 4.0};
      for (double v : candidates) {
        if (v == c || std::fabs(v - c) > 1e-6 * std::max(1.0, std::fabs(c))) continue;
        Expression trial = e;
        trial.nodes[i].value = v;
        trial = simplify(trial);
        // Refit the other constants (the snapped one may have merged into them).
        if (trial.constant_count() > 0) fit_constants(trial, data, ev, 20);
        const double l = ev.loss(trial, data);
        if (l <= std::max(loss * (1.0 + 1e-6), floor)) {
          e = trial;
          loss = l;
          changed = true;
          break;
        }
      }
    }
  }
  return loss;
}

double prune_exact(Expression& e, const Dataset& data, Evaluator& ev, double floor,
                   const ComplexityWeights& weights) {
  double loss = ev.loss(e, data);
  if (!(loss <= floor)) return loss;
  bool changed = true;
  while (changed) {
    changed = false;
    const std::vector<int> size = subtree_sizes(e);
    const int complexity = e.complexity(weights);
    // Larger subtrees first: removing them gains most.
    std::vector<int> roots;
    for (int i = 0; i < int(e.size()); ++i)
      if (size[std::size_t(i)] > 1) roots.push_back(i);
    std::stable_sort(roots.begin(), roots.end(),
                     [&](int a, int b) { return size[std::size_t(a)] > size[std::size_t(b)]; });
    for (int i : roots) {
      const int len = size[std::size_t(i)], first = i - len + 1;
      // Candidates: every proper subtree of subtree i, then a constant.
      for (int j = i - 1; j >= first - 1 && !changed; --j) {
        std::vector<Node> repl;
        if (j >= first)
          repl.assign(e.nodes.begin() + (j - size[std::size_t(j)] + 1), e.nodes.begin() + j + 1);
        else
          repl.push_back(Node::constant(1.0));
        Expression trial;
        trial.nodes.reserve(e.size());
        trial.nodes.insert(trial.nodes.end(), e.nodes.begin(), e.nodes.begin() + first);
        trial.nodes.insert(trial.nodes.end(), repl.begin(), repl.end());
        trial.nodes.insert(trial.nodes.end(), e.nodes.begin() + i + 1, e.nodes.end());
        trial = simplify(trial);
        if (!trial.valid() || trial.complexity(weights) >= complexity) continue;
        if (trial.constant_count() > 0) fit_constants(trial, data, ev, 30);
        const double l = ev.loss(trial, data);
        if (l <= floor) {
          e = simplify(trial);
          loss = ev.loss(e, data);
          changed = true;
        }
      }
      if (changed) break;
    }
  }
  return loss;
}

TrimmedFitResult trimmed_fit(std::vector<double>& theta, const std::vector<double>& y,
                             const Residuals& residuals, const Linearize& linearize,
                             double trim_largest, const LmSettings& settings) {
  const std::size_t R = y.size();
  std::vector<double> weight(R, 1.0), rho(R);
  TrimmedFitResult res;
  if (trim_largest > 0.0 && R > 0) {
    const auto kept = select_rows(y, std::int64_t(R), trim_largest);
    std::fill(weight.begin(), weight.end(), 0.0);
    for (const auto k : kept) weight[std::size_t(k)] = 1.0;
    res.left_out = R - kept.size();
  }
  const Objective objective = [&](const std::vector<double>& t) {
    return residuals(t, rho.data()) ? fit_objective(rho.data(), R, weight.data(), settings)
                                    : std::numeric_limits<double>::infinity();
  };
  // Mean |rho| over the left-out rows (+inf where the model is not finite).
  const auto left_out_mae = [&](const std::vector<double>& t) {
    if (!residuals(t, rho.data())) return std::numeric_limits<double>::infinity();
    double sum = 0;
    for (std::size_t k = 0; k < R; ++k)
      if (weight[k] == 0.0) sum += std::abs(rho[k]);
    return sum / double(std::max<std::size_t>(res.left_out, 1));
  };
  const auto start = theta;
  const double before = res.left_out > 0 ? left_out_mae(theta) : 0.0;
  res.fit = levenberg_marquardt(theta, R, linearize, objective, weight.data(), settings);
  if (res.left_out > 0 && !(left_out_mae(theta) <= before)) {
    theta = start;
    std::fill(weight.begin(), weight.end(), 1.0);
    res.left_out = 0;
    res.trim_rejected = true;
    res.fit = levenberg_marquardt(theta, R, linearize, objective, weight.data(), settings);
  }
  return res;
}

}  // namespace phyflow::sr
