// Evaluation of postfix expressions over the rows of a data set, vectorised over rows: rows
// are processed in batches of `batch_rows`, and each node runs one tight loop over a batch
// (dispatch per node per batch, never per row; no virtual calls). Leaves are not copied:
// a variable is a pointer into its column and a constant stays a scalar, so binary operators
// run specialised loops for (vector, vector), (vector, scalar) and (scalar, vector) operands,
// as DynamicExpressions.jl does. A non-finite value anywhere makes the expression invalid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "phyflow/sr/expression.hpp"

namespace phyflow::sr {

/// Regression data, column-major: x[f][row] is feature f of a row, y the target, w the
/// optional weights (empty: all 1).
struct Dataset {
  std::vector<std::string> names;  ///< feature names (column names in the input)
  std::string target = "y";
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  std::vector<double> w;

  std::size_t rows() const { return y.size(); }
  std::size_t features() const { return x.size(); }
  /// The rows `rows` of this data set (same columns), in that order.
  Dataset subset(const std::vector<std::size_t>& rows) const;
};

constexpr int batch_rows = 128;

/// Evaluates expressions; owns the per-thread work space (use one per thread).
class Evaluator {
 public:
  /// out[r] = e(row r) for every row. False when a value is non-finite anywhere (the
  /// contents of `out` are then unspecified).
  bool evaluate(const Expression& e, const Dataset& data, double* out);
  /// Weighted mean squared error sum w (e - y)^2 / sum w; +inf for an invalid expression.
  double loss(const Expression& e, const Dataset& data);
  /// Values and derivatives with respect to the constants (in node order) by forward-mode
  /// dual numbers through the same postfix walk: jac[k * rows + r] = d e(row r) / d c_k.
  /// False when a value or a derivative is non-finite.
  bool evaluate_with_jacobian(const Expression& e, const Dataset& data, double* out, double* jac);

  /// Nodes x rows evaluated so far by this evaluator (for rates in the progress line).
  std::uint64_t node_evaluations = 0;

 private:
  std::vector<double> work_;
  std::vector<const double*> cols_;
};

/// Reference interpreter: one row at a time, a plain switch per node, every node's value
/// checked. NaN when the expression is invalid at this row. For tests.
double evaluate_reference(const Expression& e, const std::vector<double>& row);

}  // namespace phyflow::sr
