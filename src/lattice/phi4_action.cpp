// The phi^4 action, its conventions and the free-field references (phi4_action.hpp).
#include "phyflow/lattice/phi4_action.hpp"

#include <cmath>
#include <vector>

#include "phyflow/core/error.hpp"

namespace phyflow::lattice {

namespace {

constexpr double pi = 3.141592653589793238462643383279502884;

}  // namespace

Phi4InAks from_normflow(const Phi4Normflow& nf) {
  if (!(nf.kappa > 0.0))
    throw input_error("phi4 normflow convention needs kappa > 0 (got " +
                      std::to_string(nf.kappa) + ")");
  return {{nf.m_sq / nf.kappa, 4.0 * nf.lambda / (nf.kappa * nf.kappa)},
          std::sqrt(nf.kappa / 2.0)};
}

Phi4InAks from_hopping(const Phi4Hopping& h, int dims) {
  if (!(h.kappa > 0.0))
    throw input_error("phi4 hopping convention needs kappa > 0 (got " +
                      std::to_string(h.kappa) + ")");
  return {{(1.0 - 2.0 * h.lambda) / h.kappa - 2.0 * dims, h.lambda / (h.kappa * h.kappa)},
          std::sqrt(h.kappa)};
}

Phi4Normflow to_normflow(const Phi4Couplings& c, double kappa) {
  if (!(kappa > 0.0)) throw input_error("phi4 normflow convention needs kappa > 0");
  return {kappa, c.m2 * kappa, c.lambda * kappa * kappa / 4.0};
}

Phi4Hopping to_hopping(const Phi4Couplings& c, int dims) {
  const double b = 2.0 * dims + c.m2;
  double kappa;
  if (c.lambda > 0.0) {
    // Positive root of 2 lambda k^2 + b k - 1 = 0, in the form without cancellation.
    const double disc = std::sqrt(b * b + 8.0 * c.lambda);
    kappa = b >= 0.0 ? 2.0 / (b + disc) : (disc - b) / (4.0 * c.lambda);
  } else if (c.lambda == 0.0 && b > 0.0) {
    kappa = 1.0 / b;
  } else {
    throw input_error("phi4 couplings m2 = " + std::to_string(c.m2) + ", lambda = " +
                      std::to_string(c.lambda) +
                      " have no hopping form (needs lambda > 0, or lambda = 0 and 2d + m2 > 0)");
  }
  return {kappa, c.lambda * kappa * kappa};
}

std::size_t phi4_volume(int dims, int L) {
  if (dims < 1 || dims > 4)
    throw input_error("phi4 lattice dimension must be 1..4 (got " + std::to_string(dims) + ")");
  if (L < 2) throw input_error("phi4 lattice size L must be >= 2 (got " + std::to_string(L) + ")");
  std::size_t v = 1;
  for (int mu = 0; mu < dims; ++mu) v *= static_cast<std::size_t>(L);
  return v;
}

namespace {
/// The sites of the L^d lattice in order, with each site's neighbours one step up and down
/// every axis (periodic): coordinates kept as an odometer, so no division per neighbour.
/// visit(x, up, down) with up[mu], down[mu] the neighbours' indices.
template <typename Visit>
void for_each_site(int dims, int L, Visit&& visit) {
  const std::size_t volume = phi4_volume(dims, L);
  std::size_t stride[4], coord[4] = {0, 0, 0, 0}, up[4], down[4];
  const auto Ls = static_cast<std::size_t>(L);
  for (int mu = dims - 1, s = 1; mu >= 0; --mu, s *= L) stride[mu] = std::size_t(s);
  for (std::size_t x = 0; x < volume; ++x) {
    for (int mu = 0; mu < dims; ++mu) {
      up[mu] = coord[mu] + 1 == Ls ? x + stride[mu] - Ls * stride[mu] : x + stride[mu];
      down[mu] = coord[mu] == 0 ? x + (Ls - 1) * stride[mu] : x - stride[mu];
    }
    visit(x, up, down);
    for (int mu = dims - 1; mu >= 0 && ++coord[mu] == Ls; --mu) coord[mu] = 0;
  }
}
}  // namespace

template <typename T>
double phi4_action(const T* phi, int dims, int L, const Phi4Couplings& c) {
  const double mass_term = 2.0 * dims + c.m2;
  double action = 0.0;
  for_each_site(dims, L, [&](std::size_t x, const std::size_t* up, const std::size_t*) {
    const double p = phi[x];
    double hop = 0.0;
    for (int mu = 0; mu < dims; ++mu) hop += phi[up[mu]];
    const double p2 = p * p;
    action += mass_term * p2 - 2.0 * p * hop + c.lambda * p2 * p2;
  });
  return action;
}

template <typename T>
void phi4_action_gradient(const T* phi, int dims, int L, const Phi4Couplings& c, T* gradient,
                          double scale) {
  const double mass_term = 2.0 * dims + c.m2;
  for_each_site(dims, L, [&](std::size_t x, const std::size_t* up, const std::size_t* down) {
    const double p = phi[x];
    double hop = 0.0;
    for (int mu = 0; mu < dims; ++mu) hop += double(phi[up[mu]]) + double(phi[down[mu]]);
    const double g = 2.0 * mass_term * p - 2.0 * hop + 4.0 * c.lambda * p * p * p;
    gradient[x] = T(scale == 1.0 ? g : scale * g);
  });
}

template double phi4_action<double>(const double*, int, int, const Phi4Couplings&);
template double phi4_action<float>(const float*, int, int, const Phi4Couplings&);
template void phi4_action_gradient<double>(const double*, int, int, const Phi4Couplings&, double*,
                                           double);
template void phi4_action_gradient<float>(const float*, int, int, const Phi4Couplings&, float*,
                                          double);

namespace {

/// sum over the lattice momenta k of f(khat^2 + m2), khat^2 = sum_mu 4 sin^2(pi k_mu / L).
template <typename F>
double sum_over_free_modes(int dims, int L, double m2, F f) {
  if (!(m2 > 0.0))
    throw input_error("the free-field reference needs m2 > 0 (got " + std::to_string(m2) + ")");
  const std::size_t volume = phi4_volume(dims, L);
  std::vector<double> s2(L);
  for (int q = 0; q < L; ++q) {
    const double s = std::sin(pi * q / L);
    s2[q] = 4.0 * s * s;
  }
  double sum = 0.0;
  for (std::size_t k = 0; k < volume; ++k) {
    double khat2 = 0.0;
    std::size_t rest = k;
    for (int mu = 0; mu < dims; ++mu) {
      khat2 += s2[rest % L];
      rest /= L;
    }
    sum += f(khat2 + m2);
  }
  return sum;
}

}  // namespace

double free_field_phi2(int dims, int L, double m2) {
  const double sum = sum_over_free_modes(dims, L, m2, [](double e) { return 1.0 / e; });
  return sum / (2.0 * static_cast<double>(phi4_volume(dims, L)));
}

double free_field_log_z(int dims, int L, double m2) {
  const double sum = sum_over_free_modes(dims, L, m2, [](double e) { return std::log(e); });
  return 0.5 * static_cast<double>(phi4_volume(dims, L)) * std::log(pi) - 0.5 * sum;
}

double free_field_chi2(double m2) {
  if (!(m2 > 0.0))
    throw input_error("the free-field reference needs m2 > 0 (got " + std::to_string(m2) + ")");
  return 1.0 / (2.0 * m2);
}

}  // namespace phyflow::lattice
