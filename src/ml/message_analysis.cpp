// Message analysis of graph networks (message_analysis.hpp).
#include "phyflow/ml/message_analysis.hpp"

#include "phyflow/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace phyflow::ml {

namespace {

/// Ordinary least squares of y ~ X a + b over the rows with keep[i] set; solves the
/// (k + 1) x (k + 1) normal equations (centred, in long double) by Gaussian elimination with
/// partial pivoting. Returns {a..., b}.
std::vector<double> least_squares(const std::vector<double>& y, const std::vector<double>& x, int k,
                                  const std::vector<char>& keep) {
  const std::size_t rows = y.size();
  long double count = 0, ybar = 0;
  std::vector<long double> xbar(k, 0.0L);
  for (std::size_t i = 0; i < rows; ++i) {
    if (!keep[i]) continue;
    count += 1;
    ybar += y[i];
    for (int c = 0; c < k; ++c) xbar[c] += x[i * k + c];
  }
  if (count < k + 1) throw runtime_error("too few rows for a linear fit");
  ybar /= count;
  for (auto& v : xbar) v /= count;
  // Centred normal equations: (Xc^T Xc) a = Xc^T yc, b = ybar - xbar . a.
  std::vector<long double> a(k * (k + 1), 0.0L);  // augmented k x (k + 1)
  for (std::size_t i = 0; i < rows; ++i) {
    if (!keep[i]) continue;
    const long double yc = y[i] - ybar;
    for (int r = 0; r < k; ++r) {
      const long double xr = x[i * k + r] - xbar[r];
      for (int c = 0; c < k; ++c) a[r * (k + 1) + c] += xr * (x[i * k + c] - xbar[c]);
      a[r * (k + 1) + k] += xr * yc;
    }
  }
  for (int p = 0; p < k; ++p) {
    int best = p;
    for (int r = p + 1; r < k; ++r)
      if (std::fabs(a[r * (k + 1) + p]) > std::fabs(a[best * (k + 1) + p])) best = r;
    for (int c = 0; c <= k; ++c) std::swap(a[p * (k + 1) + c], a[best * (k + 1) + c]);
    const long double pivot = a[p * (k + 1) + p];
    if (pivot == 0.0L) continue;  // a feature constant over the kept rows: its coefficient is 0
    for (int r = 0; r < k; ++r) {
      if (r == p) continue;
      const long double f = a[r * (k + 1) + p] / pivot;
      for (int c = p; c <= k; ++c) a[r * (k + 1) + c] -= f * a[p * (k + 1) + c];
    }
  }
  std::vector<double> out(k + 1);
  long double b = ybar;
  for (int r = 0; r < k; ++r) {
    const long double pivot = a[r * (k + 1) + r];
    const long double coef = pivot == 0.0L ? 0.0L : a[r * (k + 1) + k] / pivot;
    out[r] = static_cast<double>(coef);
    b -= coef * xbar[r];
  }
  out[k] = static_cast<double>(b);
  return out;
}

double r_squared(const std::vector<double>& y, const std::vector<double>& residual2,
                 const std::vector<char>& keep) {
  long double n = 0, mean = 0;
  for (std::size_t i = 0; i < y.size(); ++i)
    if (keep[i]) {
      n += 1;
      mean += y[i];
    }
  mean /= n;
  long double sse = 0, sst = 0;
  for (std::size_t i = 0; i < y.size(); ++i)
    if (keep[i]) {
      sse += residual2[i];
      sst += (y[i] - mean) * (y[i] - mean);
    }
  // A target that does not vary over the rows judged explains nothing: 0, not the 1 of a
  // perfect fit. (A collapsed message component, e.g. a KL network's that sits at one value on
  // 98 % of the edges, is constant on the kept 90 % once the trimmed fit drops the rest.)
  return sst > 0 ? static_cast<double>(1.0L - sse / sst) : 0.0;
}

}  // namespace

LinearFit robust_linear_fit(const std::vector<double>& y, const std::vector<double>& features,
                            int k, double trim) {
  const std::size_t rows = y.size();
  if (k < 1 || features.size() != rows * std::size_t(k))
    throw runtime_error("robust_linear_fit: features must be rows x k");
  if (!(trim >= 0.0 && trim < 0.5)) throw runtime_error("robust_linear_fit: trim must be in [0, 0.5)");
  const auto keep_count = static_cast<std::size_t>(std::ceil((1.0 - trim) * double(rows)));
  std::vector<char> keep(rows, 1);
  std::vector<double> coef, residual2(rows);
  for (int iteration = 0; iteration < 100; ++iteration) {
    coef = least_squares(y, features, k, keep);
    for (std::size_t i = 0; i < rows; ++i) {
      double pred = coef[k];
      for (int c = 0; c < k; ++c) pred += coef[c] * features[i * k + c];
      residual2[i] = (y[i] - pred) * (y[i] - pred);
    }
    if (keep_count >= rows) break;
    // Keep the keep_count rows with the smallest residuals (ties by row order).
    std::vector<std::size_t> order(rows);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return residual2[a] < residual2[b]; });
    std::vector<char> next(rows, 0);
    for (std::size_t i = 0; i < keep_count; ++i) next[order[i]] = 1;
    if (next == keep) break;
    keep.swap(next);
  }
  LinearFit fit;
  fit.coefficients.assign(coef.begin(), coef.begin() + k);
  fit.intercept = coef[k];
  fit.kept = std::count(keep.begin(), keep.end(), 1);
  fit.r2 = r_squared(y, residual2, keep);
  fit.r2_all = r_squared(y, residual2, std::vector<char>(rows, 1));
  return fit;
}

MessageAnalysis analyse_messages(const std::vector<double>& messages, int msg_dim,
                                 const std::vector<double>& forces, int d, double trim,
                                 int basis_cols) {
  if (msg_dim < d) throw runtime_error("analyse_messages: fewer message components than dimensions");
  const int k = basis_cols > 0 ? basis_cols : d;
  const std::size_t rows = forces.size() / std::size_t(k);
  if (messages.size() != rows * std::size_t(msg_dim))
    throw runtime_error("analyse_messages: messages and forces have different row counts");
  MessageAnalysis out;
  out.stds.assign(msg_dim, 0.0);
  for (int c = 0; c < msg_dim; ++c) {
    long double mean = 0, m2 = 0;
    for (std::size_t i = 0; i < rows; ++i) mean += messages[i * msg_dim + c];
    mean /= rows;
    for (std::size_t i = 0; i < rows; ++i) {
      const long double dv = messages[i * msg_dim + c] - mean;
      m2 += dv * dv;
    }
    out.stds[c] = static_cast<double>(std::sqrt(m2 / rows));
  }
  std::vector<int> order(msg_dim);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return out.stds[a] > out.stds[b]; });
  out.components.assign(order.begin(), order.begin() + d);
  double sum = 0;
  for (int c : out.components) {
    std::vector<double> y(rows);
    for (std::size_t i = 0; i < rows; ++i) y[i] = messages[i * msg_dim + c];
    out.fits.push_back(robust_linear_fit(y, forces, k, trim));
    sum += out.fits.back().r2;
  }
  out.r2 = sum / d;
  return out;
}

std::vector<ForceBasis> force_bases(const std::vector<double>& force,
                                    const std::vector<double>& features, int d, bool charged) {
  const int k = d + 5;  // dx.., r, m1, m2, q1, q2
  const std::size_t rows = force.size() / std::size_t(d);
  if (force.size() != rows * std::size_t(d) || features.size() != rows * std::size_t(k))
    throw runtime_error("force_bases: " + std::to_string(force.size()) + " force values and " +
                        std::to_string(features.size()) + " features are not rows x " +
                        std::to_string(d) + " and rows x " + std::to_string(k));
  // factors per edge: 1, 1/m1, q1, q1/m1
  const auto make = [&](const std::string& name, const std::vector<int>& which) {
    ForceBasis b{name, std::vector<double>(rows * which.size() * std::size_t(d)),
                 int(which.size()) * d};
    for (std::size_t r = 0; r < rows; ++r) {
      const double m1 = features[r * k + d + 1], q1 = features[r * k + d + 3];
      for (std::size_t w = 0; w < which.size(); ++w) {
        const double g = which[w] == 0 ? 1.0 : which[w] == 1 ? 1.0 / m1 : which[w] == 2 ? q1 : q1 / m1;
        for (int c = 0; c < d; ++c) b.values[r * b.cols + w * d + c] = g * force[r * d + c];
      }
    }
    return b;
  };
  std::vector<ForceBasis> out = {make("force", {0}), make("acceleration", {1}),
                                 make("force_and_acceleration", {0, 1})};
  if (charged) {
    out.push_back(make("field", {2}));
    out.push_back(make("force_acceleration_and_field", {0, 1, 2, 3}));
  }
  return out;
}

}  // namespace phyflow::ml
