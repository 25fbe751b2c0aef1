// Constant fitting by Levenberg-Marquardt (Marquardt 1963, diagonal scaling of J^T W J) on
// the weighted squared error, with the Jacobian from the dual-number evaluator
// (Evaluator::evaluate_with_jacobian). Operon and PySR both tune constants this way (PySR
// with BFGS); a few iterations on a subsample are enough inside the search.
#pragma once

#include "phyflow/sr/evaluate.hpp"

namespace phyflow::sr {

struct FitResult {
  double loss_before = 0.0;  ///< weighted MSE with the starting constants (+inf if invalid)
  double loss = 0.0;         ///< weighted MSE after fitting (never above loss_before)
  int iterations = 0;        ///< accepted steps
};

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
