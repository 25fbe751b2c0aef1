// Coupling layers of the flows (DESIGN.md §8, "normflow and the flow tutorial"): a layer maps
// z -> phi and returns log|det d phi/d z|, and maps back phi -> z with log|det d z/d phi|. A
// checkerboard mask (1 = frozen) splits the sites; a conditioner net reads the frozen sites and
// parametrises an elementwise bijection of the active ones.
//   affine (RealNVP, Dinh et al. 2017; the tutorial arXiv:2101.08176):
//     phi = m z + (1 - m) (z e^s + t), log det = sum (1 - m) s;
//   spline (rational-quadratic, Durkan et al. arXiv:1906.04032): K monotone rational-quadratic
//     bins on [-B, B], identity (linear) tails outside, boundary derivatives 1.
// Conditioners: conv nets with circular padding (d = 1, 2, 3; 1 -> hidden... -> out channels,
// kernel k, LeakyReLU between layers, optional final tanh), or dense nets (any d).
// Z2-equivariant affine layers (odd flow, phi(-z) = -phi(z)): s even and t odd in the frozen
// sites, by symmetrising the net over x -> -x.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>

#include <string>
#include <utility>
#include <vector>

#include "phyflow/flows/action.hpp"

namespace phyflow::flows {

/// Checkerboard mask (L, ..., L) in float64: mask_x = (sum_mu x_mu + parity) mod 2, the
/// tutorial's make_checker_mask in d dimensions.
torch::Tensor checker_mask(const LatticeShape& shape, int parity);

/// Rational-quadratic spline, elementwise: x (...), unnormalised widths w and heights h
/// (..., K), unnormalised interior derivatives d (..., K - 1). Returns y and log|dy/dx| (or,
/// with inverse, x and log|dx/dy|). Identity outside [-bound, bound].
std::pair<torch::Tensor, torch::Tensor> rational_quadratic_spline(const torch::Tensor& x,
                                                                  const torch::Tensor& w,
                                                                  const torch::Tensor& h,
                                                                  const torch::Tensor& d,
                                                                  double bound, bool inverse);

/// The unnormalised interior knot derivative that rational_quadratic_spline maps to slope 1:
/// with it and equal widths and heights the spline is the identity (identity_init).
double spline_unit_derivative_parameter();

struct ConditionerOptions {
  std::string net = "conv";  ///< conv | dense
  std::vector<std::int64_t> hidden{8, 8};
  std::int64_t kernel = 3;
  bool final_tanh = true;
  /// Start as the identity: the final layer's weights and bias at zero (Glow's zero
  /// initialisation), so that s = t = 0 (affine) or every bin equal with unit knot slopes
  /// (spline). Deep stacks of couplings then start from the prior instead of compounding the
  /// default initialisation's random scalings. Initialisation only: not part of the
  /// architecture, so not in the model file.
  bool identity_init = false;
};

/// Zero the weights and bias of the last module with parameters in `net` (identity_init).
void zero_final_layer(torch::nn::Sequential& net);

/// The conditioner: conv nets (periodic convolutions, one gather + one GEMM each) work in the
/// site-major layout, batch innermost: (1, V, B) -> (out, V, B) with V = L^d flattened
/// row-major; dense nets (B, V) ->
/// (B, out V).
torch::nn::Sequential make_conditioner(const LatticeShape& shape, const ConditionerOptions& o,
                                       std::int64_t out_channels);

/// A conv conditioner made by make_conditioner applied to x (1, V, B) as one autograd node
/// (its layers fused, hand-written backward); the same numbers as net->forward(x).
torch::Tensor conv_conditioner_forward(torch::nn::Sequential& net, const torch::Tensor& x);
/// An affine coupling with a conv conditioner made by make_conditioner (out channels s, t),
/// as one autograd node: x (B, L, ..., L), mask (1 = frozen) and active = 1 - mask in x's
/// dtype (V elements); forward y = m x + a (x e^s + t), log det = sum a s; reverse
/// y = m x + a (x - t) e^{-s}, log det = -sum a s; (s, t) = net(m x).
std::pair<torch::Tensor, torch::Tensor> affine_conv_coupling(torch::nn::Sequential& net,
                                                             const torch::Tensor& mask,
                                                             const torch::Tensor& active,
                                                             const torch::Tensor& x,
                                                             bool reverse);
/// On the host the fused coupling's elementwise part is one hand-written pass over the sites;
/// false routes it through the LibTorch ops that other devices run (for tests of that path).
void set_host_coupling_loops(bool on);
/// The same on fields in the site-major layout (V, B), V = L^d flattened row-major, batch
/// innermost: what the conv conditioners work in, so a stack of these couplings needs one
/// layout copy at each end (Flow does that) instead of two per coupling. With `logdet_in`
/// (B) defined, the log det returned is logdet_in + the coupling's, inside the coupling's
/// autograd node (a stack of couplings then needs no add node per layer).
std::pair<torch::Tensor, torch::Tensor> affine_conv_coupling_site_major(
    torch::nn::Sequential& net, const torch::Tensor& mask, const torch::Tensor& active,
    const torch::Tensor& xt, bool reverse, const torch::Tensor& logdet_in = {});
/// (B, L, ..., L) -> (V, B) contiguous, and back.
torch::Tensor to_site_major(const torch::Tensor& x);
torch::Tensor from_site_major(const torch::Tensor& xt, const LatticeShape& shape);

/// One invertible layer of a flow on fields (B, L, ..., L).
class Bijector : public torch::nn::Module {
 public:
  /// z -> (phi, log|det J|) per configuration.
  virtual std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& z) = 0;
  /// phi -> (z, log|det J^-1|) per configuration.
  virtual std::pair<torch::Tensor, torch::Tensor> reverse(const torch::Tensor& phi) = 0;
};

class CouplingLayer : public Bijector {
 public:
  CouplingLayer(const LatticeShape& shape, int parity, const ConditionerOptions& o,
                std::int64_t out_channels);

 protected:
  /// The conditioner applied to the frozen sites of x: (B, out, L, ...).
  torch::Tensor condition(const torch::Tensor& frozen);
  /// The mask (1 = frozen) and 1 - mask in like's dtype and device (converted once, cached).
  const torch::Tensor& mask(const torch::Tensor& like) const {
    cast_masks(like);
    return mask_cast_;
  }
  const torch::Tensor& active_mask(const torch::Tensor& like) const {
    cast_masks(like);
    return active_cast_;
  }
  torch::Tensor sum_sites(const torch::Tensor& t) const {
    return t.reshape({t.size(0), -1}).sum(1);
  }

  LatticeShape shape_;
  std::string net_kind_;
  std::int64_t out_channels_;
  torch::Tensor mask_;
  torch::nn::Sequential net_{nullptr};

 private:
  void cast_masks(const torch::Tensor& like) const;
  mutable torch::Tensor mask_cast_, active_cast_;
};

class AffineCoupling final : public CouplingLayer {
 public:
  AffineCoupling(const LatticeShape& shape, int parity, const ConditionerOptions& o, bool z2);
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& z) override;
  std::pair<torch::Tensor, torch::Tensor> reverse(const torch::Tensor& phi) override;
  /// Whether the layer is one fused autograd node (a conv conditioner, no Z2 symmetrisation)
  /// that can work in the site-major layout.
  bool fused() const { return net_kind_ == "conv" && !z2_; }
  /// forward (reverse = false) or reverse on xt (V, B) in the site-major layout; fused only.
  /// The log det returned includes `logdet_in` where defined (affine_conv_coupling_site_major).
  std::pair<torch::Tensor, torch::Tensor> site_major(const torch::Tensor& xt, bool reverse,
                                                     const torch::Tensor& logdet_in = {});

 private:
  std::pair<torch::Tensor, torch::Tensor> shift_scale(const torch::Tensor& frozen);
  bool z2_;
};

class SplineCoupling final : public CouplingLayer {
 public:
  SplineCoupling(const LatticeShape& shape, int parity, const ConditionerOptions& o,
                 std::int64_t bins, double bound);
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& z) override;
  std::pair<torch::Tensor, torch::Tensor> reverse(const torch::Tensor& phi) override;

 private:
  std::pair<torch::Tensor, torch::Tensor> apply(const torch::Tensor& x, bool inverse);
  /// The active sites (mask 0) as indices into the flattened lattice, on x's device (cached).
  const torch::Tensor& active_sites(const torch::Tensor& like) const;
  std::int64_t bins_;
  double bound_;
  mutable torch::Tensor active_sites_;
};

}  // namespace phyflow::flows
