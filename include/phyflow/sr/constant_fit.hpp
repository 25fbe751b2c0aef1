// Constant fitting by Levenberg-Marquardt (Marquardt 1963, diagonal scaling of J^T W J) on
// the weighted squared error, with the Jacobian from the dual-number evaluator
// (Evaluator::evaluate_with_jacobian). Operon and PySR both tune constants this way (PySR
// with BFGS); a few iterations on a subsample are enough inside the search.
//
// The solver itself (levenberg_marquardt) takes any model through two callbacks, so the
// distill workflow refits the constants of a whole distilled model (edge equations summed
// into node equations) with the same code; it also minimises a smoothed absolute error by
// iteratively reweighted least squares.
#pragma once

#include "phyflow/sr/evaluate.hpp"

#include <cstddef>
#include <functional>

namespace phyflow::sr {

struct FitResult {
  double loss_before = 0.0;  ///< the error with the starting constants (+inf if invalid)
  double loss = 0.0;         ///< the error after fitting (never above loss_before)
  int iterations = 0;        ///< accepted steps
};

/// The error a fit minimises, per residual rho = y - f, with the weights w of the rows:
/// squared: sum w rho^2 / sum w; absolute: sum w (sqrt(rho^2 + delta^2) - delta) / sum w, the
/// mean absolute error smoothed within delta of zero (Charbonnier), which a few outliers do
/// not dominate.
enum class FitLoss { squared, absolute };

struct LmSettings {
  int max_iterations = 100;        ///< accepted steps at most
  double min_improvement = 1e-12;  ///< stop once a step lowers the error by less (relative)
  FitLoss loss = FitLoss::squared;
  double delta = 0.0;  ///< absolute loss: the smoothing scale (> 0), in the units of y
};

/// The model for levenberg_marquardt, in P parameters theta over R rows.
/// linearize(theta, rho, jac): rho[k] = y_k - f_k(theta), jac[i * R + k] = d f_k / d theta_i;
/// false when the model or a derivative is not finite at theta.
using Linearize = std::function<bool(const std::vector<double>& theta, double* rho, double* jac)>;
/// objective(theta): the error at theta as FitLoss defines it (+inf when not finite). Steps
/// are accepted on it; a model may compute it faster than through linearize.
using Objective = std::function<double(const std::vector<double>& theta)>;

/// Minimises objective over theta (in place) by Levenberg-Marquardt steps on the Gauss-Newton
/// model of the loss: (J^T W J + lambda diag) step = J^T W rho, with W = w for the squared
/// loss and W = w / sqrt(rho^2 + delta^2) (iteratively reweighted) for the absolute one. A
/// step is kept only if it lowers the objective, so the result is never worse than the start.
/// `w` (R values) may be null: every row weighs 1.
FitResult levenberg_marquardt(std::vector<double>& theta, std::size_t rows, const Linearize& linearize,
                              const Objective& objective, const double* w, const LmSettings& settings);

/// residuals(theta, rho): rho[k] = y_k - f_k(theta) for the R rows; false when not finite.
using Residuals = std::function<bool(const std::vector<double>& theta, double* rho)>;

struct TrimmedFitResult {
  FitResult fit;              ///< of the fit that was kept (loss: on its own weights)
  std::size_t left_out = 0;   ///< rows given weight 0 in the kept fit
  bool trim_rejected = false; ///< the trimmed fit did worse on its left-out rows: refit on all
};

/// levenberg_marquardt with weight 0 on the fraction `trim_largest` of the rows with the
/// largest |y| (the rows select_rows would drop), so that a few huge targets (close encounters
/// under an inverse-power force) do not steer the constants; guarded: if the result fits the
/// left-out rows worse (mean |rho|) than the starting constants did, constants free of those
/// rows have drifted into something wrong exactly there (a pole at the largest targets), and
/// the fit starts again from the starting constants on every row. trim_largest 0: a plain fit.
TrimmedFitResult trimmed_fit(std::vector<double>& theta, const std::vector<double>& y,
                             const Residuals& residuals, const Linearize& linearize,
                             double trim_largest, const LmSettings& settings);

/// The objective levenberg_marquardt's settings name, for residuals rho (R values) and
/// weights w (null: 1): the weighted mean squared or smoothed absolute error.
double fit_objective(const double* rho, std::size_t rows, const double* w, const LmSettings& settings);

/// Fits the constants of `e` in place to `data`; keeps the starting constants if no step
/// reduces the loss. Stops after `max_iterations` accepted steps or when a step improves
/// the loss by less than a relative 1e-12.
FitResult fit_constants(Expression& e, const Dataset& data, Evaluator& ev, int max_iterations);

/// Tidies a fitted expression for printing: each constant within a relative 1e-6 of 0, an
/// integer, a half or a quarter is snapped to it, the expression simplified (a zero term
/// vanishes) and the rest refitted, when the loss stays within a relative 1e-6 of the
/// original or below `floor` (round-off level). Returns the loss of the result.
double snap_constants(Expression& e, const Dataset& data, Evaluator& ev, double floor);

/// For an exact fit (loss <= floor): greedily replaces a subtree by one of its own subtrees
/// or by a constant, refitting the constants, whenever the result is still exact and less
/// complex; e.g. (x - y + y)*c1 + c2 with c2 = 0 becomes x*c1. Returns the loss. The search
/// stops at the first exact fit, which is rarely the simplest form of the law.
double prune_exact(Expression& e, const Dataset& data, Evaluator& ev, double floor,
                   const ComplexityWeights& weights = ComplexityWeights());

}  // namespace phyflow::sr
