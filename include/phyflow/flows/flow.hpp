// A normalizing flow for lattice fields: a prior and either a stack of coupling layers with
// alternating checkerboard parity (layer i has parity i mod 2, as in the tutorial
// arXiv:2101.08176; hierarchy "none") or the MERA-like hierarchy of NeuralRG (rg_flow.hpp;
// hierarchy "mera": `layers` affine couplings inside each block bijector, `net.hidden` their
// MLPs, `disentanglers` per level). sample() returns phi and log q(phi) = log p(z) - sum_i log|det
// J_i|; the sampler only sees (phi, log q), the action only phi.
// Devices: flow->to(device) moves the weights; the prior's noise is drawn on the host (the same
// numbers on any device) and moved to the weights' device, and the layers' index tensors and
// masks follow their input's device. Model files hold host tensors (write_flow moves them).
//
// A flow is stored like the training runtime's models (ml/model_file.hpp): group /model with
// one dataset per parameter named as in the module ("layers.0.net.0.weight"), model_kind
// "flow", the options as JSON (model_options) and one attribute each.
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "phyflow/flows/action.hpp"
#include "phyflow/flows/coupling.hpp"
#include "phyflow/flows/prior.hpp"

namespace phyflow::io {
class OutputFile;
}

namespace phyflow::flows {

struct FlowConfig {
  LatticeShape shape;
  std::string coupling = "affine";  ///< affine | spline
  std::int64_t layers = 16;
  ConditionerOptions net;          ///< final_tanh: affine yes, spline no
  std::int64_t bins = 8;           ///< spline: K
  double bound = 5.0;              ///< spline: B (identity outside [-B, B])
  bool z2 = false;                 ///< affine: Z2-equivariant (odd) layers
  std::string prior = "normal";    ///< normal | free_field
  double prior_m2 = 1.0;           ///< free_field prior's mass
  std::string dtype = "float32";   ///< float32 | float64
  std::string hierarchy = "none";  ///< none | mera
  std::int64_t disentanglers = 1;  ///< mera: disentangler layers per level
  /// Z2 mixture: q(x) = [q_f(x) + q_f(-x)] / 2, each sample's sign drawn at random. For targets
  /// symmetric under x -> -x (phi4, ising_hs) a flow that has collapsed onto one of the two
  /// ordered modes still proposes both.
  bool symmetrize = false;

  nlohmann::json to_json() const;
  /// input_error naming `where` for a missing or bad option.
  static FlowConfig from_json(const nlohmann::json& j, const std::string& where);
  torch::ScalarType scalar_type() const;
};

class Flow : public torch::nn::Module {
 public:
  /// Builds the layers with torch's default initialisation (seed it with torch::manual_seed).
  explicit Flow(FlowConfig config);

  const FlowConfig& config() const { return config_; }
  const Prior& prior() const { return *prior_; }
  /// Where the weights are (moved by to(device)).
  torch::Device device() const { return probe_.device(); }
  /// z -> (phi, sum log|det J|).
  std::pair<torch::Tensor, torch::Tensor> forward(torch::Tensor z);
  /// phi -> (z, sum log|det J^-1|).
  std::pair<torch::Tensor, torch::Tensor> reverse(torch::Tensor phi);
  /// Draws configurations first..first+n-1 of draw `step` from the prior (prior.hpp) and pushes
  /// them through: (phi, log q(phi)).
  std::pair<torch::Tensor, torch::Tensor> sample(std::int64_t first, std::int64_t n,
                                                 std::uint64_t seed, std::uint32_t purpose,
                                                 std::uint64_t step);
  /// log q(phi) of given configurations, through the reverse flow (phi is moved to the
  /// flow's device and dtype; so is the result).
  torch::Tensor log_q(const torch::Tensor& phi);

 private:
  /// log q_f of the flow itself (without the Z2 mixture).
  torch::Tensor log_q_flow(const torch::Tensor& phi);
  /// The layers, when every one is a fused affine conv coupling (they then run in the
  /// site-major layout from end to end); else empty.
  std::vector<AffineCoupling*> site_major_layers() const;
  FlowConfig config_;
  std::shared_ptr<Prior> prior_;
  std::vector<std::shared_ptr<Bijector>> layers_;
  /// A handle to the first parameter: Module::to replaces the data of each parameter in place
  /// (set_data), so its device is the flow's whichever way the flow was moved.
  torch::Tensor probe_;
};

/// Writes the flow into `group` (collective; rank 0 writes, the weights are equal everywhere).
void write_flow(io::OutputFile& out, const std::string& group, Flow& flow);
/// Rebuilds the flow stored in `group` of `path`; input_error when it is not a flow file.
std::shared_ptr<Flow> read_flow(const std::string& path, const std::string& group = "/model");

}  // namespace phyflow::flows
