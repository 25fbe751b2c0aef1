// The phi^4 action, its conventions and the free-field references (phi4_action.hpp).
#include "phyflow/lattice/phi4_action.hpp"

#include <cmath>
#include <vector>

#include "phyflow/core/error.hpp"

namespace phyflow::lattice {

namespace {

constexpr double pi = 3.141592653589793238462643383279502884;

/// Strides of the row-major L^d lattice: stride[mu] = L^(d-1-mu).
std::vector<std::size_t> strides(int dims, int L) {
  std::vector<std::size_t> s(dims, 1);
  for (int mu = dims - 2; mu >= 0; --mu) s[mu] = s[mu + 1] * static_cast<std::size_t>(L);
  return s;
}

/// Index of the neighbour of `site` one step along mu (+1 or -1), periodic.
std::size_t neighbour(std::size_t site, std::size_t stride, int L, int step) {
  const std::size_t coord = (site / stride) % static_cast<std::size_t>(L);
  if (step > 0)
    return coord + 1 == static_cast<std::size_t>(L) ? site + stride - L * stride : site + stride;
  return coord == 0 ? site + (L - 1) * stride : site - stride;
}

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

double phi4_action(const double* phi, int dims, int L, const Phi4Couplings& c) {
  const std::size_t volume = phi4_volume(dims, L);
  const auto stride = strides(dims, L);
  const double mass_term = 2.0 * dims + c.m2;
  double action = 0.0;
  for (std::size_t x = 0; x < volume; ++x) {
    const double p = phi[x];
    double hop = 0.0;
    for (int mu = 0; mu < dims; ++mu) hop += phi[neighbour(x, stride[mu], L, +1)];
    const double p2 = p * p;
    action += mass_term * p2 - 2.0 * p * hop + c.lambda * p2 * p2;
  }
  return action;
}

void phi4_action_gradient(const double* phi, int dims, int L, const Phi4Couplings& c,
                          double* gradient) {
  const std::size_t volume = phi4_volume(dims, L);
  const auto stride = strides(dims, L);
  const double mass_term = 2.0 * dims + c.m2;
  for (std::size_t x = 0; x < volume; ++x) {
    const double p = phi[x];
    double hop = 0.0;
    for (int mu = 0; mu < dims; ++mu)
      hop += phi[neighbour(x, stride[mu], L, +1)] + phi[neighbour(x, stride[mu], L, -1)];
    gradient[x] = 2.0 * mass_term * p - 2.0 * hop + 4.0 * c.lambda * p * p * p;
  }
}

double free_field_phi2(int dims, int L, double m2) {
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
    sum += 1.0 / (khat2 + m2);
  }
  return sum / (2.0 * static_cast<double>(volume));
}

double free_field_chi2(double m2) {
  if (!(m2 > 0.0))
    throw input_error("the free-field reference needs m2 > 0 (got " + std::to_string(m2) + ")");
  return 1.0 / (2.0 * m2);
}

}  // namespace phyflow::lattice
