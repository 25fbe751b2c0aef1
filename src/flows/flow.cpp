// Flows and their model files (flow.hpp).
#include "phyflow/flows/flow.hpp"

#include <torch/torch.h>

#include <cmath>
#include <tuple>

#include "phyflow/core/error.hpp"
#include "phyflow/core/rng.hpp"
#include "phyflow/flows/rg_flow.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/ml/dataset.hpp"
#include "phyflow/ml/model_file.hpp"

namespace phyflow::flows {

nlohmann::json FlowConfig::to_json() const {
  return {{"dims", shape.dims},
          {"L", shape.L},
          {"coupling", coupling},
          {"layers", layers},
          {"net", net.net},
          {"hidden", net.hidden},
          {"kernel", net.kernel},
          {"final_tanh", net.final_tanh},
          {"bins", bins},
          {"bound", bound},
          {"z2", z2},
          {"prior", prior},
          {"prior_m2", prior_m2},
          {"dtype", dtype},
          {"hierarchy", hierarchy},
          {"disentanglers", disentanglers},
          {"symmetrize", symmetrize}};
}

FlowConfig FlowConfig::from_json(const nlohmann::json& j, const std::string& where) {
  FlowConfig c;
  try {
    c.shape.dims = j.at("dims").get<int>();
    c.shape.L = j.at("L").get<int>();
    c.coupling = j.at("coupling").get<std::string>();
    c.layers = j.at("layers").get<std::int64_t>();
    c.net.net = j.at("net").get<std::string>();
    c.net.hidden = j.at("hidden").get<std::vector<std::int64_t>>();
    c.net.kernel = j.at("kernel").get<std::int64_t>();
    c.net.final_tanh = j.at("final_tanh").get<bool>();
    c.bins = j.at("bins").get<std::int64_t>();
    c.bound = j.at("bound").get<double>();
    c.z2 = j.at("z2").get<bool>();
    c.prior = j.at("prior").get<std::string>();
    c.prior_m2 = j.at("prior_m2").get<double>();
    c.dtype = j.at("dtype").get<std::string>();
    // Absent in flows written before the hierarchical flows existed.
    c.hierarchy = j.value("hierarchy", std::string("none"));
    c.disentanglers = j.value("disentanglers", std::int64_t(1));
    c.symmetrize = j.value("symmetrize", false);
  } catch (const nlohmann::json::exception& e) {
    throw input_error(where + ": flow options are incomplete or mistyped (" + e.what() + ")");
  }
  return c;
}

torch::ScalarType FlowConfig::scalar_type() const {
  return dtype == "float64" ? torch::kFloat64 : torch::kFloat32;
}

Flow::Flow(FlowConfig config) : torch::nn::Module("Flow"), config_(std::move(config)) {
  const auto& c = config_;
  lattice::phi4_volume(c.shape.dims, c.shape.L);  // checks d and L
  if (c.coupling != "affine" && c.coupling != "spline")
    throw input_error("unknown model.coupling '" + c.coupling + "' (known: affine, spline)");
  if (c.layers < 1) throw input_error("model.layers must be at least 1");
  if (c.z2 && c.coupling != "affine")
    throw input_error("model.z2 (equivariant layers) exists for coupling: affine only");
  if (c.dtype != "float32" && c.dtype != "float64")
    throw input_error("model.dtype must be float32 or float64, not '" + c.dtype + "'");
  if (c.hierarchy != "none" && c.hierarchy != "mera")
    throw input_error("unknown model.hierarchy '" + c.hierarchy + "' (known: none, mera)");
  if (c.hierarchy == "mera" && c.z2)
    throw input_error(
        "model.hierarchy mera has no Z2-equivariant blocks: set model.z2: false (model.symmetrize "
        "makes the flow Z2-symmetric)");
  prior_ = make_prior(c.prior, c.shape, c.prior_m2);
  torch::nn::ModuleList list;
  if (c.hierarchy == "mera")
    for (auto& layer :
         mera_layers(c.shape, c.disentanglers, c.layers, c.net.hidden, c.net.identity_init,
                     BlockCoupling{c.coupling, c.bins, c.bound})) {
      list->push_back(layer);
      layers_.push_back(layer);
    }
  for (std::int64_t i = 0; c.hierarchy == "none" && i < c.layers; ++i) {
    std::shared_ptr<CouplingLayer> layer;
    if (c.coupling == "affine")
      layer = std::make_shared<AffineCoupling>(c.shape, int(i % 2), c.net, c.z2);
    else
      layer = std::make_shared<SplineCoupling>(c.shape, int(i % 2), c.net, c.bins, c.bound);
    list->push_back(layer);
    layers_.push_back(layer);
  }
  register_module("layers", list);
  to(c.scalar_type());
  probe_ = parameters().front();
}

// A stack of fused affine conv couplings runs in their site-major layout (V, B) throughout:
// one layout copy at each end instead of two per coupling (and per coupling in backward).
// The numbers are the same: the copies are exact and the arithmetic per element unchanged.
std::vector<AffineCoupling*> Flow::site_major_layers() const {
  std::vector<AffineCoupling*> out;
  for (const auto& layer : layers_) {
    auto* affine = dynamic_cast<AffineCoupling*>(layer.get());
    if (affine == nullptr || !affine->fused()) return {};
    out.push_back(affine);
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> Flow::forward(torch::Tensor z) {
  if (const auto fused = site_major_layers(); !fused.empty()) {
    auto xt = to_site_major(z);
    torch::Tensor logdet;  // each coupling adds its own inside its autograd node
    for (auto* layer : fused) std::tie(xt, logdet) = layer->site_major(xt, false, logdet);
    return {from_site_major(xt, config_.shape), logdet};
  }
  auto logdet = torch::zeros({z.size(0)}, z.options());
  for (auto& layer : layers_) {
    auto [x, ld] = layer->forward(z);
    z = x;
    logdet = logdet + ld;
  }
  return {z, logdet};
}

std::pair<torch::Tensor, torch::Tensor> Flow::reverse(torch::Tensor phi) {
  if (const auto fused = site_major_layers(); !fused.empty()) {
    auto xt = to_site_major(phi);
    torch::Tensor logdet;
    for (auto it = fused.rbegin(); it != fused.rend(); ++it)
      std::tie(xt, logdet) = (*it)->site_major(xt, true, logdet);
    return {from_site_major(xt, config_.shape), logdet};
  }
  auto logdet = torch::zeros({phi.size(0)}, phi.options());
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    auto [z, ld] = (*it)->reverse(phi);
    phi = z;
    logdet = logdet + ld;
  }
  return {phi, logdet};
}

std::pair<torch::Tensor, torch::Tensor> Flow::sample(std::int64_t first, std::int64_t n,
                                                     std::uint64_t seed, std::uint32_t purpose,
                                                     std::uint64_t step) {
  const auto z = prior_->sample(first, n, seed, purpose, step, config_.scalar_type(), device());
  const auto log_p = prior_->log_prob(z);
  auto [phi, logdet] = forward(z);
  auto lq = log_p - logdet;
  if (!config_.symmetrize) return {phi, lq};
  // Z2 mixture: whatever the sign, q(+-f(z)) = [q_f(f(z)) + q_f(-f(z))] / 2; the sign of sample
  // first + i is a Philox bit keyed like its noise.
  const rng::Stream stream(seed, purpose ^ rng::purpose("flow_sign"));
  std::vector<double> signs(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    signs[std::size_t(i)] = (stream(std::uint64_t(first + i), step).w[0] & 1u) ? -1.0 : 1.0;
  const auto other = log_q_flow(-phi);
  lq = torch::logaddexp(lq, other) - std::log(2.0);
  std::vector<std::int64_t> view(std::size_t(config_.shape.dims) + 1, 1);
  view[0] = n;
  const auto sign = torch::tensor(signs, torch::kFloat64).to(phi.options()).reshape(view);
  return {phi * sign, lq};
}

torch::Tensor Flow::log_q_flow(const torch::Tensor& phi) {
  auto [z, logdet] = reverse(phi.to(device(), config_.scalar_type()));
  return prior_->log_prob(z) + logdet;
}

torch::Tensor Flow::log_q(const torch::Tensor& phi) {
  if (!config_.symmetrize) return log_q_flow(phi);
  return torch::logaddexp(log_q_flow(phi), log_q_flow(-phi)) - std::log(2.0);
}

void write_flow(io::OutputFile& out, const std::string& group, Flow& flow) {
  ml::write_tensors(out, group, ml::named_tensors(flow), "flow tensor");
  const auto options = flow.config().to_json();
  out.set_attribute(group, "model_kind", std::string("flow"));
  out.set_attribute(group, "model_options", options.dump());
  for (const auto& [key, value] : options.items()) {
    if (value.is_boolean())
      out.set_attribute(group, key, std::int64_t(value.get<bool>()));
    else if (value.is_number_integer())
      out.set_attribute(group, key, value.get<std::int64_t>());
    else if (value.is_number())
      out.set_attribute(group, key, value.get<double>());
    else if (value.is_string())
      out.set_attribute(group, key, value.get<std::string>());
  }
}

std::shared_ptr<Flow> read_flow(const std::string& path, const std::string& group) {
  std::lock_guard<std::recursive_mutex> lock(ml::hdf5_mutex());
  const auto f = io::InputFile::open(path, MPI_COMM_SELF);
  const std::string kind = ml::model_kind_of(f, group);
  if (kind != "flow")
    throw input_error("'" + path + "' holds a '" + kind +
                      "' model, not a flow; give the output "
                      "of a workflow: flow run");
  const auto options = nlohmann::json::parse(f.attribute_string(group, "model_options"));
  auto flow = std::make_shared<Flow>(FlowConfig::from_json(options, "model file '" + path + "'"));
  ml::load_weights(f, group, *flow);
  return flow;
}

}  // namespace phyflow::flows
