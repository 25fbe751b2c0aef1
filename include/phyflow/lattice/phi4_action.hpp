// The lattice phi^4 action in its three conventions, the converters between them, a serial
// reference evaluation, and the exact free-field answer: the one definition that the phi4
// Monte Carlo kernels (lattice), the flows (torch) and the workflows' decks all use.
//
// Albergo-Kanwar-Shanahan (AKS, arXiv:1904.12072 eq. 20), the canonical form here:
//   S = sum_x [ sum_mu (2 phi_x^2 - phi_x phi_{x+mu} - phi_x phi_{x-mu}) + m2 phi_x^2 + lambda phi_x^4 ]
//     = sum_x [ (2d + m2) phi_x^2 - 2 sum_mu phi_x phi_{x+mu} + lambda phi_x^4 ].
// normflow:  S = sum_x [ kappa/2 sum_mu (phi_{x+mu} - phi_x)^2 + m_sq/2 phi_x^2 + lambda phi_x^4 ];
//   with phi_aks = sqrt(kappa/2) phi_nf:  m2 = m_sq / kappa,  lambda_aks = 4 lambda_nf / kappa^2
//   (kappa = 2 is the AKS action itself with m_sq = 2 m2).
// hopping:   S = sum_x [ -2 kappa sum_mu phi_x phi_{x+mu} + (1 - 2 lambda_h) phi_x^2 + lambda_h phi_x^4 ];
//   with phi_aks = sqrt(kappa) phi_h:  (2d + m2) kappa = 1 - 2 lambda_h,  lambda kappa^2 = lambda_h.
// Lattice: periodic, L sites in each of d = 1..4 dimensions, row-major (last index fastest).
#pragma once

#include <cstddef>
#include <string>

namespace phyflow::lattice {

/// AKS couplings (the canonical convention of phyflow's decks and files).
struct Phi4Couplings {
  double m2 = 0.0;
  double lambda = 0.0;
};
/// normflow's (kappa, m_sq, lambda).
struct Phi4Normflow {
  double kappa = 2.0;
  double m_sq = 0.0;
  double lambda = 0.0;
};
/// Hopping-parameter form (kappa, lambda_h).
struct Phi4Hopping {
  double kappa = 0.0;
  double lambda = 0.0;
};

/// A theory in another convention expressed in AKS form: phi_aks = field_scale * phi_other,
/// and S_other(phi_other) = S_aks(field_scale * phi_other) exactly.
struct Phi4InAks {
  Phi4Couplings couplings;
  double field_scale = 1.0;
};

Phi4InAks from_normflow(const Phi4Normflow& nf);
Phi4InAks from_hopping(const Phi4Hopping& h, int dims);
/// normflow form with a chosen kappa (kappa = 2 keeps the field unscaled).
Phi4Normflow to_normflow(const Phi4Couplings& c, double kappa = 2.0);
/// Hopping form: kappa solves 2 lambda kappa^2 + (2d + m2) kappa - 1 = 0 (positive root);
/// throws input_error where no positive kappa exists (lambda = 0 and 2d + m2 <= 0).
Phi4Hopping to_hopping(const Phi4Couplings& c, int dims);

/// Number of sites L^d; throws input_error unless 1 <= dims <= 4 and L >= 2.
std::size_t phi4_volume(int dims, int L);

/// S_aks(phi) of one configuration (L^d values, row-major), summed serially in site order in
/// double precision; T = double or float (the flows' fields).
template <typename T>
double phi4_action(const T* phi, int dims, int L, const Phi4Couplings& c);
/// scale * dS/dphi_x for every site into `gradient` (L^d values), computed in double:
///   2(2d + m2) phi_x - 2 sum_mu (phi_{x+mu} + phi_{x-mu}) + 4 lambda phi_x^3.
template <typename T>
void phi4_action_gradient(const T* phi, int dims, int L, const Phi4Couplings& c, T* gradient,
                          double scale = 1.0);

/// Exact <phi_x^2> of the free field (lambda = 0, m2 > 0) on the periodic lattice:
///   (1 / 2V) sum_k 1 / (khat^2 + m2),  khat^2 = sum_mu 4 sin^2(pi q_mu / L).
double free_field_phi2(int dims, int L, double m2);
/// Exact connected two-point susceptibility chi2 = sum_x <phi_0 phi_x> of the free field:
///   the k = 0 propagator 1 / (2 m2).
double free_field_chi2(double m2);
/// Exact log Z = log int exp(-S_aks) dphi of the free field on the periodic lattice:
///   (V/2) log pi - (1/2) sum_k log(khat^2 + m2)   (S_aks = phi^T (-laplacian + m2) phi).
double free_field_log_z(int dims, int L, double m2);

}  // namespace phyflow::lattice
