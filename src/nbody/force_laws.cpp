// Deck parsing of the N-body force laws and the host helpers for one system
// (accelerations, energies) that the tests and the integrators' references use.
#include "phyflow/nbody/force_laws.hpp"

#include <type_traits>

#include "phyflow/core/config.hpp"
#include "phyflow/core/error.hpp"

namespace phyflow::nbody {

namespace {

constexpr ForceLaw all_laws[] = {ForceLaw::spring, ForceLaw::r1,     ForceLaw::r2,
                                 ForceLaw::charge, ForceLaw::damped, ForceLaw::discontinuous,
                                 ForceLaw::gravity, ForceLaw::power};

template <int D, class Law>
void accelerations_d(const Law& law, int n, const double* state, double* accel) {
  constexpr int w = state_width(D);
  for (int i = 0; i < n; ++i) {
    const double* bi = state + i * w;
    double sum[D] = {};
    double f[D];
    for (int j = 0; j < n; ++j) {
      if (j == i) continue;
      const double* bj = state + j * w;
      law.template pair_force<D>(bi, bj, bi[2 * D], bj[2 * D], bi[2 * D + 1], bj[2 * D + 1], f);
      for (int k = 0; k < D; ++k) sum[k] += f[k];
    }
    if constexpr (std::is_same_v<Law, Damped>) {
      law.template damping_force<D>(bi + D, i, n, f);
      for (int k = 0; k < D; ++k) sum[k] += f[k];
    }
    for (int k = 0; k < D; ++k) accel[i * D + k] = sum[k] / bi[2 * D + 1];
  }
}

template <int D, class Law>
double potential_energy_d(const Law& law, int n, const double* state) {
  constexpr int w = state_width(D);
  double u = 0.0;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      const double* bi = state + i * w;
      const double* bj = state + j * w;
      u += law.template potential<D>(bi, bj, bi[2 * D], bj[2 * D], bi[2 * D + 1], bj[2 * D + 1]);
    }
  return u;
}

void check_dim(int d) {
  if (d < 1 || d > max_dim)
    throw input_error("system.dim = " + std::to_string(d) +
                      ": the N-body force laws support dimensions 1, 2 and 3");
}

}  // namespace

const char* law_name(ForceLaw law) {
  switch (law) {
    case ForceLaw::spring:
      return "spring";
    case ForceLaw::r1:
      return "r1";
    case ForceLaw::r2:
      return "r2";
    case ForceLaw::charge:
      return "charge";
    case ForceLaw::damped:
      return "damped";
    case ForceLaw::discontinuous:
      return "discontinuous";
    case ForceLaw::power:
      return "power";
    case ForceLaw::gravity:
      return "gravity";
  }
  return "?";
}

ForceLaw parse_force_law(const std::string& name) {
  const char* best = nullptr;
  std::string names;
  for (ForceLaw law : all_laws) {
    if (name == law_name(law)) return law;
    names += (names.empty() ? "" : ", ") + std::string(law_name(law));
    if (!best || config::edit_distance(name, law_name(law)) < config::edit_distance(name, best))
      best = law_name(law);
  }
  throw input_error("system.law: unknown force law '" + name + "' -- did you mean '" + best +
                    "'? (known: " + names + ")");
}

void accelerations(const ForceLawSpec& spec, int d, int n, const double* state, double* accel) {
  check_dim(d);
  with_law(spec, [&](const auto& law) {
    if (d == 1) accelerations_d<1>(law, n, state, accel);
    if (d == 2) accelerations_d<2>(law, n, state, accel);
    if (d == 3) accelerations_d<3>(law, n, state, accel);
  });
}

void pair_force(const ForceLawSpec& spec, int d, const double* bi, const double* bj, double* fi) {
  check_dim(d);
  with_law(spec, [&](const auto& law) {
    const int w = 2 * d;  // q at 2d, m at 2d + 1
    if (d == 1) law.template pair_force<1>(bi, bj, bi[w], bj[w], bi[w + 1], bj[w + 1], fi);
    if (d == 2) law.template pair_force<2>(bi, bj, bi[w], bj[w], bi[w + 1], bj[w + 1], fi);
    if (d == 3) law.template pair_force<3>(bi, bj, bi[w], bj[w], bi[w + 1], bj[w + 1], fi);
  });
}

double potential_energy(const ForceLawSpec& spec, int d, int n, const double* state) {
  check_dim(d);
  return with_law(spec, [&](const auto& law) {
    if (d == 1) return potential_energy_d<1>(law, n, state);
    if (d == 2) return potential_energy_d<2>(law, n, state);
    return potential_energy_d<3>(law, n, state);
  });
}

double total_energy(const ForceLawSpec& spec, int d, int n, const double* state) {
  double kinetic = 0.0;
  const int w = state_width(d);
  for (int b = 0; b < n; ++b) {
    const double* body = state + b * w;
    double v2 = 0.0;
    for (int k = 0; k < d; ++k) v2 += body[d + k] * body[d + k];
    kinetic += 0.5 * body[2 * d + 1] * v2;
  }
  return kinetic + potential_energy(spec, d, n, state);
}

}  // namespace phyflow::nbody
