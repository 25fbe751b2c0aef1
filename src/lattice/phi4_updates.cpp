// Checkerboard Metropolis and HMC for the phi^4 field (conventions in phi4_updates.hpp).
#include "phyflow/lattice/phi4_updates.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/core/portable_math.hpp"
#include "phyflow/core/rng.hpp"
#include "phyflow/lattice/philox_block.hpp"

#include <cmath>
#include <limits>
#include <string>

// Host SIMD Philox blocks on x86-64 host backends, as the Ising kernels (ising_updates.cpp);
// the portable loop elsewhere (same words, bit for bit).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) &&                     \
    !defined(KOKKOS_ENABLE_CUDA) && !defined(KOKKOS_ENABLE_HIP) &&                          \
    !defined(KOKKOS_ENABLE_SYCL) && !defined(KOKKOS_ENABLE_OPENMPTARGET) &&                 \
    !defined(PHYFLOW_PORTABLE_KERNELS)
#define PHYFLOW_PHI4_HOST_SIMD 1
#endif

namespace phyflow::lattice {

namespace {

constexpr int kChunk = 64;  // sites per Philox block call in the Metropolis sweep

/// sum_mu (phi_{x+mu} + phi_{x-mu}) at padded index p.
KOKKOS_INLINE_FUNCTION double neighbour_sum(const Phi4Geometry& g,
                                            const Phi4Field::FieldView& phi, std::int64_t p) {
  double s = 0.0;
  for (int k = 0; k < g.d; ++k) s += phi(p + g.stride[k]) + phi(p - g.stride[k]);
  return s;
}

/// The action density of site p: (2d + m2) phi^2 - 2 phi sum_mu phi_{x+mu} + lambda phi^4.
KOKKOS_INLINE_FUNCTION double action_density(const Phi4Geometry& g,
                                             const Phi4Field::FieldView& phi, std::int64_t p,
                                             double mass_term, double lambda) {
  const double x = phi(p);
  double forward = 0.0;
  for (int k = 0; k < g.d; ++k) forward += phi(p + g.stride[k]);
  const double x2 = x * x;
  return mass_term * x2 - 2.0 * x * forward + lambda * x2 * x2;
}

}  // namespace

ExactSum phi4_field_action(const Phi4Field& field, const Phi4Couplings& c) {
  const Phi4Geometry g = field.geometry();
  const auto phi = field.data();
  const double mass_term = 2.0 * g.d + c.m2, lambda = c.lambda;
  return field.sum(KOKKOS_LAMBDA(std::int64_t p) {
    return action_density(g, phi, p, mass_term, lambda);
  });
}

// ------------------------------------------------------------------------------ Metropolis

Phi4Metropolis::Phi4Metropolis(Phi4Couplings couplings, double step, int hits)
    : c_(couplings), step_(step), hits_(hits) {
  if (!(step > 0.0) || !std::isfinite(step))
    throw input_error("metropolis.step = " + std::to_string(step) + " must be positive");
  if (hits < 1) throw input_error("metropolis.hits must be at least 1");
}

std::int64_t Phi4Metropolis::sweep(Phi4Field& field, std::uint64_t seed,
                                   std::uint64_t sweep_index) const {
  const Phi4Geometry g = field.geometry();
  auto phi = field.data();
  const rng::Stream stream(seed, rng::purpose("phi4-metropolis"));
  const double mass_term = 2.0 * g.d + c_.m2, lambda = c_.lambda, step = step_;
  const int hits = hits_;
  std::int64_t accepted = 0;
  for (int colour = 0; colour < 2; ++colour) {
    std::int64_t acc = 0;
    const int len = g.n[g.d - 1];
    Kokkos::parallel_reduce(
        "phi4_metropolis", Kokkos::RangePolicy<>(0, g.rows()),
        KOKKOS_LAMBDA(std::int64_t r, std::int64_t& count) {
          std::int64_t p0, g0;
          int parity0;
          g.row(r, p0, g0, parity0);
          // The words of a chunk of consecutive sites in one Philox block call (SIMD on the
          // host), both colours drawn and this colour's used: the same words as one
          // stream(global site, step) call per site. Sites of one colour do not interact, so
          // the hits may run hit by hit over the chunk.
          std::uint32_t words[4 * kChunk];
          for (int c0 = 0; c0 < len; c0 += kChunk) {
            const int m = len - c0 < kChunk ? len - c0 : kChunk;
            const std::uint64_t first = static_cast<std::uint64_t>(g0 + c0);
            for (int h = 0; h < hits; ++h) {
              const std::uint64_t st =
                  ((sweep_index * static_cast<std::uint64_t>(hits) + static_cast<std::uint64_t>(h)) << 1) |
                  static_cast<std::uint64_t>(colour);
              const auto lo = static_cast<std::uint32_t>(first);
              if (lo <= 0xffffffffu - static_cast<std::uint32_t>(kChunk)) {
#ifdef PHYFLOW_PHI4_HOST_SIMD
                philox_block_host(words, stream, lo, static_cast<std::uint32_t>(first >> 32), st, m);
#else
                philox_block_generic(words, stream, lo, static_cast<std::uint32_t>(first >> 32), st, m);
#endif
              } else {
                for (int j = 0; j < m; ++j) {
                  const rng::Words w = stream(first + static_cast<std::uint64_t>(j), st);
                  for (int i = 0; i < 4; ++i) words[4 * j + i] = w.w[i];
                }
              }
              for (int c = c0 + ((colour ^ parity0 ^ c0) & 1); c < c0 + m; c += 2) {
                const std::int64_t p = p0 + c;
                const std::uint32_t* w = words + 4 * (c - c0);
                const double nb = neighbour_sum(g, phi, p);
                const double x = phi(p);
                const double y = x + step * (2.0 * rng::uniform53(w[0], w[1]) - 1.0);
                const double x2 = x * x, y2 = y * y;
                const double ds = mass_term * (y2 - x2) + lambda * (y2 * y2 - x2 * x2) - 2.0 * (y - x) * nb;
                if (ds <= 0.0 || rng::uniform53(w[2], w[3]) < pmath::exp(-ds)) {
                  phi(p) = y;
                  ++count;
                }
              }
            }
          }
        },
        acc);
    accepted += acc;
    field.exchange_halo();
  }
  std::int64_t total = 0;
  check_mpi(MPI_Allreduce(&accepted, &total, 1, MPI_INT64_T, MPI_SUM, field.decomposition().comm()),
            "MPI_Allreduce");
  return total;
}

// ------------------------------------------------------------------------------------ HMC

Phi4Integrator phi4_integrator(const std::string& name) {
  if (name == "leapfrog") return Phi4Integrator::leapfrog;
  if (name == "omelyan") return Phi4Integrator::omelyan;
  throw input_error("hmc.integrator = '" + name + "' is unknown: use leapfrog or omelyan");
}

Phi4Hmc::Phi4Hmc(Phi4Couplings couplings, Phi4Integrator integrator, int steps, double length)
    : c_(couplings), integrator_(integrator), steps_(steps), length_(length) {
  if (steps < 1) throw input_error("hmc.steps must be at least 1");
  if (!(length > 0.0) || !std::isfinite(length))
    throw input_error("hmc.trajectory_length must be positive");
}

Phi4Field::FieldView Phi4Hmc::make_momenta(const Phi4Field& field) const {
  return Phi4Field::FieldView("hmc_momenta", static_cast<std::size_t>(field.geometry().padded_sites));
}

void Phi4Hmc::draw_momenta(const Phi4Field& field, Phi4Field::FieldView& p, std::uint64_t seed,
                           std::uint64_t index) const {
  const Phi4Geometry g = field.geometry();
  const rng::Stream stream(seed, rng::purpose("hmc-momentum"));
  auto mom = p;
  const int len = g.n[g.d - 1];
  Kokkos::parallel_for(
      "hmc_momenta", Kokkos::RangePolicy<>(0, g.rows()), KOKKOS_LAMBDA(std::int64_t r) {
        std::int64_t p0, g0;
        int parity0;
        g.row(r, p0, g0, parity0);
        for (int c = 0; c < len; ++c) {
          const rng::Words w = stream(static_cast<std::uint64_t>(g0 + c), index);
          double z0 = 0.0, z1 = 0.0;  // portable log and cos: the same momenta on every backend
          rng::box_muller(rng::uniform53_open0(w.w[0], w.w[1]), rng::uniform53(w.w[2], w.w[3]),
                          z0, z1);
          mom(p0 + c) = z0;
        }
      });
}

ExactSum Phi4Hmc::hamiltonian(const Phi4Field& field, const Phi4Field::FieldView& p) const {
  const Phi4Geometry g = field.geometry();
  const auto phi = field.data();
  const auto mom = p;
  const double mass_term = 2.0 * g.d + c_.m2, lambda = c_.lambda;
  return field.sum(KOKKOS_LAMBDA(std::int64_t q) {
    return 0.5 * mom(q) * mom(q) + action_density(g, phi, q, mass_term, lambda);
  });
}

void Phi4Hmc::kick(const Phi4Field& field, Phi4Field::FieldView& p, double eps) const {
  const Phi4Geometry g = field.geometry();
  const auto phi = field.data();
  auto mom = p;
  const double two_mass = 2.0 * (2.0 * g.d + c_.m2), four_lambda = 4.0 * c_.lambda;
  const int len = g.n[g.d - 1];
  Kokkos::parallel_for(
      "hmc_kick", Kokkos::RangePolicy<>(0, g.rows()), KOKKOS_LAMBDA(std::int64_t r) {
        std::int64_t p0, g0;
        int parity0;
        g.row(r, p0, g0, parity0);
        for (int c = 0; c < len; ++c) {
          const std::int64_t q = p0 + c;
          const double x = phi(q);
          const double grad = two_mass * x - 2.0 * neighbour_sum(g, phi, q) + four_lambda * x * x * x;
          mom(q) -= eps * grad;
        }
      });
}

void Phi4Hmc::drift(Phi4Field& field, const Phi4Field::FieldView& p, double eps) const {
  const Phi4Geometry g = field.geometry();
  auto phi = field.data();
  const auto mom = p;
  const int len = g.n[g.d - 1];
  Kokkos::parallel_for(
      "hmc_drift", Kokkos::RangePolicy<>(0, g.rows()), KOKKOS_LAMBDA(std::int64_t r) {
        std::int64_t p0, g0;
        int parity0;
        g.row(r, p0, g0, parity0);
        for (int c = 0; c < len; ++c) phi(p0 + c) += eps * mom(p0 + c);
      });
  field.exchange_halo();
}

void Phi4Hmc::integrate(Phi4Field& field, Phi4Field::FieldView& p) const {
  const double eps = length_ / steps_;
  if (integrator_ == Phi4Integrator::leapfrog) {
    // Kick-drift-kick with the half kicks of neighbouring steps merged.
    kick(field, p, 0.5 * eps);
    for (int i = 0; i < steps_; ++i) {
      drift(field, p, eps);
      kick(field, p, i + 1 == steps_ ? 0.5 * eps : eps);
    }
  } else {
    // Omelyan 2MN per step: kick(l eps) drift(eps/2) kick((1-2l) eps) drift(eps/2) kick(l eps),
    // the closing kick merged with the next step's opening one.
    const double l = kOmelyanLambda;
    kick(field, p, l * eps);
    for (int i = 0; i < steps_; ++i) {
      drift(field, p, 0.5 * eps);
      kick(field, p, (1.0 - 2.0 * l) * eps);
      drift(field, p, 0.5 * eps);
      kick(field, p, i + 1 == steps_ ? l * eps : 2.0 * l * eps);
    }
  }
}

HmcResult Phi4Hmc::trajectory(Phi4Field& field, std::uint64_t seed, std::uint64_t index) const {
  if (momenta_.extent(0) != field.data().extent(0)) {
    momenta_ = make_momenta(field);
    saved_ = Phi4Field::FieldView("hmc_saved_field", field.data().extent(0));
  }
  auto& p = momenta_;
  draw_momenta(field, p, seed, index);
  auto& saved = saved_;
  Kokkos::deep_copy(saved, field.data());
  const ExactSum h0 = hamiltonian(field, p);
  if (!h0.exact())
    throw runtime_error("phi4 HMC: trajectory " + std::to_string(index) + " starts from a field whose "
                        "energy is out of range at " + std::to_string(h0.out_of_range) +
                        " site(s) (|term| >= 2^52 or not finite); the configuration is corrupt");
  integrate(field, p);
  const ExactSum h1 = hamiltonian(field, p);
  HmcResult r;
  r.diverged = !h1.exact();
  r.delta_h = r.diverged ? std::numeric_limits<double>::infinity() : (h1 - h0).value();
  const rng::Words w = rng::Stream(seed, rng::purpose("hmc-accept"))(0, index);
  r.accepted = !r.diverged && (r.delta_h <= 0.0 || rng::uniform53(w.w[0], w.w[1]) < pmath::exp(-r.delta_h));
  if (!r.accepted) Kokkos::deep_copy(field.data(), saved);  // ghosts saved too: halo valid
  return r;
}

}  // namespace phyflow::lattice
