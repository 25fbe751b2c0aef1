// Reading the physics out of a graph network's messages (seed 004; Cranmer et al.,
// arXiv:2006.11287 §4): the d message components with the largest spread across edges should
// be a linear transform of the true pair force. Each selected component m_k is fitted as
// m_k ~ a_k . F + b_k by least trimmed squares (the worst `trim` fraction of edges by squared
// residual is left out, as the paper's fit ignores its worst 10 %), and its R^2 is
// 1 - SSE / SST over the kept edges; message_r2 is the mean over the d components.
// Torch-free: the inputs are plain row-major arrays.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace phyflow::ml {

struct LinearFit {
  std::vector<double> coefficients;  ///< a (one per feature)
  double intercept = 0.0;            ///< b
  double r2 = 0.0;                   ///< over the kept rows
  double r2_all = 0.0;               ///< the same fit judged on every row
  std::int64_t kept = 0;             ///< rows kept by the trimming
};

/// y (rows) ~ features (rows x k, row-major) . a + b, least trimmed squares dropping the
/// `trim` fraction of rows with the largest squared residuals (C-steps from the full
/// least-squares fit until the kept set no longer changes). trim in [0, 0.5).
LinearFit robust_linear_fit(const std::vector<double>& y, const std::vector<double>& features,
                            int k, double trim = 0.1);

struct MessageAnalysis {
  std::vector<double> stds;     ///< standard deviation of every message component
  std::vector<int> components;  ///< the d most spread, largest first
  std::vector<LinearFit> fits;  ///< one per selected component, against the pair force
  double r2 = 0.0;              ///< mean of the fits' r2
};

/// messages: rows x msg_dim; forces: rows x d (the true force on the receiver from the
/// sender, one row per edge). basis_cols > 0: `forces` is any basis of rows x basis_cols
/// columns instead (e.g. [F, F/m1]) that the d most spread components are fitted against.
MessageAnalysis analyse_messages(const std::vector<double>& messages, int msg_dim,
                                 const std::vector<double>& forces, int d, double trim = 0.1,
                                 int basis_cols = 0);

/// What a message (or a distilled edge equation) is judged against, per edge: a basis of
/// rows x cols. The node model sees the receiver's m1 and q1, so a network may send g(m1, q1) F
/// for any g and still predict the accelerations: the pair force F (g = 1, what the paper's R²
/// assumes), the pair acceleration F/m1, both (g = a + b/m1), and under the charge law the
/// field q1 F (= F/q1 with q = +-1) and all four of F, F/m1, q1 F, q1 F/m1.
struct ForceBasis {
  std::string name;            ///< force, acceleration, force_and_acceleration, field, ...
  std::vector<double> values;  ///< rows x cols, row-major; blocks of d columns, one per factor
  int cols = 0;
};

/// The bases above for `force` (rows x d) and the edges' features (rows x (d + 5): dx.., r,
/// m1, m2, q1, q2, the graph network's edge variables), in the order force, acceleration,
/// force_and_acceleration and, when `charged`, field and force_acceleration_and_field (the
/// widest is last).
std::vector<ForceBasis> force_bases(const std::vector<double>& force,
                                    const std::vector<double>& features, int d, bool charged);

}  // namespace phyflow::ml
