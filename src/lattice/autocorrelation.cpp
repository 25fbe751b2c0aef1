// Gamma-method and binning error analysis of Monte Carlo time series (see autocorrelation.hpp).
#include "phyflow/lattice/autocorrelation.hpp"

#include "phyflow/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

namespace phyflow::lattice {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Lags up to this are summed directly (n multiply-adds each); beyond it one FFT computes all
/// lags at once, which costs about as much as this many direct lags for n ~ 1e6.
constexpr std::size_t kDirectLags = 64;

/// A window longer than n / kSamplesPerWindow flags the series as too short: tau_int then has a
/// relative error above 2 sqrt(1/20) ~ 45 % (the error bar above ~22 %), and with W ~ 5-8
/// tau_int this means fewer than ~100-150 tau_int of data.
constexpr std::size_t kSamplesPerWindow = 20;

/// Mean by two passes (the second pass removes the rounding error of the first).
double series_mean(const double* x, std::size_t n) {
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) sum += x[i];
  const double first = sum / static_cast<double>(n);
  double correction = 0.0;
  for (std::size_t i = 0; i < n; ++i) correction += x[i] - first;
  return first + correction / static_cast<double>(n);
}

/// sum_i d_i d_{i+lag}, with four partial sums so the loop pipelines without -ffast-math.
double lagged_product_sum(const std::vector<double>& d, std::size_t lag) {
  const std::size_t count = d.size() - lag;
  const double* a = d.data();
  const double* b = d.data() + lag;
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  std::size_t i = 0;
  for (; i + 4 <= count; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < count; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

/// exp(-2 pi i k / N) = cos - i sin for k < N/2, N a power of two >= 4, from a table of
/// N/4 + 1 cosines by the quarter-wave symmetry (computed directly, not by recurrence, so errors
/// stay O(eps); a quarter table also keeps the memory traffic small).
class UnitRoots {
 public:
  explicit UnitRoots(std::size_t N) : half_(N / 2), quarter_(N / 4), q_(N / 4 + 1) {
    for (std::size_t k = 0; k <= quarter_; ++k) {
      q_[k] = std::cos(2.0 * kPi * static_cast<double>(k) / static_cast<double>(N));
    }
  }
  double cos(std::size_t k) const { return k <= quarter_ ? q_[k] : -q_[half_ - k]; }
  double sin(std::size_t k) const { return k <= quarter_ ? q_[quarter_ - k] : q_[k - quarter_]; }

 private:
  std::size_t half_, quarter_;
  std::vector<double> q_;
};

/// In-place radix-2 complex FFT (iterative Cooley-Tukey, decimation in time) of length m = N/2
/// on split real/imaginary arrays, using the roots of the real length N. sign = -1 forward,
/// +1 inverse (unnormalised). Each stage's twiddles are gathered contiguously first so the
/// butterfly loop streams through memory.
void complex_fft(std::vector<double>& re, std::vector<double>& im, const UnitRoots& roots,
                 int sign) {
  const std::size_t m = re.size();
  for (std::size_t i = 1, j = 0; i < m; ++i) {  // bit-reversal permutation
    std::size_t bit = m >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      std::swap(re[i], re[j]);
      std::swap(im[i], im[j]);
    }
  }
  std::vector<double> wc(m / 2), ws(m / 2);
  for (std::size_t half = 1; half < m; half <<= 1) {
    const std::size_t stride = m / half;  // exp(-i pi j / half) = root[j m / half] of length 2m
    double* const cr = wc.data();
    double* const ci = ws.data();
    for (std::size_t j = 0; j < half; ++j) {
      cr[j] = roots.cos(j * stride);
      ci[j] = sign * roots.sin(j * stride);
    }
    for (std::size_t start = 0; start < m; start += 2 * half) {
      double* const ar = re.data() + start;
      double* const ai = im.data() + start;
      double* const br = ar + half;
      double* const bi = ai + half;
      for (std::size_t j = 0; j < half; ++j) {  // t = w b, w = cr + i ci
        const double tr = br[j] * cr[j] - bi[j] * ci[j];
        const double ti = bi[j] * cr[j] + br[j] * ci[j];
        br[j] = ar[j] - tr;
        bi[j] = ai[j] - ti;
        ar[j] += tr;
        ai[j] += ti;
      }
    }
  }
}

/// Gamma(0..max_lag) of the mean-free series d by the Wiener-Khinchin theorem: the power
/// spectrum of d zero-padded to N >= n + max_lag + 1 transforms back to the linear (not
/// circular) lagged sums for those lags. Both real transforms of length N run as complex
/// transforms of length N/2 on the even/odd samples packed as re/im (the standard real-FFT
/// split, e.g. Press et al., Numerical Recipes, sec. 12.3).
std::vector<double> autocovariance_fft(const std::vector<double>& d, std::size_t max_lag) {
  const std::size_t n = d.size();
  std::size_t N = 4;
  while (N < n + max_lag + 1) N <<= 1;
  const std::size_t m = N / 2;
  const UnitRoots roots(N);

  // Forward: z_j = d_{2j} + i d_{2j+1}, Z = FFT_m(z); then with E_k, O_k the transforms of the
  // even and odd samples, X_k = E_k + w^k O_k, E_k = (Z_k + conj Z_{m-k})/2,
  // O_k = (Z_k - conj Z_{m-k})/(2i), w = exp(-2 pi i / N).
  std::vector<double> re(m, 0.0), im(m, 0.0);
  for (std::size_t i = 0; i < n; ++i) (i % 2 == 0 ? re : im)[i / 2] = d[i];
  complex_fft(re, im, roots, -1);
  std::vector<double> power(m + 1);  // |X_k|^2 for k = 0..N/2; the rest follows by symmetry
  power[0] = (re[0] + im[0]) * (re[0] + im[0]);
  power[m] = (re[0] - im[0]) * (re[0] - im[0]);
  for (std::size_t k = 1; k < m; ++k) {
    const double er = 0.5 * (re[k] + re[m - k]), ei = 0.5 * (im[k] - im[m - k]);
    const double or_ = 0.5 * (im[k] + im[m - k]), oi = -0.5 * (re[k] - re[m - k]);
    const double c = roots.cos(k), s = roots.sin(k);  // w^k = c - i s
    const double xr = er + or_ * c + oi * s;
    const double xi = ei + oi * c - or_ * s;
    power[k] = xr * xr + xi * xi;
  }

  // Inverse of the real, even spectrum P: E_k = (P_k + P_{m-k})/2, O_k = w^{-k}(P_k - P_{m-k})/2,
  // Z_k = E_k + i O_k, z = IFFT_m(Z)/m gives d-correlation at 2j (re) and 2j+1 (im).
  for (std::size_t k = 0; k < m; ++k) {
    const double e = 0.5 * (power[k] + power[m - k]);
    const double o = 0.5 * (power[k] - power[m - k]);
    const double c = roots.cos(k), s = roots.sin(k);  // w^{-k} = c + i s
    re[k] = e - o * s;
    im[k] = o * c;
  }
  complex_fft(re, im, roots, +1);
  std::vector<double> gamma(max_lag + 1);
  for (std::size_t t = 0; t <= max_lag; ++t) {
    const double lagged_sum = (t % 2 == 0 ? re : im)[t / 2] / static_cast<double>(m);
    gamma[t] = lagged_sum / static_cast<double>(n - t);
  }
  return gamma;
}

/// Gamma(t) of a mean-free series, computed lazily: directly for small lags; by FFT beyond,
/// first padded only to the next power of two above n (which usually already covers every lag
/// the window needs), and only if that is not enough once more for all lags up to max_lag.
class LazyAutocovariance {
 public:
  LazyAutocovariance(const std::vector<double>& d, std::size_t max_lag)
      : d_(d), max_lag_(max_lag) {}

  double operator()(std::size_t t) {
    if (t >= gamma_.size()) {
      if (t <= kDirectLags) {
        while (gamma_.size() <= t) {
          const std::size_t lag = gamma_.size();
          gamma_.push_back(lagged_product_sum(d_, lag) / static_cast<double>(d_.size() - lag));
        }
      } else {
        const std::size_t n = d_.size();
        std::size_t N = 4;
        while (N < n + t + 1) N <<= 1;
        const std::size_t free_lags = N - n - 1;  // lags this padding gives for free
        const std::size_t lags = fft_done_ ? max_lag_ : std::max(free_lags, 4 * t);
        gamma_ = autocovariance_fft(d_, std::min(max_lag_, lags));
        fft_done_ = true;
      }
    }
    return gamma_[t];
  }

 private:
  const std::vector<double>& d_;
  std::size_t max_lag_;
  std::vector<double> gamma_;
  bool fft_done_ = false;
};

SeriesStatistics undefined_statistics(std::size_t n, double mean) {
  return {mean, kNaN, kNaN, kNaN, kNaN, 0, n, false};
}

}  // namespace

SeriesStatistics gamma_method(const double* x, std::size_t n, double S) {
  if (!(S > 0.0) || !std::isfinite(S)) {
    throw input_error("gamma_method: the window factor S must be finite and > 0 (got " +
                      std::to_string(S) + "); Wolff recommends S = 1 ... 2, default 1.5");
  }
  if (n == 0) return undefined_statistics(0, kNaN);
  const double mean = series_mean(x, n);
  if (!std::isfinite(mean)) return undefined_statistics(n, kNaN);
  if (n == 1) {
    SeriesStatistics out = undefined_statistics(1, mean);
    out.tau_int = 0.5;
    return out;
  }

  std::vector<double> d(x, x + n);
  for (double& v : d) v -= mean;
  const double nd = static_cast<double>(n);
  const double gamma0 = lagged_product_sum(d, 0) / nd;
  if (gamma0 == 0.0) return {mean, 0.0, 0.0, 0.5, 0.0, 0, n, true};  // constant series
  const double naive_error = std::sqrt(gamma0 / (nd - 1.0));  // sqrt(s^2/n), s^2 unbiased

  // Automatic windowing (Wolff 2004): with the running estimate
  // tau_int(W) = 1/2 + sum_{t=1}^W rho(t), the autocorrelation is modelled as exp(-t/tau(W)),
  // tau(W) = S / ln[(2 tau_int + 1)/(2 tau_int - 1)]; g(W) = exp(-W/tau) - tau/sqrt(W n) is the
  // derivative of (truncation bias + statistical error) in W, and W is its first sign change.
  // A non-positive running sum means the signal is already buried in noise: stop there.
  const std::size_t max_window = n / 2;
  LazyAutocovariance gamma(d, max_window);
  double rho_sum = 0.0;  // tau_int(W) - 1/2
  double gamma_sum = 0.0;
  std::size_t window = 0;
  bool found = false;
  for (std::size_t w = 1; w <= max_window; ++w) {
    const double g_t = gamma(w);
    gamma_sum += g_t;
    rho_sum += g_t / gamma0;
    bool stop = rho_sum <= 0.0;
    if (!stop) {
      const double wd = static_cast<double>(w);
      const double tau_w = S / std::log((rho_sum + 1.0) / rho_sum);
      stop = std::exp(-wd / tau_w) - tau_w / std::sqrt(wd * nd) < 0.0;
    }
    if (stop) {
      window = w;
      found = true;
      break;
    }
  }
  if (!found) window = max_window;

  // Bias correction (Wolff 2004): subtracting the sample mean biases every Gamma(t)
  // by -C/n to leading order, C = Gamma(0) + 2 sum_{t<=W} Gamma(t); add it back.
  const double wd = static_cast<double>(window);
  const double c_raw = gamma0 + 2.0 * gamma_sum;
  const double gamma0_corrected = gamma0 + c_raw / nd;
  const double c_corrected = std::max(0.0, c_raw * (1.0 + (2.0 * wd + 1.0) / nd));
  const double tau_int = c_corrected / (2.0 * gamma0_corrected);

  SeriesStatistics out{};
  out.mean = mean;
  out.error = std::sqrt(c_corrected / nd);
  out.naive_error = naive_error;
  out.tau_int = tau_int;
  out.tau_int_error = 2.0 * tau_int * std::sqrt(std::max(0.0, wd + 0.5 - tau_int) / nd);
  out.window = window;
  out.n = n;
  out.window_converged = found && window * kSamplesPerWindow <= n;
  return out;
}

SeriesStatistics gamma_method(const std::vector<double>& x, double S) {
  return gamma_method(x.data(), x.size(), S);
}

std::vector<double> autocovariance(const double* x, std::size_t n, std::size_t max_lag) {
  if (n == 0) return {};
  max_lag = std::min(max_lag, n - 1);
  const double mean = series_mean(x, n);
  std::vector<double> d(x, x + n);
  for (double& v : d) v -= mean;
  if (max_lag > kDirectLags) return autocovariance_fft(d, max_lag);
  std::vector<double> gamma(max_lag + 1);
  for (std::size_t t = 0; t <= max_lag; ++t) {
    gamma[t] = lagged_product_sum(d, t) / static_cast<double>(n - t);
  }
  return gamma;
}

std::vector<double> autocovariance(const std::vector<double>& x, std::size_t max_lag) {
  return autocovariance(x.data(), x.size(), max_lag);
}

namespace {

/// Error from `bins` bins of `bin_size` samples, the last bins * bin_size samples of x.
BinnedError bin_series(const std::vector<double>& x, std::size_t bins, std::size_t bin_size) {
  const std::size_t first = x.size() - bins * bin_size;
  std::vector<double> bin_means(bins);
  for (std::size_t b = 0; b < bins; ++b) {
    bin_means[b] = series_mean(x.data() + first + b * bin_size, bin_size);
  }
  const double mean = series_mean(bin_means.data(), bins);
  double scatter = 0.0;
  for (double m : bin_means) scatter += (m - mean) * (m - mean);
  const double bd = static_cast<double>(bins);
  return {mean, std::sqrt(scatter / (bd * (bd - 1.0))), bins, bin_size};
}

}  // namespace

BinnedError binned_error(const std::vector<double>& x, std::size_t n_bins) {
  if (n_bins < 2) {
    throw input_error("binned_error: n_bins must be >= 2 (got " + std::to_string(n_bins) +
                      "); the error comes from the scatter between bins");
  }
  if (x.size() < 2) {
    return {x.empty() ? kNaN : x[0], kNaN, x.size(), 1};
  }
  const std::size_t bins = std::min(n_bins, x.size());
  return bin_series(x, bins, x.size() / bins);
}

std::vector<BinnedError> binning_curve(const std::vector<double>& x, std::size_t min_bins) {
  min_bins = std::max<std::size_t>(min_bins, 2);
  std::vector<BinnedError> curve;
  for (std::size_t size = 1; x.size() / size >= min_bins; size *= 2) {
    curve.push_back(bin_series(x, x.size() / size, size));
  }
  return curve;
}

StallAwareStatistics stall_aware_error(const std::vector<double>& x,
                                       std::size_t longest_rejection_run, std::size_t max_bins) {
  if (max_bins < 2) {
    throw input_error("stall_aware_error: max_bins must be >= 2 (got " + std::to_string(max_bins) +
                      ")");
  }
  StallAwareStatistics out{};
  out.gamma = gamma_method(x);
  out.error = out.gamma.error;
  out.binned = {out.gamma.mean, kNaN, 0, 0};
  out.bins_span_stalls = false;
  if (x.size() < 2 || !std::isfinite(out.gamma.error)) return out;
  const double tau = std::isfinite(out.gamma.tau_int) ? out.gamma.tau_int : 0.5;
  const std::size_t stall = 2 * (longest_rejection_run + 1);
  const std::size_t min_size =
      std::max<std::size_t>({1, stall, static_cast<std::size_t>(std::ceil(4.0 * tau))});
  const std::size_t bins = std::max<std::size_t>(2, std::min(max_bins, x.size() / min_size));
  out.binned = bin_series(x, bins, x.size() / bins);
  out.bins_span_stalls = out.binned.bin_size >= stall;
  if (std::isfinite(out.binned.error)) out.error = std::max(out.error, out.binned.error);
  return out;
}

std::size_t decorrelation_interval(double tau_int, double factor) {
  const double interval = std::ceil(factor * tau_int);
  if (!(interval > 1.0)) return 1;  // also NaN
  if (interval >= 9.0e18) return std::numeric_limits<std::size_t>::max();
  return static_cast<std::size_t>(interval);
}

}  // namespace phyflow::lattice
