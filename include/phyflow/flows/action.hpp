// Lattice actions as batched, differentiable LibTorch functions: the targets of the flows.
// phi4: the Albergo-Kanwar-Shanahan action (arXiv:1904.12072 eq. 20, lattice/phi4_action.hpp),
//   S = sum_x [ (2d + m2) phi_x^2 - 2 sum_mu phi_x phi_{x+mu} + lambda phi_x^4 ],
// for fields of shape (B, L, ..., L) (d lattice axes after the batch axis, periodic); the free
// field is lambda = 0. Returns S per configuration, shape (B).
// ising_hs: the Ising model at temperature T made continuous by the Gaussian
// (Hubbard-Stratonovich) transform of NeuralRG (Li & Wang arXiv:1802.02840; REFERENCES.md):
//   K = A/T + (0.1 - lambda_min(A/T)) I   (A: adjacency matrix of the periodic L^d lattice),
//   S(x) = 1/2 x^T K^-1 x - sum_i log cosh x_i.
// Summing the spins out of exp(-1/2 x^T K^-1 x + s.x) gives it, so
//   log Z_x = log Z_Ising(1/T) + V c/2 + 1/2 log det K + V/2 log 2 pi - V log 2,
// c = 0.1 - lambda_min(A/T), and -log Z_x is the exact lower bound of the reverse-KL loss. Given
// x the spins are independent with <s_i> = tanh x_i, so the Ising energy of x is
// E[H | x] = -sum_<ij> tanh x_i tanh x_j, an unbiased estimator of <H> under p(x).
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>

#include "phyflow/lattice/phi4_action.hpp"

namespace phyflow::flows {

/// The lattice a flow acts on: d periodic axes of L sites.
struct LatticeShape {
  int dims = 2;
  int L = 8;
  std::int64_t volume() const;
  /// {L, ..., L} (d entries), and with a leading batch size.
  std::vector<std::int64_t> sites() const;
  std::vector<std::int64_t> batch(std::int64_t n) const;
};

/// S_AKS of each configuration of `phi` (B, L, ..., L); differentiable.
torch::Tensor phi4_action(const torch::Tensor& phi, int dims, const lattice::Phi4Couplings& c);

/// The target of a flow: exp(-S(x)) up to normalisation, on a lattice.
class Target {
 public:
  virtual ~Target() = default;
  virtual std::string kind() const = 0;
  /// One line for logs ("phi4 d = 2, L = 8, m2 = -4, lambda = 8").
  virtual std::string describe() const = 0;
  const LatticeShape& shape() const { return shape_; }
  /// S of each configuration of x (B, L, ..., L), in x's dtype; differentiable.
  virtual torch::Tensor action(const torch::Tensor& x) const = 0;

 protected:
  explicit Target(LatticeShape shape) : shape_(shape) {}
  LatticeShape shape_;
};

/// phi^4 (lambda > 0) or the free field (lambda = 0, m2 > 0) in the AKS convention.
class Phi4Target final : public Target {
 public:
  Phi4Target(LatticeShape shape, lattice::Phi4Couplings couplings);
  std::string kind() const override { return couplings_.lambda == 0.0 ? "free_field" : "phi4"; }
  std::string describe() const override;
  torch::Tensor action(const torch::Tensor& x) const override;
  const lattice::Phi4Couplings& couplings() const { return couplings_; }

 private:
  lattice::Phi4Couplings couplings_;
};

/// The Ising model's Hubbard-Stratonovich field (see the top of this file).
class IsingHsTarget final : public Target {
 public:
  /// runtime_error unless T > 0 (input checks belong to the deck).
  IsingHsTarget(LatticeShape shape, double T);
  std::string kind() const override { return "ising_hs"; }
  std::string describe() const override;
  torch::Tensor action(const torch::Tensor& x) const override;
  double temperature() const { return T_; }
  /// log Z_x - log Z_Ising(1/T): the constant of the transform.
  double log_z_offset() const { return log_z_offset_; }
  /// Per configuration: E[H | x] / V = -(1/V) sum_x sum_mu tanh x_x tanh x_{x+mu} (float64).
  torch::Tensor ising_energy_per_site(const torch::Tensor& x) const;
  /// Exact samples of x from Ising configurations s (N, L, ..., L) of the same T (values +-1):
  /// given s, x ~ N(K s, K) (the joint density is exp(-1/2 x^T K^-1 x + s.x)), so Monte Carlo
  /// spins become samples of the continuous field for forward-KL training. The Gaussian noise
  /// of configuration n is prior.hpp's normal_noise(n, step 0) under (seed, purpose). float64.
  torch::Tensor field_from_spins(const torch::Tensor& spins, std::uint64_t seed,
                                 std::uint32_t purpose) const;
  /// d = 2 only (Kaufman's exact log Z): -log Z_x, the exact lower bound of the loss, and the
  /// exact Ising energy per site.
  double exact_loss_bound() const;
  double exact_energy_per_site() const;

 private:
  double T_;
  double log_z_offset_ = 0.0;
  torch::Tensor k_inverse_;   ///< (V, V) float64
  /// k_inverse_ in the dtype and on the device of the last action() input.
  mutable torch::Tensor k_inverse_cast_;
  torch::Tensor k_;           ///< (V, V) float64
  torch::Tensor k_cholesky_;  ///< lower triangular, K = C C^T
};

/// V x V adjacency matrix of the periodic L^d lattice (float64): A_ij = number of directed
/// nearest-neighbour steps from i to j (2 on L = 2, where x + mu and x - mu coincide).
torch::Tensor lattice_adjacency(const LatticeShape& shape);

}  // namespace phyflow::flows
