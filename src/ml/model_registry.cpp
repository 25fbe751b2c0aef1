// Model kinds and the factory (model_registry.hpp).
#include "phyflow/ml/model_registry.hpp"

#include "phyflow/core/config.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/ml/models/energy_lm.hpp"
#include "phyflow/ml/models/graph_network.hpp"
#include "phyflow/ml/models/mlp.hpp"
#include "phyflow/ml/models/pendulum_dynamics.hpp"
#include "phyflow/ml/models/scalar_mlp.hpp"

namespace phyflow::ml {

const std::vector<ModelKind>& model_kinds() {
  static const std::vector<ModelKind> kinds = {
      {"energy_gru", "Ising energy language model trained on energies (L1)", DataLayout::ising,
       {"hidden", "bidirectional", "attention", "two_d", "mask"}},
      {"probability_gru", "Ising next-spin model (cross-entropy); energy from -log p / beta",
       DataLayout::ising, {"hidden", "mask"}},
      {"mlp", "multilayer perceptron on /x -> /y (mean squared error)", DataLayout::regression,
       {"layers", "width", "activation"}},
      {"gnn", "graph network on N-body frames -> accelerations (sum |error|; seed 004)",
       DataLayout::nbody, {"hidden", "regularizer", "msg_dim", "l1_weight", "kl_weight", "augment"}},
      {"scalar_mlp",
       "equivariant MLP on inner products of the input vectors (workflow: dataset kinds o5, "
       "inertia, lorentz; Villar et al. 2021)",
       DataLayout::regression, {"layers", "width", "activation", "metric", "permutation_invariant"}},
      {"hnn",
       "Hamiltonian network of the double spring pendulum: H = MLP(scalars), dz/dt = J dH/dz, "
       "trained through RK4 on workflow: dataset kind pendulum",
       DataLayout::regression, {"layers", "width", "activation", "dt", "substeps"}},
      {"neural_ode",
       "equivariant Neural ODE of the double spring pendulum: dz/dt = scalar-weighted sums of the "
       "vectors, trained through RK4 on workflow: dataset kind pendulum",
       DataLayout::regression, {"layers", "width", "activation", "dt", "substeps"}},
  };
  return kinds;
}

const ModelKind& model_kind(const std::string& name) {
  const ModelKind* best = nullptr;
  std::string names;
  for (const auto& k : model_kinds()) {
    if (k.name == name) return k;
    names += (names.empty() ? "" : ", ") + k.name;
    if (!best || config::edit_distance(name, k.name) < config::edit_distance(name, best->name)) best = &k;
  }
  throw input_error("unknown model kind '" + name + "' -- did you mean '" + best->name +
                    "'? (known: " + names + ")");
}

const nlohmann::json& model_option_defaults() {
  static const nlohmann::json d = {
      {"hidden", 0},          {"bidirectional", false}, {"attention", false}, {"two_d", false},
      {"mask", "target"},     {"layers", 2},            {"width", 64},        {"activation", "tanh"},
      {"regularizer", "standard"}, {"msg_dim", 0},     {"l1_weight", 1e-2},  {"kl_weight", 1.0},
      {"augment", 3.0},       {"metric", "auto"},       {"permutation_invariant", false},
      {"dt", 0.2},            {"substeps", 4}};
  return d;
}

namespace {
nlohmann::json option(const nlohmann::json& options, const std::string& key) {
  return options.contains(key) ? options.at(key) : model_option_defaults().at(key);
}
}  // namespace

void check_model_options(const std::string& kind_name, const nlohmann::json& section,
                         const std::string& where) {
  const ModelKind& kind = model_kind(kind_name);
  for (const auto& [key, def] : model_option_defaults().items()) {
    const bool used = std::find(kind.options.begin(), kind.options.end(), key) != kind.options.end();
    if (!used && section.contains(key) && section.at(key) != def) {
      std::string reads;
      for (const auto& o : kind.options) reads += (reads.empty() ? "" : ", ") + o;
      throw input_error(where + ": model." + key + " is not an option of model kind '" + kind.name +
                        "' (it reads " + reads + "); remove it or choose a kind that has it");
    }
  }
}

ModelPtr make_model(const std::string& kind_name, const nlohmann::json& options,
                    const DataShape& shape) {
  const ModelKind& kind = model_kind(kind_name);
  if (kind.layout != shape.layout)
    throw input_error("model '" + kind.name + "' trains on " + layout_description(kind.layout) +
                      ", not on " + layout_description(shape.layout));
  if (kind.name == "energy_gru" || kind.name == "probability_gru") {
    EnergyLMOptions o;
    o.probability = kind.name == "probability_gru";
    o.hidden = option(options, "hidden").get<int>();
    if (o.hidden == 0) o.hidden = 512;  // the seed's size
    o.mask_input = option(options, "mask").get<std::string>() == "input";
    if (!o.probability) {
      o.bidirectional = option(options, "bidirectional").get<bool>();
      o.attention = option(options, "attention").get<bool>();
      o.two_d = option(options, "two_d").get<bool>();
    }
    return std::make_shared<EnergyLM>(o, shape);
  }
  if (kind.name == "gnn") {
    GraphNetworkOptions o;
    o.hidden = option(options, "hidden").get<int>();
    if (o.hidden == 0) o.hidden = 300;  // the seed's width
    o.regularizer = option(options, "regularizer").get<std::string>();
    o.msg_dim = option(options, "msg_dim").get<int>();
    o.l1_weight = option(options, "l1_weight").get<double>();
    o.kl_weight = option(options, "kl_weight").get<double>();
    o.augment = option(options, "augment").get<double>();
    return std::make_shared<GraphNetwork>(o, shape);
  }
  if (kind.name == "scalar_mlp") {
    ScalarMlpOptions o;
    o.layers = option(options, "layers").get<int>();
    o.width = option(options, "width").get<int>();
    o.activation = option(options, "activation").get<std::string>();
    o.metric = option(options, "metric").get<std::string>();
    o.permutation_invariant = option(options, "permutation_invariant").get<bool>();
    return std::make_shared<ScalarMlp>(o, shape);
  }
  if (kind.name == "hnn" || kind.name == "neural_ode") {
    PendulumModelOptions o;
    o.hamiltonian = kind.name == "hnn";
    o.layers = option(options, "layers").get<int>();
    o.width = option(options, "width").get<int>();
    o.activation = option(options, "activation").get<std::string>();
    o.dt = option(options, "dt").get<double>();
    o.substeps = option(options, "substeps").get<int>();
    return std::make_shared<PendulumModel>(o, shape);
  }
  MlpOptions o;
  o.layers = option(options, "layers").get<int>();
  o.width = option(options, "width").get<int>();
  o.activation = option(options, "activation").get<std::string>();
  return std::make_shared<Mlp>(o, shape);
}

}  // namespace phyflow::ml
