// Observables of the phi^4 field (AKS convention, phi4_action.hpp) per sample, and their
// analysis over a Monte Carlo series. Per sample: M = sum_x phi_x, S, and the slice
// correlator C(t) = 1/(V d) sum_mu sum_tau Phi_mu(tau) Phi_mu(tau + t) with the slice sums
// Phi_mu(tau) = sum_{x: x_mu = tau} phi_x (exact sums: bitwise the same on any rank count).
// Analysis (Albergo, Kanwar, Shanahan, PRD 100 (2019) 034515, sec. IV):
//   G_c(t) = <C(t)> - (V/L) <m>^2  (the connected two-point function summed over the other
//   directions, averaged over axes; m = M/V), chi2 = sum_t G_c(t) = <M^2>/V - V <m>^2,
//   effective (pole) mass m_eff(t) = arccosh[(G_c(t-1) + G_c(t+1)) / (2 G_c(t))].
// Errors: Gamma method (autocorrelation.hpp) for primary observables; jackknife over bins of
// at least 4 tau_int (of |m|, M^2/V, S and C(L/2)) for chi2, G_c and m_eff.
#pragma once

#include "phyflow/lattice/autocorrelation.hpp"
#include "phyflow/lattice/phi4_action.hpp"
#include "phyflow/lattice/phi4_field.hpp"

#include <vector>

namespace phyflow::lattice {

struct Phi4Sample {
  double magnetization = 0.0;      ///< M / V
  double action = 0.0;             ///< S (total)
  double phi2 = 0.0;               ///< sum_x phi_x^2 / V
  std::vector<double> correlator;  ///< C(t), t = 0..L-1
};

/// Measures one configuration (needs a valid halo; the lattice must be cubic, L^d).
Phi4Sample phi4_measure(const Phi4Field& field, const Phi4Couplings& c);

struct Phi4Analysis {
  SeriesStatistics m, abs_m, action_per_site, phi2, chi2_estimator;  ///< Gamma method
  double chi2 = 0.0, chi2_error = 0.0;                 ///< jackknife over bins
  std::vector<double> g_c, g_c_error;                  ///< t = 0..L-1
  std::vector<double> m_eff, m_eff_error;              ///< t = 1..L/2-1 (NaN where undefined)
  double pole_mass = 0.0, pole_mass_error = 0.0;       ///< m_eff at t = max(1, L/4)
  int pole_mass_t = 1;
  std::size_t bins = 0, bin_size = 0;
};

/// `correlator` holds n rows of L values (C(t) per sample), `m` and `action` n values each;
/// `volume` = L^d.
Phi4Analysis phi4_analyse(const std::vector<double>& m, const std::vector<double>& action,
                          const std::vector<double>& phi2, const std::vector<double>& correlator,
                          int L, double volume);

}  // namespace phyflow::lattice
