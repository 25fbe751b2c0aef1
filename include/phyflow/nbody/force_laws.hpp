// Pairwise force laws of the N-body simulations (DESIGN.md §6; REFERENCES.md "Symbolic
// distillation"): small functors usable in Kokkos kernels, PETSc TS right-hand sides and as
// the ground truth for distillation. Convention: U is the pair energy, F_i = -grad_{x_i} U.
#pragma once

#include <Kokkos_Core.hpp>
#include <cmath>
#include <string>

#include "phyflow/nbody/lane_math.hpp"

namespace phyflow::nbody {

/// The largest spatial dimension the fixed-size kernels support.
constexpr int max_dim = 3;

/// Shift of the softened distance r' = |x_i - x_j| + 0.01 used by the seed's laws
/// (Cranmer et al. 2020, simulate.py: `bounded_dist = dist + min_dist`, min_dist = 1e-2).
constexpr double distance_shift = 0.01;

// ---------------------------------------------------------------------------------------------
// Radial laws. Each law supplies radial(r, qi, qj, mi, mj, u, du_dr): the pair energy u as a
// function of the plain distance r = |x_i - x_j| and its derivative. RadialLaw turns that into
// potential() and pair_force() for D = 1, 2, 3 by static (CRTP) dispatch: no virtual calls.
// Every function is a template on the number type T: double, or a pack of simulations in SIMD
// lanes (lane_math.hpp), so branches are written as lanes::select and the math as lanes::sqrt,
// log and pow; T = double compiles to the plain scalar code.
//
// Coincident bodies (r = 0): the direction (x_i - x_j)/r is undefined, so pair_force() returns
// exactly zero there. The laws with the r' shift have finite slope at r = 0, so this is a
// choice of direction, not a hidden singularity; softened gravity's force goes to zero
// continuously anyway.
// ---------------------------------------------------------------------------------------------
template <class Law>
struct RadialLaw {
  /// Pair energy of bodies i and j (positions xi, xj of length D).
  template <int D, class T>
  KOKKOS_INLINE_FUNCTION T potential(const T* xi, const T* xj, T qi, T qj, T mi, T mj) const {
    T u{}, du_dr{};
    static_cast<const Law&>(*this).radial(distance<D>(xi, xj), qi, qj, mi, mj, u, du_dr);
    return u;
  }

  /// Force on body i from body j, written to fi[0..D): F_i = -dU/dr (x_i - x_j)/r.
  /// Zero for coincident bodies (see above) and when r is not a number. F_j = -F_i (Newton's
  /// third law).
  template <int D, class T>
  KOKKOS_INLINE_FUNCTION void pair_force(const T* xi, const T* xj, T qi, T qj, T mi, T mj,
                                         T* fi) const {
    const T r = distance<D>(xi, xj);
    T u{}, du_dr{};
    static_cast<const Law&>(*this).radial(r, qi, qj, mi, mj, u, du_dr);
    // At r = 0 the quotient is inf or NaN and is discarded by the select (no traps are set).
    const T scale = lanes::select(r > 0.0, -du_dr / r, T{});
    for (int k = 0; k < D; ++k) fi[k] = scale * (xi[k] - xj[k]);
  }

  template <int D, class T>
  KOKKOS_INLINE_FUNCTION static T distance(const T* xi, const T* xj) {
    T r2{};
    for (int k = 0; k < D; ++k) {
      const T dx = xi[k] - xj[k];
      r2 += dx * dx;
    }
    return lanes::sqrt(r2);
  }
};

/// spring: U = (r' - 1)^2.
struct Spring : RadialLaw<Spring> {
  template <class T>
  KOKKOS_INLINE_FUNCTION void radial(T r, T, T, T, T, T& u, T& du_dr) const {
    const T s = r + distance_shift - 1.0;
    u = s * s;
    du_dr = 2.0 * s;
  }
};

/// r1: U = m_i m_j ln r'.
struct R1 : RadialLaw<R1> {
  template <class T>
  KOKKOS_INLINE_FUNCTION void radial(T r, T, T, T mi, T mj, T& u, T& du_dr) const {
    const T rs = r + distance_shift;
    u = mi * mj * lanes::log(rs);
    du_dr = mi * mj / rs;
  }
};

/// r2: U = -m_i m_j / r'.
struct R2 : RadialLaw<R2> {
  template <class T>
  KOKKOS_INLINE_FUNCTION void radial(T r, T, T, T mi, T mj, T& u, T& du_dr) const {
    const T rs = r + distance_shift;
    u = -mi * mj / rs;
    du_dr = mi * mj / (rs * rs);
  }
};

/// charge: U = q_i q_j / r'.
struct Charge : RadialLaw<Charge> {
  template <class T>
  KOKKOS_INLINE_FUNCTION void radial(T r, T qi, T qj, T, T, T& u, T& du_dr) const {
    const T rs = r + distance_shift;
    u = qi * qj / rs;
    du_dr = -qi * qj / (rs * rs);
  }
};

/// discontinuous: U = 0 if r' < 2 else (r' - 1)^2 (the seed's three branches 0 / 0 /
/// (r'-1)^2 at r' < 1 / 1 <= r' < 2 / r' >= 2). The force is zero inside r' < 2; U jumps by 1
/// at r' = 2, where the force is the one-sided one from outside.
struct Discontinuous : RadialLaw<Discontinuous> {
  template <class T>
  KOKKOS_INLINE_FUNCTION void radial(T r, T, T, T, T, T& u, T& du_dr) const {
    const T rs = r + distance_shift;
    u = lanes::select(rs < 2.0, T{}, (rs - 1.0) * (rs - 1.0));
    du_dr = lanes::select(rs < 2.0, T{}, 2.0 * (rs - 1.0));
  }
};

/// damped: the spring potential (r' - 1)^2 plus the seed's velocity damping.
///
/// The damping of the original simulation (MilesCranmer/symbolic_deep_learning, simulate.py,
/// get_potential, sim == 'damped'; commit f494750) is written as an extra "potential" term
/// damping * (x_i . v_i) / n with damping = 1, added to the pair term of every pair (i, j)
/// with i < j in body order (first argument i only); the force takes -grad over positions
/// only. So each such pair gives body i the force -v_i / n, and body i in all receives
/// -(n - 1 - i)/n v_i: body 0 the most, the last body none. The damping is thus not a pair
/// force (no Newton's third law) and depends on body order; we reproduce it exactly because
/// the damped data sets are defined by it.
struct Damped : RadialLaw<Damped> {
  template <class T>
  KOKKOS_INLINE_FUNCTION void radial(T r, T qi, T qj, T mi, T mj, T& u, T& du_dr) const {
    Spring().radial(r, qi, qj, mi, mj, u, du_dr);
  }

  /// The damping force on body i (index i of n bodies, velocity vi) summed over its pairs:
  /// -(n - 1 - i)/n v_i (see above).
  template <int D, class T>
  KOKKOS_INLINE_FUNCTION void damping_force(const T* vi, int i, int n, T* fi) const {
    const double c = static_cast<double>(n - 1 - i) / static_cast<double>(n);
    for (int k = 0; k < D; ++k) fi[k] = -c * vi[k];
  }
};

/// gravity: U = -G m_i m_j / sqrt(r^2 + eps^2) (Plummer softening, no r' shift). Its force
/// -G m_i m_j (x_i - x_j) / (r^2 + eps^2)^{3/2} is smooth through r = 0.
struct SoftenedGravity : RadialLaw<SoftenedGravity> {
  double G = 1.0;
  double eps = 0.01;

  SoftenedGravity() = default;
  KOKKOS_INLINE_FUNCTION SoftenedGravity(double g, double softening) : G(g), eps(softening) {}

  template <class T>
  KOKKOS_INLINE_FUNCTION void radial(T r, T, T, T mi, T mj, T& u, T& du_dr) const {
    const T s2 = r * r + eps * eps;
    const T s = lanes::sqrt(s2);
    // G * (mi * mj), not (G * mi) * mj: symmetric in i, j to the last bit, so F_j = -F_i
    // exactly and pair sums conserve momentum to rounding of the sums only.
    const T gmm = G * (mi * mj);
    u = -gmm / s;
    du_dr = gmm * r / (s2 * s);
  }
};

/// power: a pair law defined in the deck, U = A c_ij r'^p (p != 0) or U = A c_ij ln r'
/// (p = 0), with r' = r + 0.01 as the seed's laws and coupling c_ij = 1, m_i m_j or q_i q_j.
/// It spans the seed's r1 (A = 1, p = 0, mass), r2 (A = -1, p = -1, mass) and charge (A = 1,
/// p = -1, charge) families and any other power of the distance.
struct PowerLaw : RadialLaw<PowerLaw> {
  enum Coupling : int { none = 0, mass = 1, charge = 2 };
  double A = 1.0;
  double p = -1.0;
  int coupling = mass;

  PowerLaw() = default;
  KOKKOS_INLINE_FUNCTION PowerLaw(double amplitude, double exponent, int coupling_kind)
      : A(amplitude), p(exponent), coupling(coupling_kind) {}

  template <class T>
  KOKKOS_INLINE_FUNCTION void radial(T r, T qi, T qj, T mi, T mj, T& u, T& du_dr) const {
    const T rs = r + distance_shift;
    // A * (c_ij): symmetric in i, j to the last bit, so F_j = -F_i exactly.
    T c = T{} + 1.0;
    if (coupling == mass) c = mi * mj;
    if (coupling == charge) c = qi * qj;
    const T ac = A * c;
    if (p == 0.0) {
      u = ac * lanes::log(rs);
      du_dr = ac / rs;
    } else {
      const T rp = lanes::pow(rs, p);
      u = ac * rp;
      du_dr = ac * p * rp / rs;
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Choosing a law from a deck.
// ---------------------------------------------------------------------------------------------
enum class ForceLaw { spring, r1, r2, charge, damped, discontinuous, gravity, power };

/// The deck name of a law ("spring", "r1", ...).
const char* law_name(ForceLaw law);

/// The law named `name` (deck key system.law); input_error naming system.law and the nearest
/// known name otherwise.
ForceLaw parse_force_law(const std::string& name);

/// A law with its parameters (gravity and power have some).
struct ForceLawSpec {
  ForceLaw law = ForceLaw::spring;
  double gravity_G = 1.0;
  double gravity_eps = 0.01;
  double power_A = 1.0;         ///< power: amplitude A
  double power_exponent = -1.0; ///< power: exponent p (0: logarithm)
  int power_coupling = PowerLaw::mass;
};

/// Calls f with the functor of `spec` (Spring, R1, ..., SoftenedGravity): the one switch that
/// turns a runtime choice into a statically dispatched kernel.
template <class F>
decltype(auto) with_law(const ForceLawSpec& spec, F&& f) {
  switch (spec.law) {
    case ForceLaw::spring:
      return f(Spring{});
    case ForceLaw::r1:
      return f(R1{});
    case ForceLaw::r2:
      return f(R2{});
    case ForceLaw::charge:
      return f(Charge{});
    case ForceLaw::damped:
      return f(Damped{});
    case ForceLaw::discontinuous:
      return f(Discontinuous{});
    case ForceLaw::power:
      return f(PowerLaw(spec.power_A, spec.power_exponent, spec.power_coupling));
    case ForceLaw::gravity:
      break;
  }
  return f(SoftenedGravity(spec.gravity_G, spec.gravity_eps));
}

// ---------------------------------------------------------------------------------------------
// Host helpers for one system of n bodies. State layout as the seed's data sets: row b of
// `state` (n rows of 2d + 2 doubles) is [x(d), v(d), q, m].
// ---------------------------------------------------------------------------------------------

/// Number of doubles per body in the state layout.
constexpr int state_width(int d) { return 2 * d + 2; }

/// a_b = F_b / m_b with F_b the sum of pair forces over all other bodies (plus, for damped,
/// the seed's damping). accel holds n rows of d doubles. d must be 1, 2 or 3.
void accelerations(const ForceLawSpec& spec, int d, int n, const double* state, double* accel);

/// The pair force on body i from body j (rows bi, bj of the state layout) into fi[0..d): the
/// ground truth a graph network's messages are compared with (damped: the spring part only).
void pair_force(const ForceLawSpec& spec, int d, const double* bi, const double* bj, double* fi);

/// Sum over pairs i < j of the pair energy (the conservative part; damped: the spring energy).
double potential_energy(const ForceLawSpec& spec, int d, int n, const double* state);

/// Kinetic energy sum_b m_b |v_b|^2 / 2 plus potential_energy().
double total_energy(const ForceLawSpec& spec, int d, int n, const double* state);

}  // namespace phyflow::nbody
