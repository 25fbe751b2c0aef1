// Exact results for the 2D ferromagnetic Ising model, the references every Ising run is checked
// against. Convention: H = -J sum_<ij> s_i s_j over nearest-neighbour bonds of a periodic L x M
// square lattice (2 L M bonds), J = 1, k_B = 1, so K = beta J = beta and T = 1/beta.
#pragma once

namespace phyflow::lattice {

/// Onsager's critical point, T_c = 2 / ln(1 + sqrt 2) (Onsager 1944; Kramers-Wannier 1941).
constexpr double ising2d_critical_temperature = 2.2691853142130216;
/// beta_c = ln(1 + sqrt 2) / 2.
constexpr double ising2d_critical_beta = 0.44068679350977151;

/// log Z of the periodic L x M lattice at inverse temperature beta, from Kaufman's exact
/// finite-lattice partition function (B. Kaufman, Phys. Rev. 76, 1232 (1949); the four-product
/// form displayed at the start of P. D. Beale, Phys. Rev. Lett. 76, 78 (1996)). L, M >= 2 (odd
/// sizes are accepted and checked by enumeration too); beta > 0.
/// Accurate to a few ulp of log Z for L, M up to several hundred and any beta > 0.
double ising2d_exact_log_z(int L, int M, double beta);

/// Mean energy per site <H>/(L M) = -(1/LM) d log Z / d beta, differentiated analytically.
double ising2d_exact_energy_per_site(int L, int M, double beta);

/// Specific heat per site C/(L M) = beta^2 (<H^2> - <H>^2)/(L M)
///   = (beta^2/LM) d^2 log Z / d beta^2, differentiated analytically.
double ising2d_exact_specific_heat_per_site(int L, int M, double beta);

/// All three from one evaluation (they share the expensive mode sums).
struct IsingExactThermodynamics {
  double log_z;                   ///< log Z
  double energy_per_site;         ///< <H>/(L M)
  double specific_heat_per_site;  ///< beta^2 var(H)/(L M)
};
IsingExactThermodynamics ising2d_exact_thermodynamics(int L, int M, double beta);

/// Onsager's internal energy per site of the infinite lattice (L. Onsager, Phys. Rev. 65, 117
/// (1944)), in the textbook form u = -J coth 2K [1 + (2/pi)(2 tanh^2 2K - 1) K_1(k)] with
/// k = 2 sinh 2K / cosh^2 2K and K_1 the complete elliptic integral of the first kind
/// (e.g. K. Huang, Statistical Mechanics, 2nd ed., ch. 15).
double onsager_energy_per_site(double beta);

/// Spontaneous magnetisation per site of the infinite lattice, C. N. Yang, Phys. Rev. 85, 808
/// (1952): [1 - sinh^{-4}(2 beta)]^{1/8} for beta > beta_c, 0 otherwise.
double yang_magnetization(double beta);

}  // namespace phyflow::lattice
