// Hierarchical (MERA-like) renormalisation-group flow of NeuralRG (Li & Wang,
// arXiv:1802.02840; REFERENCES.md "Flow-based MCMC"): bijectors acting on blocks of 2^d sites,
// arranged as in a multi-scale entanglement renormalisation ansatz.
//
// The lattice is L^d with L = 2^n. Level k = 0..n-1 acts on the sites whose coordinates are
// multiples of s = 2^k (an (L/s)^d lattice, periodic). At each level, in the inference direction
// (field -> latent):
//   - disentanglers: one block bijector applied to every block of 2^d sites offset by one
//     (level-k) site in each direction, i.e. across the decimators' block boundaries;
//   - decimator: a block bijector applied to the aligned blocks; of each block only the corner
//     site (all coordinates multiples of 2s) goes on to level k + 1, the other 2^d - 1 outputs
//     are latent variables from then on (the "renormalised away" degrees of freedom).
// The generative direction (latent -> field, Flow::forward) runs the inverse: from the coarsest
// level down, decimator then disentanglers. One block bijector per layer, shared by all blocks
// of the layer (translation invariance); different layers and levels have their own.
//
// A block bijector is a RealNVP (Dinh et al. 2017) on the 2^d variables of a block: `couplings`
// couplings alternating between the two checkerboard halves of the block, each with an MLP
// (2^(d-1) -> hidden... -> out, LeakyReLU): affine (out 2 * 2^(d-1): s through tanh, and t),
// as NeuralRG; or rational-quadratic splines (out (3K - 1) * 2^(d-1): K bins on [-B, B],
// identity tails; the spline of coupling.hpp), which can bend a unimodal latent into the
// bimodal marginals of the Ising model's Hubbard-Stratonovich field.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "phyflow/flows/coupling.hpp"

namespace phyflow::flows {

/// The elementwise bijection of the block couplings.
struct BlockCoupling {
  std::string kind = "affine";  ///< affine | spline
  std::int64_t bins = 8;        ///< spline: K
  double bound = 5.0;           ///< spline: B (identity outside [-B, B])
};

/// RealNVP on rows of P = 2^d variables: (R, P) -> (R, P) and log|det J| per row (R).
class BlockRealNvp : public torch::nn::Module {
 public:
  /// identity_init: every coupling starts as the identity (ConditionerOptions::identity_init).
  BlockRealNvp(int dims, std::int64_t couplings, const std::vector<std::int64_t>& hidden,
               bool identity_init = false, BlockCoupling coupling = {});
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& z);
  std::pair<torch::Tensor, torch::Tensor> reverse(const torch::Tensor& x);

 private:
  std::pair<torch::Tensor, torch::Tensor> shift_scale(std::size_t i, const torch::Tensor& x);
  /// Coupling i applied to x (R, P): the new rows and log|det| per row.
  std::pair<torch::Tensor, torch::Tensor> couple(std::size_t i, const torch::Tensor& x,
                                                 bool inverse);
  BlockCoupling coupling_;
  std::vector<torch::nn::Sequential> nets_;
  /// Block positions, per coupling (int64), on the device of the last input.
  std::vector<torch::Tensor> frozen_, active_;
};

/// One layer of the hierarchy: a BlockRealNvp applied to every block of 2^d sites of the level
/// with site spacing `stride`, blocks starting at `offset` (0: decimator, 1: disentangler).
class RgBlockLayer final : public Bijector {
 public:
  RgBlockLayer(const LatticeShape& shape, std::int64_t stride, int offset, std::int64_t couplings,
               const std::vector<std::int64_t>& hidden, bool identity_init = false,
               const BlockCoupling& coupling = {});
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& z) override;
  std::pair<torch::Tensor, torch::Tensor> reverse(const torch::Tensor& phi) override;
  /// Flat site indices (blocks, 2^d) the layer acts on (tests).
  const torch::Tensor& sites() const { return sites_; }

 private:
  std::pair<torch::Tensor, torch::Tensor> apply(const torch::Tensor& x, bool inverse);
  torch::Tensor sites_;       ///< (blocks, 2^d) int64, on the host
  torch::Tensor flat_sites_;  ///< sites_ flattened, on the device of the last input
  std::shared_ptr<BlockRealNvp> block_;
};

/// The layers of the MERA-like hierarchy in generative order (coarsest level first). L must be a
/// power of two >= 2 (input_error otherwise).
std::vector<std::shared_ptr<RgBlockLayer>> mera_layers(const LatticeShape& shape,
                                                       std::int64_t disentanglers,
                                                       std::int64_t couplings,
                                                       const std::vector<std::int64_t>& hidden,
                                                       bool identity_init = false,
                                                       const BlockCoupling& coupling = {});

}  // namespace phyflow::flows
