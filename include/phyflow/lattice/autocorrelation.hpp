// Error analysis of Monte Carlo time series: mean, error of the mean and integrated
// autocorrelation time by Wolff's Gamma method, plus binning. Used for every Monte Carlo
// observable (Ising, phi^4, HMC, flow MCMC). Series are in Monte Carlo time order, one sample
// per entry; tau_int is in units of that spacing, 1/2 for independent samples.
#pragma once

#include <cstddef>
#include <vector>

namespace phyflow::lattice {

/// Result of the Gamma method for one observable.
struct SeriesStatistics {
  double mean;            ///< sample mean
  double error;           ///< error of the mean, sqrt(2 tau_int Gamma(0) / n)
  double naive_error;     ///< error if the samples were independent, sqrt(s^2 / n)
  double tau_int;         ///< integrated autocorrelation time (1/2: no correlation)
  double tau_int_error;   ///< its error, 2 tau_int sqrt((W + 1/2 - tau_int)/n) (Madras-Sokal)
  std::size_t window;     ///< summation window W chosen by the automatic windowing
  std::size_t n;          ///< number of samples
  bool window_converged;  ///< false: no window found, or window > n/20 (series too short)
};

/// U. Wolff, "Monte Carlo errors with less errors", Comput. Phys. Commun. 156 (2004) 143
/// (hep-lat/0306017), for a primary observable: Gamma(t) summed up to the automatic window
/// W (first W with g(W) = exp(-W/tau(W)) - tau(W)/sqrt(W n) < 0, where
/// tau(W) = S / ln[(2 tau_int(W) + 1)/(2 tau_int(W) - 1)]), bias-corrected Gamma.
/// S ~ 1-2 (Wolff's default 1.5) trades truncation bias against statistical noise.
/// Cost O(n) per lag up to lag 64, then one O(n log n) FFT for all lags.
/// Edge cases: n = 0 gives mean NaN; n = 1 gives error NaN; a constant series gives error 0,
/// tau_int 1/2; a series with NaN/inf gives NaN statistics. Only S <= 0 throws (input_error).
SeriesStatistics gamma_method(const double* x, std::size_t n, double S = 1.5);
SeriesStatistics gamma_method(const std::vector<double>& x, double S = 1.5);

/// Autocovariance Gamma(t) = 1/(n - t) sum_i (x_i - xbar)(x_{i+t} - xbar), t = 0..max_lag
/// (max_lag clipped to n - 1). Direct sums for small max_lag, an FFT otherwise.
std::vector<double> autocovariance(const double* x, std::size_t n, std::size_t max_lag);
std::vector<double> autocovariance(const std::vector<double>& x, std::size_t max_lag);

/// Error of the mean from n_bins equal bins (the oldest n mod n_bins samples are dropped):
/// error = sqrt(sum_b (m_b - m)^2 / (B (B - 1))). Reliable once bin_size >> tau_int.
struct BinnedError {
  double mean;           ///< mean of the samples used
  double error;          ///< error of the mean from the scatter of the bin means
  std::size_t bins;      ///< number of bins B
  std::size_t bin_size;  ///< samples per bin
};
/// n_bins >= 2 (else input_error); fewer samples than bins gives one sample per bin.
BinnedError binned_error(const std::vector<double>& x, std::size_t n_bins = 32);

/// Binned error for bin sizes 1, 2, 4, ... as long as at least min_bins bins remain: the
/// error grows with bin size and plateaus at the true error once bin_size >> tau_int
/// (error(1) is the naive error; plateau/naive = sqrt(2 tau_int)).
std::vector<BinnedError> binning_curve(const std::vector<double>& x, std::size_t min_bins = 32);

/// Error of the mean of a Metropolis chain that can stall for long stretches (an independence
/// sampler whose proposals have heavy-tailed weights: the chain holds a rare proposal of large
/// weight for thousands of steps). Its autocorrelation then has a slow tail of small amplitude
/// (measured on an 8 x 8 Ising flow chain: rho(t) ~ 0.07 at t = 1000-2000) that the Gamma
/// method's automatic window stops short of, once rho(t) is below its noise (there W ~ 130-400),
/// so its error can be ~1.5x too small. Bins that each span the longest stall see the tail.
/// Result: the larger of the Gamma-method error and the binned error over B bins of at least
/// max(2 (longest_rejection_run + 1), 4 tau_int) samples, B = min(max_bins, n / that) but >= 2
/// (the larger estimate: either can miss what the other sees; the binned one's own relative
/// error is ~1/sqrt(2 (B - 1)), so the maximum errs on the safe side by ~10 % at B = 32).
struct StallAwareStatistics {
  SeriesStatistics gamma;  ///< the Gamma method on the whole chain
  BinnedError binned;      ///< the binned error (bins = 0: fewer than 2 samples)
  double error;            ///< max(gamma.error, binned.error); NaN as the Gamma method's
  bool bins_span_stalls;   ///< false: n < 2 (2 (longest_rejection_run + 1)), the two bins are
                           ///< shorter than twice the longest stall, and the error is unreliable
};
/// max_bins >= 2 (else input_error).
StallAwareStatistics stall_aware_error(const std::vector<double>& x,
                                       std::size_t longest_rejection_run,
                                       std::size_t max_bins = 32);

/// Samples to skip between stored measurements so they are nearly independent:
/// max(1, ceil(factor * tau_int)); 1 for tau_int NaN or <= 0.
std::size_t decorrelation_interval(double tau_int, double factor = 2.0);

}  // namespace phyflow::lattice
