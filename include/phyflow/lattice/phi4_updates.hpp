// Monte Carlo updates of the phi^4 field in the AKS convention (phi4_action.hpp):
//   S = sum_x [ (2d + m2) phi_x^2 - 2 sum_mu phi_x phi_{x+mu} + lambda phi_x^4 ].
// Checkerboard local Metropolis and hybrid Monte Carlo (leapfrog or Omelyan 2MN integrator),
// Kokkos kernels over the domain-decomposed field (phi4_field.hpp). Every random number is a
// pure function of (seed, purpose, global site, step) and every global sum steering the chain
// is exact (exact_sum.hpp), so a chain is bitwise identical on any rank count.
#pragma once

#include "phyflow/lattice/phi4_action.hpp"
#include "phyflow/lattice/phi4_field.hpp"

#include <cstdint>
#include <string>

namespace phyflow::lattice {

/// Checkerboard local Metropolis: for colour 0 then 1, every site of that colour proposes
/// phi -> phi + step (2u - 1) and accepts with min(1, exp(-dS)), `hits` times in a row; the
/// halo is refreshed after each colour. Site x's draw for hit h of sweep s, colour c, is
/// Philox(seed, "phi4-metropolis") at counter (global x, ((s hits + h) << 1) | c): words 0-1
/// give u, words 2-3 the accept uniform.
class Phi4Metropolis {
 public:
  Phi4Metropolis(Phi4Couplings couplings, double step, int hits = 1);
  /// One sweep; returns the number of accepted proposals over the whole lattice (exact).
  std::int64_t sweep(Phi4Field& field, std::uint64_t seed, std::uint64_t sweep_index) const;
  int hits() const { return hits_; }

 private:
  Phi4Couplings c_;
  double step_;
  int hits_;
};

enum class Phi4Integrator { leapfrog, omelyan };
Phi4Integrator phi4_integrator(const std::string& name);  ///< input_error for unknown names

struct HmcResult {
  bool accepted = false;
  /// The molecular dynamics left the range of exact sums (a site's energy >= 2^52 or not
  /// finite: step too large for the action's stiffness); delta_h is then +inf and the
  /// proposal rejected.
  bool diverged = false;
  double delta_h = 0.0;  ///< H(end) - H(start) of the proposal (exact sums)
};

/// Hybrid Monte Carlo (Duane et al. 1987) with unit mass: H = sum p^2/2 + S(phi).
/// Momenta: Box-Muller from Philox(seed, "hmc-momentum") at (global x, trajectory); accept
/// uniform from Philox(seed, "hmc-accept") at (0, trajectory). Omelyan's second-order
/// minimum-norm scheme (Omelyan, Mryglod, Folk, Comput. Phys. Commun. 151 (2003) 272, eq. 20;
/// Takaishi & de Forcrand, PRE 73 (2006) 036706) uses lambda = 0.1931833275037836.
class Phi4Hmc {
 public:
  static constexpr double kOmelyanLambda = 0.1931833275037836;
  Phi4Hmc(Phi4Couplings couplings, Phi4Integrator integrator, int steps, double length);

  /// One trajectory with Metropolis accept/reject (the field is restored on rejection).
  /// Throws a runtime_error if the starting field's energy is already out of range.
  HmcResult trajectory(Phi4Field& field, std::uint64_t seed, std::uint64_t index) const;

  // Pieces, public for tests of the integrator.
  /// Momenta in the field's padded layout (ghosts unused).
  Phi4Field::FieldView make_momenta(const Phi4Field& field) const;
  void draw_momenta(const Phi4Field& field, Phi4Field::FieldView& p, std::uint64_t seed,
                    std::uint64_t index) const;
  /// H = sum p^2/2 + S(phi), exact sum (needs a valid halo).
  ExactSum hamiltonian(const Phi4Field& field, const Phi4Field::FieldView& p) const;
  /// Molecular dynamics: `steps` steps of size length/steps; leaves the halo valid.
  void integrate(Phi4Field& field, Phi4Field::FieldView& p) const;
  /// p <- p - eps dS/dphi (needs a valid halo).
  void kick(const Phi4Field& field, Phi4Field::FieldView& p, double eps) const;
  /// phi <- phi + eps p, then the halo exchange.
  void drift(Phi4Field& field, const Phi4Field::FieldView& p, double eps) const;

  int steps() const { return steps_; }
  double length() const { return length_; }

 private:
  Phi4Couplings c_;
  Phi4Integrator integrator_;
  int steps_;
  double length_;
  // Scratch of trajectory(): momenta and the saved field, kept between trajectories.
  mutable Phi4Field::FieldView momenta_, saved_;
};

/// S of the field (AKS), exact sum over the lattice (needs a valid halo).
ExactSum phi4_field_action(const Phi4Field& field, const Phi4Couplings& c);

}  // namespace phyflow::lattice
