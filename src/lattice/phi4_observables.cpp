// phi^4 observables per sample and their analysis (definitions in phi4_observables.hpp).
#include "phyflow/lattice/phi4_observables.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/lattice/phi4_updates.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace phyflow::lattice {

Phi4Sample phi4_measure(const Phi4Field& field, const Phi4Couplings& c) {
  const Phi4Geometry& g = field.geometry();
  const int L = g.G[0];
  for (int k = 1; k < g.d; ++k)
    if (g.G[k] != L) throw input_error("phi4 observables need a cubic lattice L^d");
  const double V = static_cast<double>(field.global_sites());
  auto phi = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), field.data());

  // Exact slice sums, [k][tau] as (hi, lo) pairs, plus M and sum phi^2, one all-reduce.
  const std::size_t n_slices = static_cast<std::size_t>(g.d) * static_cast<std::size_t>(L);
  // The last entry counts sites whose phi or phi^2 is out of the exact range: the sample's
  // observables are then NaN rather than wrapped-around integers.
  std::vector<std::int64_t> parts(2 * (n_slices + 2) + 1, 0);
  const int len = g.n[g.d - 1], last = g.d - 1;
  std::int64_t* slice_parts = parts.data();
  std::int64_t* tail = parts.data() + 2 * n_slices;  // M (hi, lo), sum phi^2 (hi, lo)
  for (std::int64_t r = 0; r < g.rows(); ++r) {
    // Coordinates of the row (all but the last dimension), decoded once.
    std::int64_t rest = r, p0 = g.stride[last];
    int coord[Phi4Geometry::kMaxDims] = {0, 0, 0, 0};
    for (int k = g.d - 2; k >= 0; --k) {
      const int cc = static_cast<int>(rest % g.n[k]);
      rest /= g.n[k];
      p0 += (cc + 1) * g.stride[k];
      coord[k] = g.off[k] + cc;
    }
    // Fractions are carried into the integer part once per row (a row's fraction sum stays
    // far below 2^63), so no accumulator overflows on large blocks.
    constexpr std::int64_t mask = (std::int64_t{1} << ExactSum::kFractionBits) - 1;
    auto add = [&](std::int64_t* pair, std::int64_t hi, std::int64_t lo) {
      pair[0] += hi + (lo >> ExactSum::kFractionBits);
      pair[1] += lo & mask;
      if (pair[1] > mask) {
        pair[0] += pair[1] >> ExactSum::kFractionBits;
        pair[1] &= mask;
      }
    };
    std::int64_t row_hi = 0, row_lo = 0, sq_hi = 0, sq_lo = 0;
    for (int c = 0; c < len; ++c) {
      const double x = phi(p0 + c);
      if (!ExactSum::in_range(x * x)) {  // |x| >= 2^26, or not finite
        ++parts.back();
        continue;
      }
      const std::int64_t h = ExactSum::high(x), l = ExactSum::low(x);
      row_hi += h;
      row_lo += l;
      const std::size_t s_last = static_cast<std::size_t>(last) * L + (g.off[last] + c);
      add(slice_parts + 2 * s_last, h, l);
      sq_hi += ExactSum::high(x * x);
      sq_lo += ExactSum::low(x * x);
    }
    for (int k = 0; k < last; ++k)
      add(slice_parts + 2 * (static_cast<std::size_t>(k) * L + coord[k]), row_hi, row_lo);
    add(tail, row_hi, row_lo);
    add(tail + 2, sq_hi, sq_lo);
  }
  std::vector<std::int64_t> total(parts.size(), 0);
  check_mpi(MPI_Allreduce(parts.data(), total.data(), static_cast<int>(parts.size()), MPI_INT64_T,
                          MPI_SUM, field.decomposition().comm()),
            "MPI_Allreduce");
  auto value = [&](std::size_t s) {
    return ExactSum::from_parts(total[2 * s], total[2 * s + 1], total.back()).value();
  };

  Phi4Sample out;
  out.magnetization = value(n_slices) / V;
  out.phi2 = value(n_slices + 1) / V;
  out.action = phi4_field_action(field, c).value();
  out.correlator.assign(static_cast<std::size_t>(L), 0.0);
  std::vector<double> slice(static_cast<std::size_t>(L));
  for (int k = 0; k < g.d; ++k) {
    for (int t = 0; t < L; ++t) slice[t] = value(static_cast<std::size_t>(k) * L + t);
    for (int t = 0; t < L; ++t) {
      double s = 0.0;
      for (int tau = 0; tau < L; ++tau) s += slice[tau] * slice[(tau + t) % L];
      out.correlator[t] += s;
    }
  }
  for (double& v : out.correlator) v /= V * g.d;
  return out;
}

namespace {

struct Derived {
  double chi2;
  std::vector<double> g_c, m_eff;
};

/// chi2, G_c and m_eff from means of m and C(t).
Derived derive(double mean_m, const std::vector<double>& mean_c, int L, double V) {
  Derived d;
  const double disconnected = V / L * mean_m * mean_m;
  d.g_c.resize(static_cast<std::size_t>(L));
  d.chi2 = 0.0;
  for (int t = 0; t < L; ++t) {
    d.g_c[t] = mean_c[t] - disconnected;
    d.chi2 += d.g_c[t];
  }
  for (int t = 1; t < L / 2; ++t) {
    const double r = (d.g_c[t - 1] + d.g_c[t + 1]) / (2.0 * d.g_c[t]);
    d.m_eff.push_back(r >= 1.0 ? std::acosh(r) : std::numeric_limits<double>::quiet_NaN());
  }
  return d;
}

}  // namespace

Phi4Analysis phi4_analyse(const std::vector<double>& m, const std::vector<double>& action,
                          const std::vector<double>& phi2, const std::vector<double>& correlator,
                          int L, double volume) {
  const std::size_t n = m.size();
  if (n < 2 || correlator.size() != n * static_cast<std::size_t>(L) || action.size() != n)
    throw input_error("phi4 analysis needs at least 2 samples with a correlator of L values each");
  Phi4Analysis a;
  std::vector<double> abs_m(n), s_per_site(n), chi_est(n);
  for (std::size_t i = 0; i < n; ++i) {
    abs_m[i] = std::fabs(m[i]);
    s_per_site[i] = action[i] / volume;
    chi_est[i] = volume * m[i] * m[i];
  }
  a.m = gamma_method(m);
  a.abs_m = gamma_method(abs_m);
  a.action_per_site = gamma_method(s_per_site);
  a.phi2 = gamma_method(phi2);
  a.chi2_estimator = gamma_method(chi_est);

  // Bins of at least 4 tau_int (of the slowest of |m|, M^2/V, S and the long-distance
  // correlator C(L/2), which the effective mass depends on), at least 2 of them.
  std::vector<double> c_half(n);
  for (std::size_t i = 0; i < n; ++i) c_half[i] = correlator[i * L + L / 2];
  SeriesStatistics c_half_stats = gamma_method(c_half);
  double tau = 0.5;
  for (const auto* st : {&a.abs_m, &a.chi2_estimator, &a.action_per_site, &c_half_stats})
    if (std::isfinite(st->tau_int)) tau = std::max(tau, st->tau_int);
  a.bin_size = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(4.0 * tau)));
  a.bins = std::max<std::size_t>(2, n / a.bin_size);
  a.bin_size = n / a.bins;
  const std::size_t used = a.bins * a.bin_size, first = n - used;  // drop the oldest remainder

  const std::size_t width = 1 + static_cast<std::size_t>(L);
  std::vector<double> bin_sum(a.bins * width, 0.0), total(width, 0.0);
  for (std::size_t i = first; i < n; ++i) {
    const std::size_t b = (i - first) / a.bin_size;
    bin_sum[b * width] += m[i];
    for (int t = 0; t < L; ++t) bin_sum[b * width + 1 + t] += correlator[i * L + t];
  }
  for (std::size_t b = 0; b < a.bins; ++b)
    for (std::size_t j = 0; j < width; ++j) total[j] += bin_sum[b * width + j];

  auto means_without = [&](std::size_t skip, double& mm, std::vector<double>& mc) {
    const double count = static_cast<double>(used - (skip < a.bins ? a.bin_size : 0));
    mm = (total[0] - (skip < a.bins ? bin_sum[skip * width] : 0.0)) / count;
    mc.resize(static_cast<std::size_t>(L));
    for (int t = 0; t < L; ++t)
      mc[t] = (total[1 + t] - (skip < a.bins ? bin_sum[skip * width + 1 + t] : 0.0)) / count;
  };
  double mm;
  std::vector<double> mc;
  means_without(a.bins, mm, mc);
  const Derived full = derive(mm, mc, L, volume);
  std::vector<Derived> jack;
  for (std::size_t b = 0; b < a.bins; ++b) {
    means_without(b, mm, mc);
    jack.push_back(derive(mm, mc, L, volume));
  }
  const double B = static_cast<double>(a.bins);
  auto jack_error = [&](auto get) {
    double mean = 0.0;
    for (const Derived& d : jack) mean += get(d);
    mean /= B;
    double var = 0.0;
    for (const Derived& d : jack) var += (get(d) - mean) * (get(d) - mean);
    return std::sqrt((B - 1.0) / B * var);
  };
  a.chi2 = full.chi2;
  a.chi2_error = jack_error([](const Derived& d) { return d.chi2; });
  a.g_c = full.g_c;
  for (int t = 0; t < L; ++t)
    a.g_c_error.push_back(jack_error([t](const Derived& d) { return d.g_c[t]; }));
  a.m_eff = full.m_eff;
  for (std::size_t t = 0; t < full.m_eff.size(); ++t)
    a.m_eff_error.push_back(jack_error([t](const Derived& d) { return d.m_eff[t]; }));
  a.pole_mass_t = std::max(1, L / 4);
  if (!a.m_eff.empty()) {
    const std::size_t at = std::min(a.m_eff.size(), static_cast<std::size_t>(a.pole_mass_t)) - 1;
    a.pole_mass_t = static_cast<int>(at) + 1;
    a.pole_mass = a.m_eff[at];
    a.pole_mass_error = a.m_eff_error[at];
  } else {
    a.pole_mass = a.pole_mass_error = std::numeric_limits<double>::quiet_NaN();
  }
  return a;
}

}  // namespace phyflow::lattice
