// workflow: distill -- symbolic distillation of a graph network trained on N-body data
// (seed 004; Cranmer et al., arXiv:2006.11287), one deck for the whole chain:
//
//   mpiexec -n 2 phyflow run inputs/distill_spring2d.yaml
//   mpiexec -n 2 phyflow run inputs/distill_spring2d.yaml --from regress   (rerun a stage)
//
// Stages, each leaving its result in a file next to output.path (STEM = output.path less .h5),
// so that `--from STAGE` reruns a stage and those after it from the earlier stages' files:
//   train     workflow: train with model.kind gnn            -> STEM.gnn.h5 (+ .json)
//   analyse   messages of the test frames; the d most spread components; R^2 of each against
//             the best (trimmed) linear transform of the true pair force -> STEM.analysis.h5
//   regress   symbolic regression (the sr engine, islands over the same ranks) of each
//             selected message component over dx, dy(, dz), r, m1, m2, q1, q2 (dx = x_j - x_i,
//             1 = receiver, 2 = sender), then of each acceleration component of the node
//             model over the summed selected messages e0.. and the body's m, q
//                                                            -> STEM.equations.json
//   evaluate  the distilled model (edge equations, summed, node equations) next to the graph
//             network on the analysed test frames         -> output.path + distill.json
// Every rank computes the analysis and evaluation identically (deterministic, small), rank 0
// writes; the regression is collective. Files are written as PATH.partial and renamed.
#include "phyflow/core/collective.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/core/summary.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/ml/dataset.hpp"
#include "phyflow/ml/message_analysis.hpp"
#include "phyflow/ml/model_file.hpp"
#include "phyflow/ml/models/graph_network.hpp"
#include "phyflow/nbody/force_laws.hpp"
#include "phyflow/sr/evaluate.hpp"
#include "phyflow/sr/search.hpp"
#include "phyflow/workflows/run_keys.hpp"
#include "phyflow/ml/threads.hpp"
#include "phyflow/workflows/workflow.hpp"
#include "sr_keys.hpp"

#include <torch/torch.h>

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

namespace phyflow::workflows {
namespace {

const std::vector<std::string> stage_names = {"train", "analyse", "regress", "evaluate"};

config::Schema distill_schema() {
  config::Schema s("distill");
  s.choice("workflow", "distill", {"distill"}, "what to run");
  s.integer("seed", 1, 0, 4294967295.0,
            "seed of the training (weights, shuffles, augmentation) and of the regression");
  s.string("data.train", std::nullopt, "N-body training file (workflow: nbody output)").required();
  s.string("data.val", std::nullopt, "N-body validation file (optional)");
  s.string("data.test", std::nullopt,
           "N-body test file: messages are analysed and both models evaluated on its frames")
      .required();
  s.choice("model.regularizer", "bottleneck", {"standard", "bottleneck", "l1", "kl"},
           "message regularisation: standard (100 components), bottleneck (d components), l1 "
           "(100 with an L1 penalty), kl (variational, KL penalty)");
  s.integer("model.hidden", 300, 1, 1e6, "width of the edge and node MLPs (the seed: 300)");
  s.integer("model.msg_dim", 0, 0, 1e6, "message components (0: by model.regularizer)");
  s.real("model.l1_weight", 1e-2, 0.0, std::nullopt, "l1: weight of sum |message| / edges");
  s.real("model.kl_weight", 1.0, 0.0, std::nullopt, "kl: weight of the KL term / edges");
  s.real("model.augment", 3.0, 0.0, std::nullopt,
         "std of the random translation of each training frame (0: off)");
  s.choice("model.dtype", "float32", {"float32", "float64"}, "precision of weights and data");
  s.integer("train.epochs", 30, 1, 1e9, "passes over the training frames");
  s.integer("train.batch", 64, 1, 1e9, "frames per rank and step");
  s.real("train.lr", 1e-3, 0.0, 1e3, "peak learning rate (one-cycle schedule, as the seed)");
  s.choice("train.schedule", "one_cycle", {"constant", "cosine", "one_cycle"},
           "learning-rate schedule");
  s.integer("analysis.frames", 1000, 1, 1e9,
            "test frames analysed and evaluated (evenly strided over the file)");
  s.real("analysis.trim", 0.1, 0.0, 0.49,
         "fraction of edges with the worst residuals left out of the message fit (the paper: 0.1)");
  s.integer("sr.samples", 1000, 10, 1e9, "edges (and nodes) the regression runs on");
  add_sr_search_keys(s, "sr.operators", "sr.", "sr.complexity.");
  s.integer("threads.torch", 0, 0, 4096, "LibTorch intra-op threads per rank (0: as workflow: train)");
  s.string("output.path", std::string("distill.h5"),
           "final output (evaluation); the stages' files are named after it");
  add_run_keys(s, "steps");
  return s;
}

struct Paths {
  std::string out, gnn, analysis, equations;
};

Paths paths_for(const std::string& out) {
  std::string stem = out;
  if (stem.size() > 3 && stem.compare(stem.size() - 3, 3, ".h5") == 0) stem.resize(stem.size() - 3);
  return {out, stem + ".gnn.h5", stem + ".analysis.h5", stem + ".equations.json"};
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::size_t stage_index(const std::string& name) {
  for (std::size_t i = 0; i < stage_names.size(); ++i)
    if (stage_names[i] == name) return i;
  std::string all;
  for (const auto& n : stage_names) all += (all.empty() ? "" : ", ") + n;
  throw input_error("--from " + name + ": unknown stage of workflow distill (stages: " + all + ")");
}

void distill_check(const config::Deck& deck, int /*ranks*/) {
  if (deck.string("model.regularizer") == "bottleneck" && deck.integer("model.msg_dim") != 0)
    throw input_error("deck '" + deck.origin() +
                      "': model.regularizer bottleneck fixes model.msg_dim to d; remove msg_dim");
  if (deck.string_list("sr.operators").empty())
    throw input_error("deck '" + deck.origin() + "': sr.operators is empty");
}

// ----------------------------------------------------------------------------------- train --

void stage_train(const config::Deck& deck, Runtime& rt, const RunOptions& options, const Paths& p) {
  nlohmann::json t = {
      {"workflow", "train"},
      {"seed", deck.integer("seed")},
      {"data", {{"train", deck.string("data.train")}, {"test", deck.string("data.test")}}},
      {"model",
       {{"kind", "gnn"},
        {"regularizer", deck.string("model.regularizer")},
        {"hidden", deck.integer("model.hidden")},
        {"msg_dim", deck.integer("model.msg_dim")},
        {"l1_weight", deck.real("model.l1_weight")},
        {"kl_weight", deck.real("model.kl_weight")},
        {"augment", deck.real("model.augment")},
        {"dtype", deck.string("model.dtype")}}},
      {"optim",
       {{"lr", deck.real("train.lr")},
        {"batch", deck.integer("train.batch")},
        {"epochs", deck.integer("train.epochs")},
        {"schedule", deck.string("train.schedule")}}},
      {"threads", {{"torch", deck.integer("threads.torch")}}},
      {"checkpoint", deck.at("checkpoint")},
      {"progress", deck.at("progress")},
      {"io", deck.at("io")},
      {"output", {{"path", p.gnn}}}};
  if (deck.has("data.val")) t["data"]["val"] = deck.string("data.val");
  const Workflow& w = find("train");
  const auto train_deck = collective_try(rt.comm(), [&] {
    auto d = config::Deck::load_string(t.dump(2), {}, w.schema(), deck.origin() + " (stage train)");
    w.check(d, rt.size());
    return d;
  });
  log::info("distill: stage train -> " + p.gnn);
  RunOptions o = options;
  o.from_stage.clear();
  w.run(train_deck, rt, o);
}

// --------------------------------------------------------------------------------- analyse --

nbody::ForceLawSpec law_of(const io::InputFile& f) {
  if (!f.has_attribute("/", "law"))
    throw input_error("'" + f.path() +
                      "' has no 'law' attribute: distillation needs an N-body file written by "
                      "workflow: nbody (it names the force law the messages are compared with)");
  nbody::ForceLawSpec spec;
  spec.law = nbody::parse_force_law(f.attribute_string("/", "law"));
  if (spec.law == nbody::ForceLaw::gravity) {
    spec.gravity_G = f.attribute_double("/", "G");
    spec.gravity_eps = f.attribute_double("/", "softening");
  }
  if (spec.law == nbody::ForceLaw::power)
    throw input_error("'" + f.path() + "': distillation of the custom power law is not supported");
  return spec;
}

std::vector<std::string> edge_variables(int d) {
  std::vector<std::string> v = {"dx", "dy", "dz"};
  v.resize(d);
  for (const char* s : {"r", "m1", "m2", "q1", "q2"}) v.push_back(s);
  return v;
}

std::vector<std::string> node_variables(int d) {
  std::vector<std::string> v;
  for (int c = 0; c < d; ++c) v.push_back("e" + std::to_string(c));
  v.push_back("m");
  v.push_back("q");
  return v;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

std::shared_ptr<ml::GraphNetwork> load_gnn(const std::string& path) {
  if (!file_exists(path))
    throw input_error("'" + path + "' (the trained graph network of stage train) does not exist: "
                      "run without --from, or with --from train");
  auto model = ml::read_model(path);
  auto gnn = std::dynamic_pointer_cast<ml::GraphNetwork>(model);
  if (!gnn)
    throw input_error("'" + path + "' holds a model of kind '" + model->kind() +
                      "', not the graph network (gnn) distillation reads");
  gnn->eval();
  return gnn;
}

void stage_analyse(const config::Deck& deck, Runtime& rt, const RunOptions& options, const Paths& p) {
  log::info("distill: stage analyse -> " + p.analysis);
  struct Inputs {
    std::shared_ptr<ml::GraphNetwork> gnn;
    std::optional<ml::Dataset> test;
    nbody::ForceLawSpec law;
  } in;
  collective_try(rt.comm(), [&] {
    in.gnn = load_gnn(p.gnn);
    in.test.emplace(ml::Dataset::open(deck.string("data.test"), "data.test"));
    in.test->require(ml::DataLayout::nbody, "gnn");
    in.test->require_shape(in.gnn->data_shape(), "gnn");
    in.law = law_of(io::InputFile::open(deck.string("data.test")));
  });
  auto& gnn = *in.gnn;
  const int n = gnn.bodies(), d = gnn.dims(), M = gnn.message_dim();
  const std::int64_t size = in.test->size();
  const std::int64_t F = std::min<std::int64_t>(deck.integer("analysis.frames"), size);
  std::vector<std::int64_t> index(F);
  for (std::int64_t k = 0; k < F; ++k) index[k] = k * size / F;
  const auto dtype = gnn.parameters().front().scalar_type();

  torch::NoGradGuard no_grad;
  const auto batch = in.test->gather(index, dtype);
  const auto messages = gnn.messages(batch.x);
  const auto gnn_accel = gnn.node_update(batch.x, messages).to(torch::kFloat64).contiguous();
  const auto msg = messages.to(torch::kFloat64).contiguous();
  const auto x = batch.x.to(torch::kFloat64).contiguous();
  const auto y = batch.y.to(torch::kFloat64).contiguous();
  const std::int64_t E = gnn.receivers().size(0), rows = F * E, w = 2 * d + 2;
  const auto recv = gnn.receivers().contiguous(), send = gnn.senders().contiguous();
  const std::int64_t* ri = recv.data_ptr<std::int64_t>();
  const std::int64_t* sj = send.data_ptr<std::int64_t>();
  const double* xs = x.data_ptr<double>();

  // One row per edge: variables, all message components, the true force on the receiver.
  const auto vars = edge_variables(d);
  const int k = int(vars.size());
  std::vector<double> features(rows * k), all_messages(msg.data_ptr<double>(),
                                                       msg.data_ptr<double>() + rows * M),
      force(rows * d);
  for (std::int64_t f = 0; f < F; ++f)
    for (std::int64_t e = 0; e < E; ++e) {
      const double* bi = xs + (f * n + ri[e]) * w;
      const double* bj = xs + (f * n + sj[e]) * w;
      double* row = &features[(f * E + e) * k];
      double r2 = 0;
      for (int c = 0; c < d; ++c) {
        row[c] = bj[c] - bi[c];
        r2 += row[c] * row[c];
      }
      row[d] = std::sqrt(r2);
      row[d + 1] = bi[2 * d + 1];
      row[d + 2] = bj[2 * d + 1];
      row[d + 3] = bi[2 * d];
      row[d + 4] = bj[2 * d];
      nbody::pair_force(in.law, d, bi, bj, &force[(f * E + e) * d]);
    }
  const auto analysis = ml::analyse_messages(all_messages, M, force, d, deck.real("analysis.trim"));

  // Selected components per edge, and their sums per receiving body with its m, q.
  std::vector<double> selected(rows * d), node_features(F * n * (d + 2), 0.0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (int c = 0; c < d; ++c) selected[r * d + c] = all_messages[r * M + analysis.components[c]];
  for (std::int64_t f = 0; f < F; ++f) {
    for (std::int64_t e = 0; e < E; ++e)
      for (int c = 0; c < d; ++c)
        node_features[(f * n + ri[e]) * (d + 2) + c] += selected[(f * E + e) * d + c];
    for (int b = 0; b < n; ++b) {
      node_features[(f * n + b) * (d + 2) + d] = xs[(f * n + b) * w + 2 * d + 1];
      node_features[(f * n + b) * (d + 2) + d + 1] = xs[(f * n + b) * w + 2 * d];
    }
  }

  std::vector<double> r2s, coefficients;
  for (const auto& fit : analysis.fits) {
    r2s.push_back(fit.r2);
    coefficients.insert(coefficients.end(), fit.coefficients.begin(), fit.coefficients.end());
    coefficients.push_back(fit.intercept);
  }
  std::vector<std::int64_t> components(analysis.components.begin(), analysis.components.end());
  log::info("distill: message R^2 = " + std::to_string(analysis.r2) + " over " +
            std::to_string(rows) + " edges of " + std::to_string(F) + " test frames");
  collective_try(rt.comm(), [&] {
    if (rt.rank() != 0) return;
    const auto u = [](std::int64_t v) { return std::uint64_t(v); };
    auto out = io::OutputFile::create(MPI_COMM_SELF, p.analysis, true);
    out.set_attribute("/", "law", std::string(nbody::law_name(in.law.law)));
    out.set_attribute("/", "bodies", std::int64_t(n));
    out.set_attribute("/", "dims", std::int64_t(d));
    out.set_attribute("/", "frames", F);
    out.set_attribute("/", "message_r2", analysis.r2);
    out.set_attribute("/", "message_r2_per_component", r2s);
    out.set_attribute("/", "components", components);
    out.set_attribute("/", "fit_coefficients", coefficients);
    out.set_attribute("/", "trim", deck.real("analysis.trim"));
    out.create_group("/edges");
    out.write_array("/edges/features", features.data(), {u(rows), u(k)},
                    "per edge (receiver 1, sender 2): " + join(vars) + "; dx = x_2 - x_1", "1");
    out.set_attribute("/edges/features", "columns", join(vars));
    out.write_array("/edges/messages", selected.data(), {u(rows), u(d)},
                    "the selected message components, most spread first", "1");
    out.write_array("/edges/force", force.data(), {u(rows), u(d)},
                    "true pair force on the receiver from the sender", "1");
    out.write_array("/message_std", analysis.stds.data(), {u(M)},
                    "standard deviation of every message component over the edges", "1");
    out.create_group("/nodes");
    const auto nv = node_variables(d);
    out.write_array("/nodes/features", node_features.data(), {u(F * n), u(d + 2)},
                    "per body: summed selected messages " + join(nv), "1");
    out.set_attribute("/nodes/features", "columns", join(nv));
    out.write_array("/nodes/accel_gnn", gnn_accel.data_ptr<double>(), {u(F * n), u(d)},
                    "the graph network's acceleration", "1");
    out.write_array("/nodes/accel_true", y.data_ptr<double>(), {u(F * n), u(d)},
                    "true acceleration", "1");
    out.commit();
  });
  (void)options;
}

// --------------------------------------------------------------------------------- regress --

struct Table {
  std::vector<double> values;  // rows x columns
  std::int64_t rows = 0, columns = 0;
};

Table read_table(const io::InputFile& f, const std::string& name) {
  const auto info = f.info(name);
  if (info.shape.size() != 2) throw input_error("'" + f.path() + "': " + name + " is not 2-D");
  return {f.read<double>(name), std::int64_t(info.shape[0]), std::int64_t(info.shape[1])};
}

/// sr data from `rows` (strided) of `x` (its columns named) with target column `c` of `y`.
sr::Dataset sr_data(const Table& x, const std::vector<std::string>& names, const Table& y, int c,
                    std::int64_t samples, const std::string& target) {
  sr::Dataset data;
  data.names = names;
  data.target = target;
  const std::int64_t rows = std::min(samples, x.rows);
  data.x.assign(x.columns, std::vector<double>(rows));
  data.y.resize(rows);
  for (std::int64_t k = 0; k < rows; ++k) {
    const std::int64_t r = k * x.rows / rows;
    for (std::int64_t col = 0; col < x.columns; ++col) data.x[col][k] = x.values[r * x.columns + col];
    data.y[k] = y.values[r * y.columns + c];
  }
  return data;
}

nlohmann::json expression_json(const sr::Expression& e) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& node : e.nodes) {
    if (node.op == sr::Op::constant) nodes.push_back({"const", node.value});
    else if (node.op == sr::Op::variable) nodes.push_back({"var", node.feature});
    else nodes.push_back({sr::op_name(node.op)});
  }
  return nodes;
}

sr::Expression expression_from_json(const nlohmann::json& nodes, int variables, const std::string& where) {
  sr::Expression e;
  for (const auto& node : nodes) {
    const std::string name = node.at(0).get<std::string>();
    if (name == "const") e.nodes.push_back(sr::Node::constant(node.at(1).get<double>()));
    else if (name == "var") {
      const int f = node.at(1).get<int>();
      if (f < 0 || f >= variables) throw input_error(where + ": variable index out of range");
      e.nodes.push_back(sr::Node::variable(f));
    } else {
      sr::Op op;
      if (!sr::parse_op(name, op)) throw input_error(where + ": unknown operator '" + name + "'");
      e.nodes.push_back(sr::Node::op_node(op));
    }
  }
  if (!e.valid()) throw input_error(where + ": not a valid expression");
  return e;
}

nlohmann::json equation_json(const sr::SearchResult& r, const std::string& target) {
  const auto& best = r.pareto.at(r.best);
  nlohmann::json front = nlohmann::json::array();
  for (const auto& eq : r.pareto)
    front.push_back({{"complexity", eq.complexity}, {"loss", eq.loss}, {"equation", eq.equation}});
  return {{"target", target},         {"equation", best.equation}, {"latex", best.latex},
          {"cpp", best.cpp},          {"loss", best.loss},         {"complexity", best.complexity},
          {"nodes", expression_json(best.expression)},             {"pareto", front}};
}

void stage_regress(const config::Deck& deck, Runtime& rt, const Paths& p) {
  log::info("distill: stage regress -> " + p.equations);
  Table edges, messages, nodes, accel;
  int d = 0;
  collective_try(rt.comm(), [&] {
    if (!file_exists(p.analysis))
      throw input_error("'" + p.analysis + "' (stage analyse) does not exist: run with --from "
                        "analyse or without --from");
    const auto f = io::InputFile::open(p.analysis);
    d = int(f.attribute_int("/", "dims"));
    edges = read_table(f, "/edges/features");
    messages = read_table(f, "/edges/messages");
    nodes = read_table(f, "/nodes/features");
    accel = read_table(f, "/nodes/accel_gnn");
  });
  auto options = sr_search_options(deck, "sr.operators", "sr.", "sr.complexity.");
  const std::int64_t samples = deck.integer("sr.samples");
  nlohmann::json out = {{"edge_variables", edge_variables(d)}, {"node_variables", node_variables(d)},
                        {"edge", nlohmann::json::array()}, {"node", nlohmann::json::array()}};
  for (int c = 0; c < d; ++c) {
    const std::string target = "message " + std::to_string(c);
    log::info("distill: regressing " + target + " on " + join(edge_variables(d)));
    const auto r = sr::search(sr_data(edges, edge_variables(d), messages, c, samples, target),
                              options, rt.comm());
    out["edge"].push_back(equation_json(r, target));
    log::info("distill: " + target + " = " + r.pareto.at(r.best).equation);
    options.seed += 1;
  }
  for (int c = 0; c < d; ++c) {
    const std::string target = "acceleration " + std::to_string(c);
    log::info("distill: regressing " + target + " on " + join(node_variables(d)));
    const auto r = sr::search(sr_data(nodes, node_variables(d), accel, c, samples, target),
                              options, rt.comm());
    out["node"].push_back(equation_json(r, target));
    log::info("distill: " + target + " = " + r.pareto.at(r.best).equation);
    options.seed += 1;
  }
  if (rt.rank() == 0) write_json_atomic(p.equations, out);
  MPI_Barrier(rt.comm());
}

// -------------------------------------------------------------------------------- evaluate --

void stage_evaluate(const config::Deck& deck, Runtime& rt, const RunOptions& options, const Paths& p) {
  log::info("distill: stage evaluate -> " + p.out);
  Table edges, nodes, accel_gnn, accel_true;
  int d = 0, n = 0;
  double message_r2 = 0;
  std::vector<double> r2s;
  std::vector<std::int64_t> components;
  std::string law;
  nlohmann::json eq;
  std::vector<sr::Expression> edge_eq, node_eq;
  collective_try(rt.comm(), [&] {
    if (!file_exists(p.analysis))
      throw input_error("'" + p.analysis + "' (stage analyse) does not exist: run with --from "
                        "analyse or without --from");
    if (!file_exists(p.equations))
      throw input_error("'" + p.equations + "' (stage regress) does not exist: run with --from "
                        "regress or without --from");
    const auto f = io::InputFile::open(p.analysis);
    d = int(f.attribute_int("/", "dims"));
    n = int(f.attribute_int("/", "bodies"));
    law = f.attribute_string("/", "law");
    message_r2 = f.attribute_double("/", "message_r2");
    r2s = f.attribute_doubles("/", "message_r2_per_component");
    components = f.attribute_ints("/", "components");
    edges = read_table(f, "/edges/features");
    nodes = read_table(f, "/nodes/features");
    accel_gnn = read_table(f, "/nodes/accel_gnn");
    accel_true = read_table(f, "/nodes/accel_true");
    std::ifstream in(p.equations);
    try {
      eq = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
      throw input_error("cannot read '" + p.equations + "': " + e.what() + " (rerun --from regress)");
    }
    for (const auto& e : eq.at("edge")) edge_eq.push_back(expression_from_json(e.at("nodes"), int(edges.columns), p.equations));
    for (const auto& e : eq.at("node")) node_eq.push_back(expression_from_json(e.at("nodes"), d + 2, p.equations));
    if (int(edge_eq.size()) != d || int(node_eq.size()) != d)
      throw input_error("'" + p.equations + "' does not hold d = " + std::to_string(d) +
                        " edge and node equations; rerun --from regress");
  });
  // Distilled model on every analysed frame: edge equations on every edge, summed per receiver
  // (edges are receiver-major: edge e of a frame has receiver e / (n - 1)), node equations.
  const std::int64_t E = std::int64_t(n) * (n - 1), F = edges.rows / E;
  sr::Dataset edge_data = sr_data(edges, edge_variables(d), edges, 0, edges.rows, "edge");
  std::vector<double> value(edges.rows);
  Table summed{std::vector<double>(nodes.values), nodes.rows, nodes.columns};
  sr::Evaluator evaluator;
  for (int c = 0; c < d; ++c) {
    evaluator.evaluate(edge_eq[c], edge_data, value.data());  // non-finite values propagate
    for (std::int64_t b = 0; b < F * n; ++b) summed.values[b * summed.columns + c] = 0;
    for (std::int64_t r = 0; r < edges.rows; ++r) {
      const std::int64_t f = r / E, receiver = (r % E) / (n - 1);
      summed.values[(f * n + receiver) * summed.columns + c] += value[r];
    }
  }
  sr::Dataset node_data = sr_data(summed, node_variables(d), summed, 0, summed.rows, "node");
  std::vector<double> distilled(F * n * d), column(summed.rows);
  for (int c = 0; c < d; ++c) {
    evaluator.evaluate(node_eq[c], node_data, column.data());
    for (std::int64_t b = 0; b < F * n; ++b) distilled[b * d + c] = column[b];
  }
  double mae_gnn = 0, mae_distilled = 0;
  for (std::size_t i = 0; i < distilled.size(); ++i) {
    mae_gnn += std::abs(accel_gnn.values[i] - accel_true.values[i]);
    mae_distilled += std::abs(distilled[i] - accel_true.values[i]);
  }
  mae_gnn /= double(distilled.size());
  mae_distilled /= double(distilled.size());
  log::info("distill: test MAE (per acceleration component) gnn " + std::to_string(mae_gnn) +
            ", distilled " + std::to_string(mae_distilled));

  std::vector<std::string> edge_strings, node_strings;
  for (const auto& e : eq.at("edge")) edge_strings.push_back(e.at("equation").get<std::string>());
  for (const auto& e : eq.at("node")) node_strings.push_back(e.at("equation").get<std::string>());
  collective_try(rt.comm(), [&] {
    if (rt.rank() != 0) return;
    const auto u = [](std::int64_t v) { return std::uint64_t(v); };
    auto out = io::OutputFile::create(MPI_COMM_SELF, p.out, options.overwrite || !options.from_stage.empty());
    out.write_provenance({"distill", deck.source_text(), deck.resolved_yaml(), std::uint64_t(deck.integer("seed"))});
    out.set_attribute("/", "law", law);
    out.set_attribute("/", "message_r2", message_r2);
    out.set_attribute("/", "edge_equations", join(edge_strings));
    out.set_attribute("/", "node_equations", join(node_strings));
    out.create_group("/evaluation");
    out.write_array("/evaluation/accel_true", accel_true.values.data(), {u(F), u(n), u(d)}, "true acceleration", "1");
    out.write_array("/evaluation/accel_gnn", accel_gnn.values.data(), {u(F), u(n), u(d)},
                    "the graph network's acceleration", "1");
    out.write_array("/evaluation/accel_distilled", distilled.data(), {u(F), u(n), u(d)},
                    "the distilled model's acceleration (edge + node equations)", "1");
    out.commit();
    auto j = summary_header("distill", "complete", p.out, "", std::uint64_t(deck.integer("seed")),
                            rt.size(), deck.values());
    j["law"] = law;
    j["message_r2"] = message_r2;
    j["message_r2_per_component"] = r2s;
    j["message_components"] = components;
    j["edge_variables"] = edge_variables(d);
    j["edge_equations"] = edge_strings;
    j["node_variables"] = node_variables(d);
    j["node_equations"] = node_strings;
    j["test_mae"] = {{"gnn", mae_gnn}, {"distilled", mae_distilled}};
    j["frames"] = F;
    j["files"] = {{"gnn", p.gnn}, {"analysis", p.analysis}, {"equations", p.equations}};
    write_json_atomic(summary_path_for(p.out), j);
  });
}

void run_distill(const config::Deck& deck, Runtime& rt, const RunOptions& options) {
  const Paths p = paths_for(deck.string("output.path"));
  const std::size_t first = collective_try(rt.comm(), [&]() -> std::size_t {
    return options.from_stage.empty() ? 0 : stage_index(options.from_stage);
  });
  if (!options.from_stage.empty() || !options.overwrite)
    collective_try(rt.comm(), [&] {
      if (options.from_stage.empty() && file_exists(p.out) && !options.restart)
        throw input_error("output '" + p.out + "' exists: pass --overwrite to replace it, or "
                          "--from STAGE to rerun stages");
    });
  // The data files must be N-body files of one force law (the messages are compared with it).
  collective_try(rt.comm(), [&] {
    std::string first_law, first_key;
    for (const std::string key : {"data.train", "data.val", "data.test"}) {
      if (!deck.has(key)) continue;
      const auto f = io::InputFile::open(deck.string(key));
      const std::string law = nbody::law_name(law_of(f).law);
      if (first_law.empty()) {
        first_law = law;
        first_key = key;
      } else if (law != first_law) {
        throw input_error(key + " '" + deck.string(key) + "' holds law " + law + " but " +
                          first_key + " holds " + first_law +
                          ": distill one force law at a time (same law in every data file)");
      }
    }
  });
  ml::set_intra_op_threads(int(deck.integer("threads.torch")));
  if (first == 0) stage_train(deck, rt, options, p);
  if (first <= 1) stage_analyse(deck, rt, options, p);
  if (first <= 2) stage_regress(deck, rt, p);
  stage_evaluate(deck, rt, options, p);
}

}  // namespace

Workflow distill_workflow() {
  return {"distill",
          "train a graph network on N-body data, read its messages, distil them into equations",
          distill_schema, distill_check, run_distill, stage_names};
}

}  // namespace phyflow::workflows
