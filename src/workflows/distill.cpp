// workflow: distill -- symbolic distillation of a graph network trained on N-body data
// (seed 004; Cranmer et al., arXiv:2006.11287), one deck for the whole chain:
//
//   mpiexec -n 2 phyflow run inputs/distill_spring2d.yaml
//   mpiexec -n 2 phyflow run inputs/distill_spring2d.yaml --from regress   (rerun a stage)
//
// Stages, each leaving its result in a file next to output.path (STEM = output.path less .h5),
// so that `--from STAGE` reruns a stage and those after it from the earlier stages' files:
//   simulate  only with a `simulate:` section instead of `data:` files: workflow: nbody with
//             the section's keys, splits train/val/test      -> STEM.data_{train,val,test}.h5
//   train     workflow: train with model.kind gnn            -> STEM.gnn.h5 (+ .json)
//   analyse   messages of the test frames; the d most spread components; R^2 of each against
//             the best (trimmed) linear transform of the true pair force; the sparsity chart
//                                                  -> STEM.analysis.h5, STEM.sparsity.png
//             The analysed frames alternate between "fit" (even) and "held out" (odd): the
//             regression and the constant refit see only fit frames, the test MAE only
//             held-out ones.
//   regress   symbolic regression (the sr engine, islands over the same ranks) of each
//             selected message component over dx, dy(, dz), r, m1, m2, q1, q2 (dx = x_j - x_i,
//             1 = receiver, 2 = sender), then of each acceleration component of the node
//             model over the summed selected messages e0.. and the body's m, q
//                                                            -> STEM.equations.json
//   evaluate  the distilled model (edge equations, summed, node equations), its constants
//             refitted jointly (Levenberg-Marquardt on the mean absolute error, or squared)
//             to the true accelerations of the fit frames, next to the graph network on the
//             held-out frames
//                                            -> output.path, STEM.json, STEM.report.md
// Every rank computes the analysis and evaluation identically (deterministic, small), rank 0
// writes; the regression is collective. Files are written as PATH.partial and renamed.
#include "phyflow/core/collective.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/core/summary.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/io/png.hpp"
#include "phyflow/ml/dataset.hpp"
#include "phyflow/ml/message_analysis.hpp"
#include "phyflow/ml/model_file.hpp"
#include "phyflow/ml/models/graph_network.hpp"
#include "phyflow/nbody/force_laws.hpp"
#include "phyflow/sr/constant_fit.hpp"
#include "phyflow/sr/evaluate.hpp"
#include "phyflow/sr/data.hpp"
#include "phyflow/sr/search.hpp"
#include "phyflow/ml/threads.hpp"
#include "phyflow/workflows/nbody_deck.hpp"
#include "phyflow/workflows/run_keys.hpp"
#include "phyflow/workflows/workflow.hpp"
#include "sr_keys.hpp"

#include <torch/torch.h>

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>

namespace phyflow::workflows {
namespace {

const std::vector<std::string> stage_names = {"simulate", "train", "analyse", "regress", "evaluate"};

config::Schema distill_schema() {
  config::Schema s("distill");
  s.choice("workflow", "distill", {"distill"}, "what to run");
  s.integer("seed", 1, 0, 4294967295.0,
            "seed of the training (weights, shuffles, augmentation) and of the regression");
  s.string("data.train", std::nullopt,
           "N-body training file (workflow: nbody output); or give a simulate: section");
  s.string("data.val", std::nullopt, "N-body validation file (optional)");
  s.string("data.test", std::nullopt,
           "N-body test file: messages are analysed and both models evaluated on its frames");
  // simulate: the N-body deck's own keys, checked by its schema when the stage builds it.
  s.nest(nbody_schema(), "simulate.", {"workflow", "output.", "checkpoint.", "progress.", "io."});
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
  s.integer("analysis.frames", 1000, 2, 1e9,
            "test frames analysed and evaluated (one from each of as many equal strata of the file, "
            "at golden-ratio offsets so that every time step is covered; the even ones "
            "are fitted by the regression and the refit, the odd ones held out for the MAE)");
  s.integer("refit.iterations", 1000, 0, 1e6,
            "Levenberg-Marquardt steps refitting the distilled model's constants (0: none)");
  s.real("refit.trim_largest", 0.0, 0.0, 0.5,
         "fraction of the fit frames' acceleration components with the largest |a| the refit "
         "leaves out (weight 0): a few close encounters can otherwise pull the constants into a "
         "pole near the smallest distances seen");
  s.choice("refit.loss", "absolute", {"absolute", "squared"},
           "error the refit minimises on the fit frames' accelerations: absolute (the network's "
           "training loss and the test metric) or squared (close encounters dominate it)");
  s.real("analysis.trim", 0.1, 0.0, 0.49,
         "fraction of edges with the worst residuals left out of the message fit (the paper: 0.1)");
  s.integer("sr.samples", 1000, 10, 1e9, "edges (and nodes) the regression runs on");
  s.real("sr.trim_largest", 0.0, 0.0, 0.5,
         "fraction of the fit edges with the largest |message| left out of each edge regression, "
         "and of the fit nodes with the largest |acceleration| out of each node regression "
         "(close encounters: under 1/r laws they dominate a squared-error fit)");
  add_sr_search_keys(s, "sr.operators", "sr.", "sr.complexity.");
  s.integer("threads.torch", 0, 0, 4096, "LibTorch intra-op threads per rank (0: as workflow: train)");
  s.string("output.path", std::string("distill.h5"),
           "final output (evaluation); the stages' files are named after it");
  add_run_keys(s, "steps");
  return s;
}

struct Paths {
  std::string out, gnn, analysis, equations, data, sparsity, report;
};

Paths paths_for(const std::string& out) {
  std::string stem = out;
  if (stem.size() > 3 && stem.compare(stem.size() - 3, 3, ".h5") == 0) stem.resize(stem.size() - 3);
  return {out,           stem + ".gnn.h5",       stem + ".analysis.h5", stem + ".equations.json",
          stem + ".data.h5", stem + ".sparsity.png", stem + ".report.md"};
}

/// The N-body files the chain reads: the deck's data: files, or the simulate stage's splits.
struct DataFiles {
  std::string train, val, test;
  bool simulated = false;
};

DataFiles data_files(const config::Deck& deck, const Paths& p) {
  DataFiles f;
  if (deck.has("simulate")) {
    f.simulated = true;
    f.train = split_output_path(p.data, "train");
    f.test = split_output_path(p.data, "test");
    bool val = !deck.has("simulate.splits");
    if (!val)
      for (const auto& row : deck.at("simulate.splits")) val = val || row.at("name") == "val";
    if (val) f.val = split_output_path(p.data, "val");
    return f;
  }
  f.train = deck.string("data.train");
  f.test = deck.string("data.test");
  if (deck.has("data.val")) f.val = deck.string("data.val");
  return f;
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
  const std::string where = "deck '" + deck.origin() + "'";
  if (deck.has("simulate")) {
    if (deck.has("data"))
      throw input_error(where + ": give either data: files or a simulate: section, not both "
                        "(simulate: writes the data files itself)");
    if (deck.has("simulate.splits")) {
      bool train = false, test = false;
      for (const auto& row : deck.at("simulate.splits")) {
        const std::string name = row.at("name").get<std::string>();
        if (name != "train" && name != "val" && name != "test")
          throw input_error(where + ": simulate.splits: split '" + name +
                            "' is not one the chain reads; name the splits train, val "
                            "(optional) and test");
        train = train || name == "train";
        test = test || name == "test";
      }
      if (!train || !test)
        throw input_error(where + ": simulate.splits needs a split named train and one named "
                          "test (val is optional)");
    }
  } else if (!deck.has("data.train") || !deck.has("data.test")) {
    throw input_error(where + ": the chain needs N-body data: set data.train and data.test "
                      "(files of workflow: nbody), or give a simulate: section with the N-body "
                      "keys (system, ensemble, time, ...) to generate them");
  }
  if (deck.string("model.regularizer") == "bottleneck" && deck.integer("model.msg_dim") != 0)
    throw input_error("deck '" + deck.origin() +
                      "': model.regularizer bottleneck fixes model.msg_dim to d; remove msg_dim");
  if (deck.string_list("sr.operators").empty())
    throw input_error("deck '" + deck.origin() + "': sr.operators is empty");
}

// -------------------------------------------------------------------------------- simulate --

void stage_simulate(const config::Deck& deck, Runtime& rt, const RunOptions& options,
                    const Paths& p) {
  const Workflow& w = find("nbody");
  nlohmann::json j = deck.at("simulate");
  j["workflow"] = "nbody";
  j["output"] = {{"path", p.data}};
  for (const char* section : {"checkpoint", "progress", "io"}) j[section] = deck.at(section);
  const std::string origin = deck.origin() + " (stage simulate)";
  const auto nbody_deck = collective_try(rt.comm(), [&] {
    if (!j.contains("splits")) {
      // The seed's three files: train with the section's seed, validation and test with the
      // next two seeds and a quarter of the simulations each.
      const auto first = config::Deck::load_string(j.dump(2), {}, w.schema(), origin);
      const long long ns = first.integer("ensemble.ns"), seed = first.integer("seed");
      const long long small = std::max(1LL, ns / 4);
      j["splits"] = {{{"name", "train"}, {"seed", seed}},
                     {{"name", "val"}, {"seed", seed + 1}, {"ns", small}},
                     {{"name", "test"}, {"seed", seed + 2}, {"ns", small}}};
    }
    auto d = config::Deck::load_string(j.dump(2), {}, w.schema(), origin);
    w.check(d, rt.size());
    return d;
  });
  log::info("distill: stage simulate -> " + split_output_path(p.data, "{train,val,test}"));
  RunOptions o = options;
  o.overwrite = options.overwrite || !options.from_stage.empty();  // --from reruns the stage
  o.from_stage.clear();
  w.run(nbody_deck, rt, o);
}

// ----------------------------------------------------------------------------------- train --

void stage_train(const config::Deck& deck, Runtime& rt, const RunOptions& options, const Paths& p,
                 const DataFiles& files) {
  nlohmann::json t = {
      {"workflow", "train"},
      {"seed", deck.integer("seed")},
      {"data", {{"train", files.train}, {"test", files.test}}},
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
  if (!files.val.empty()) t["data"]["val"] = files.val;
  const Workflow& w = find("train");
  const auto train_deck = collective_try(rt.comm(), [&] {
    auto d = config::Deck::load_string(t.dump(2), {}, w.schema(), deck.origin() + " (stage train)");
    w.check(d, rt.size());
    return d;
  });
  log::info("distill: stage train -> " + p.gnn);
  RunOptions o = options;
  o.overwrite = options.overwrite || !options.from_stage.empty();  // --from reruns the stage
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

std::string basis_label(const std::string& name) {
  if (name == "force") return "F";
  if (name == "acceleration") return "F/m1";
  if (name == "force_and_acceleration") return "[F, F/m1]";
  if (name == "field") return "q1 F (the field)";
  if (name == "force_acceleration_and_field") return "[F, F/m1, q1 F, q1 F/m1]";
  return name;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

/// The inverse of join: "a,b" -> {a, b}.
std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
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

/// The analysed frames alternate: even ones are fitted (regression, refit), odd ones held out.
bool is_fit_frame(std::int64_t frame) { return frame % 2 == 0; }

/// Bar chart of the message components' standard deviations, sorted, largest first, scaled by
/// the largest; the selected components orange, the rest blue (the paper's sparsity figure).
void write_sparsity_chart(const std::string& path, const std::vector<double>& stds,
                          const std::vector<int>& selected) {
  const int W = 640, H = 320, left = 40, right = W - 20, top = 20, bottom = H - 30;
  io::Canvas c(W, H, {{255, 255, 255}, {0, 0, 0}, {215, 215, 215}, {230, 120, 20}, {60, 110, 180}});
  std::vector<int> order(stds.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return stds[a] > stds[b]; });
  const double top_std = stds.empty() ? 0.0 : stds[order[0]];
  for (int k = 0; k <= 4; ++k) {  // grid at 0, 1/4, 1/2, 3/4, 1 of the largest
    const int y = bottom - (bottom - top) * k / 4;
    c.line(left, y, right, y, 2);
  }
  const double width = double(right - left) / double(std::max<std::size_t>(stds.size(), 1));
  for (std::size_t k = 0; k < order.size(); ++k) {
    const double h = top_std > 0 ? stds[order[k]] / top_std : 0.0;
    const bool chosen = std::find(selected.begin(), selected.end(), order[k]) != selected.end();
    const int x0 = left + int(std::lround(double(k) * width)) + (width >= 4 ? 1 : 0);
    const int x1 = std::max(x0, left + int(std::lround(double(k + 1) * width)) - 1);
    c.fill(x0, bottom - int(std::lround(h * (bottom - top))), x1, bottom, chosen ? 3 : 4);
  }
  c.line(left, top, left, bottom, 1);
  c.line(left, bottom, right, bottom, 1);
  io::write_png(path, c);
}

/// Training and validation loss per epoch (log scale) from the training's metrics.jsonl.
bool write_learning_curve(const std::string& metrics, const std::string& path,
                          std::vector<std::array<double, 3>>& rows) {
  std::ifstream in(metrics);
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    try {
      const auto j = nlohmann::json::parse(line);
      if (!j.contains("epoch") || !j.contains("train_loss")) continue;
      rows.push_back({j.at("epoch").get<double>(), j.at("train_loss").get<double>(),
                      j.contains("val_loss") ? j.at("val_loss").get<double>() : std::nan("")});
    } catch (const std::exception&) {
      continue;  // a partly written last line of an interrupted run
    }
  }
  if (rows.size() < 2) return false;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& r : rows)
    for (int k = 1; k < 3; ++k)
      if (std::isfinite(r[k]) && r[k] > 0) lo = std::min(lo, std::log10(r[k])), hi = std::max(hi, std::log10(r[k]));
  if (!std::isfinite(lo)) return false;  // no positive finite loss to draw on a log scale
  if (!(hi > lo)) hi = lo + 1;
  const int W = 640, H = 320, left = 40, right = W - 20, top = 20, bottom = H - 30;
  io::Canvas c(W, H, {{255, 255, 255}, {0, 0, 0}, {215, 215, 215}, {60, 110, 180}, {230, 120, 20}});
  for (double decade = std::ceil(lo); decade <= hi; decade += 1.0) {
    const int y = bottom - int(std::lround((decade - lo) / (hi - lo) * (bottom - top)));
    c.line(left, y, right, y, 2);
  }
  const double e0 = rows.front()[0], e1 = rows.back()[0];
  auto px = [&](double e) { return left + int(std::lround((e - e0) / std::max(e1 - e0, 1.0) * (right - left))); };
  auto py = [&](double v) { return bottom - int(std::lround((std::log10(v) - lo) / (hi - lo) * (bottom - top))); };
  const auto drawn = [](double v) { return std::isfinite(v) && v > 0; };
  for (int k = 1; k < 3; ++k)
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (!drawn(rows[i][k])) continue;
      c.dot(px(rows[i][0]), py(rows[i][k]), 2, std::uint8_t(2 + k));
      if (i > 0 && drawn(rows[i - 1][k]))
        c.line(px(rows[i - 1][0]), py(rows[i - 1][k]), px(rows[i][0]), py(rows[i][k]), std::uint8_t(2 + k));
    }
  c.line(left, top, left, bottom, 1);
  c.line(left, bottom, right, bottom, 1);
  io::write_png(path, c);
  return true;
}

/// F of `size` frames: one from each of F equal strata, at the offset k/phi (mod 1) of stratum
/// k (golden-ratio sequence). A plain even stride k * size / F would alias with the frames per
/// simulation: a file of 1 000 simulations x 10 frames strided to 1 000 frames gives the first
/// frame of every simulation only (the initial conditions, before any close encounter);
/// the golden-ratio offsets cover every time step evenly whatever the layout. Increasing.
std::vector<std::int64_t> analysis_frames(std::int64_t size, std::int64_t F) {
  std::vector<std::int64_t> index(std::size_t(std::max<std::int64_t>(F, 0)));
  const double inverse_phi = 0.6180339887498949;
  for (std::int64_t k = 0; k < F; ++k) {
    const std::int64_t lo = k * size / F, hi = (k + 1) * size / F;
    const double u = double(k) * inverse_phi - std::floor(double(k) * inverse_phi);
    index[std::size_t(k)] = lo + std::min<std::int64_t>(hi - lo - 1, std::int64_t(u * double(hi - lo)));
  }
  return index;
}

void stage_analyse(const config::Deck& deck, Runtime& rt, const Paths& p, const DataFiles& files) {
  log::info("distill: stage analyse -> " + p.analysis);
  struct Inputs {
    std::shared_ptr<ml::GraphNetwork> gnn;
    std::optional<ml::Dataset> test;
    nbody::ForceLawSpec law;
  } in;
  collective_try(rt.comm(), [&] {
    in.gnn = load_gnn(p.gnn);
    in.test.emplace(ml::Dataset::open(files.test, "data.test"));
    in.test->require(ml::DataLayout::nbody, "gnn");
    in.test->require_shape(in.gnn->data_shape(), "gnn");
    in.law = law_of(io::InputFile::open(files.test));
  });
  auto& gnn = *in.gnn;
  const int n = gnn.bodies(), d = gnn.dims(), M = gnn.message_dim();
  const std::int64_t size = in.test->size();
  const std::int64_t F = std::min<std::int64_t>(deck.integer("analysis.frames"), size);
  if (F < 2)
    throw input_error("'" + files.test + "' has " + std::to_string(size) +
                      " frame(s): the analysis needs at least 2 (one fitted, one held out)");
  const auto index = analysis_frames(size, F);
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
  // The d most spread components against the pair force (the paper's R²) and against the
  // other bases of force_bases: the pair acceleration F/m1 (a network may put the receiver's
  // 1/m into its messages; then they sum to the acceleration and the node model needs no
  // division; the seed's README notes it), F and F/m1 together, the field under the charge law.
  const auto bases = ml::force_bases(force, features, d, std::string(nbody::law_name(in.law.law)) == "charge");
  std::vector<ml::MessageAnalysis> per_basis;
  std::vector<std::pair<std::string, double>> basis_r2;
  for (const auto& b : bases) {
    per_basis.push_back(ml::analyse_messages(all_messages, M, b.values, d, deck.real("analysis.trim"), b.cols));
    basis_r2.emplace_back(b.name, per_basis.back().r2);
  }
  const auto& analysis = per_basis[0];  // force
  const auto& vs_accel = per_basis[1];  // acceleration

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
  std::vector<double> r2s_accel;
  for (const auto& fit : vs_accel.fits) r2s_accel.push_back(fit.r2);
  log::info("distill: message R^2 = " + std::to_string(analysis.r2) + " against the pair force, " +
            std::to_string(vs_accel.r2) + " against the pair acceleration F/m1, over " +
            std::to_string(rows) + " edges of " + std::to_string(F) + " test frames");
  {
    std::string others;
    for (std::size_t i = 2; i < basis_r2.size(); ++i)
      others += (others.empty() ? "" : ", ") + basis_r2[i].first + " " + std::to_string(basis_r2[i].second);
    log::info("distill: message R^2 against wider bases: " + others);
  }
  collective_try(rt.comm(), [&] {
    if (rt.rank() != 0) return;
    const auto u = [](std::int64_t v) { return std::uint64_t(v); };
    auto out = io::OutputFile::create(MPI_COMM_SELF, p.analysis, true);
    out.set_attribute("/", "law", std::string(nbody::law_name(in.law.law)));
    out.set_attribute("/", "bodies", std::int64_t(n));
    out.set_attribute("/", "dims", std::int64_t(d));
    out.set_attribute("/", "frames", F);
    out.set_attribute("/", "fit_frames", std::string("even analysed frames (0, 2, ...): "
                                                     "regression and refit; odd: held out"));
    out.set_attribute("/", "message_r2", analysis.r2);
    out.set_attribute("/", "message_r2_per_component", r2s);
    out.set_attribute("/", "message_r2_acceleration", vs_accel.r2);
    out.set_attribute("/", "message_r2_acceleration_per_component", r2s_accel);
    std::vector<std::string> basis_names;
    std::vector<double> basis_values;
    for (const auto& [name, v] : basis_r2) basis_names.push_back(name), basis_values.push_back(v);
    out.set_attribute("/", "message_r2_bases", join(basis_names));
    out.set_attribute("/", "message_r2_by_basis", basis_values);
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
    out.write_array("/frames", index.data(), {u(F)},
                    "the analysed frames' sample indices in the test file (increasing)", "1");
    out.commit();
    write_sparsity_chart(p.sparsity, analysis.stds, analysis.components);
  });
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

/// The rows of `t` that belong to fit frames (`fit`) or to held-out frames (`!fit`), where
/// every frame has `per_frame` consecutive rows.
Table frame_rows(const Table& t, std::int64_t per_frame, bool fit) {
  Table out;
  out.columns = t.columns;
  for (std::int64_t r = 0; r < t.rows; ++r) {
    if (is_fit_frame(r / per_frame) != fit) continue;
    out.values.insert(out.values.end(), t.values.begin() + r * t.columns,
                      t.values.begin() + (r + 1) * t.columns);
    ++out.rows;
  }
  return out;
}

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", 100.0 * fraction);
  return buf;
}

/// sr data from the rows of `x` (its columns named) that sr::select_rows picks for target
/// column `c` of `y`: `samples` evenly strided rows (all when samples >= rows), after leaving
/// out the fraction trim_largest with the largest |y|.
sr::Dataset sr_data(const Table& x, const std::vector<std::string>& names, const Table& y, int c,
                    std::int64_t samples, const std::string& target, double trim_largest = 0.0) {
  sr::Dataset data;
  data.names = names;
  data.target = target;
  std::vector<double> column(std::size_t(y.rows));
  for (std::int64_t r = 0; r < y.rows; ++r) column[std::size_t(r)] = y.values[r * y.columns + c];
  const auto picked = sr::select_rows(column, samples, trim_largest);
  const auto rows = std::int64_t(picked.size());
  data.x.assign(x.columns, std::vector<double>(rows));
  data.y.resize(rows);
  for (std::int64_t k = 0; k < rows; ++k) {
    const std::int64_t r = picked[std::size_t(k)];
    for (std::int64_t col = 0; col < x.columns; ++col) data.x[col][k] = x.values[r * x.columns + col];
    data.y[k] = column[std::size_t(r)];
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
  int d = 0, n = 0;
  collective_try(rt.comm(), [&] {
    if (!file_exists(p.analysis))
      throw input_error("'" + p.analysis + "' (stage analyse) does not exist: run with --from "
                        "analyse or without --from");
    const auto f = io::InputFile::open(p.analysis);
    d = int(f.attribute_int("/", "dims"));
    n = int(f.attribute_int("/", "bodies"));
    edges = read_table(f, "/edges/features");
    messages = read_table(f, "/edges/messages");
    nodes = read_table(f, "/nodes/features");
    accel = read_table(f, "/nodes/accel_gnn");
  });
  // Only the fit frames: the held-out ones judge the distilled model in stage evaluate.
  const std::int64_t E = std::int64_t(n) * (n - 1);
  edges = frame_rows(edges, E, true);
  messages = frame_rows(messages, E, true);
  nodes = frame_rows(nodes, n, true);
  accel = frame_rows(accel, n, true);
  auto options = sr_search_options(deck, "sr.operators", "sr.", "sr.complexity.");
  const std::int64_t samples = deck.integer("sr.samples");
  nlohmann::json out = {{"edge_variables", edge_variables(d)}, {"node_variables", node_variables(d)},
                        {"edge", nlohmann::json::array()}, {"node", nlohmann::json::array()}};
  const double trim = deck.real("sr.trim_largest");
  for (int c = 0; c < d; ++c) {
    const std::string target = "message " + std::to_string(c);
    log::info("distill: regressing " + target + " on " + join(edge_variables(d)) +
              (trim > 0 ? " (the " + percent(trim) + " % of fit edges with the largest |" +
                              target + "| left out)"
                        : std::string()));
    const auto r = sr::search(sr_data(edges, edge_variables(d), messages, c, samples, target, trim),
                              options, rt.comm());
    out["edge"].push_back(equation_json(r, target));
    log::info("distill: " + target + " = " + r.pareto.at(r.best).equation);
    options.seed += 1;
  }
  for (int c = 0; c < d; ++c) {
    // The node targets have the edges' heavy tail (a close encounter's message dominates its
    // receiver's sum), and where the network's node model saturates on such sums a
    // squared-error search spends its terms there (products of messages) instead of on the
    // linear map that holds everywhere else: the same trim as the edges.
    const std::string target = "acceleration " + std::to_string(c);
    log::info("distill: regressing " + target + " on " + join(node_variables(d)) +
              (trim > 0 ? " (the " + percent(trim) + " % of fit nodes with the largest |" +
                              target + "| left out)"
                        : std::string()));
    const auto r = sr::search(sr_data(nodes, node_variables(d), accel, c, samples, target, trim),
                              options, rt.comm());
    out["node"].push_back(equation_json(r, target));
    log::info("distill: " + target + " = " + r.pareto.at(r.best).equation);
    options.seed += 1;
  }
  if (rt.rank() == 0) write_json_atomic(p.equations, out);
  MPI_Barrier(rt.comm());
}

// -------------------------------------------------------------------------------- evaluate --

/// The distilled model evaluated on a fixed set of frames: `edges` (n(n-1) receiver-major rows
/// per frame) and `nodes` (n rows per frame; columns d, d+1 are m, q). The inputs are laid out
/// once; the refit calls accel() hundreds of times with new constants.
class DistilledModel {
 public:
  DistilledModel(const Table& edges, const Table& nodes, int n, int d)
      : n_(n), d_(d), E_(std::int64_t(n) * (n - 1)), F_(edges.rows / E_),
        edge_data_(sr_data(edges, edge_variables(d), edges, 0, edges.rows, "edge")),
        node_data_(sr_data(nodes, node_variables(d), nodes, 0, nodes.rows, "node")),
        value_(edges.rows), column_(nodes.rows) {}

  /// Accelerations (frames x n x d, row-major): edge equations on every edge, summed per
  /// receiver, node equations. Non-finite values propagate.
  std::vector<double> accel(const std::vector<sr::Expression>& edge_eq,
                            const std::vector<sr::Expression>& node_eq) {
    for (int c = 0; c < d_; ++c) {
      evaluator_.evaluate(edge_eq[c], edge_data_, value_.data());
      auto& summed = node_data_.x[c];
      std::fill(summed.begin(), summed.end(), 0.0);
      for (std::int64_t r = 0; r < std::int64_t(value_.size()); ++r)
        summed[(r / E_) * n_ + (r % E_) / (n_ - 1)] += value_[r];
    }
    std::vector<double> out(F_ * n_ * d_);
    for (int c = 0; c < d_; ++c) {
      evaluator_.evaluate(node_eq[c], node_data_, column_.data());
      for (std::int64_t b = 0; b < F_ * n_; ++b) out[b * d_ + c] = column_[b];
    }
    return out;
  }

 private:
  int n_, d_;
  std::int64_t E_, F_;
  sr::Dataset edge_data_, node_data_;  // node columns 0..d-1: the summed messages (scratch)
  std::vector<double> value_, column_;
  sr::Evaluator evaluator_;
};

struct RefitResult {
  std::string loss;                                         ///< refit.loss: absolute | squared
  std::size_t left_out = 0;                                 ///< entries refit.trim_largest dropped
  bool trim_rejected = false;  ///< the trimmed fit did worse on the left-out entries: refit on all
  double mse_before = 0, mse = 0, mae_before = 0, mae = 0;  ///< on the fit frames
  int iterations = 0, parameters = 0;
};

/// Refits every constant of the distilled model (edge and node equations together) to the
/// true accelerations of the fit frames by Levenberg-Marquardt (sr::levenberg_marquardt), the
/// Jacobian by central differences through the whole model (edge sums included). The loss is
/// the mean absolute error (smoothed within 1e-3 of the mean |a|: the graph network's own
/// training loss and the test metric) or the mean squared error, which the close encounters'
/// large accelerations dominate. The trim_largest fraction of the entries with the largest
/// |a_true| get weight 0 (the errors reported stay over all entries). Keeps the starting
/// constants unless a step lowers the loss. Deterministic: every rank computes the same.
RefitResult refit_constants(std::vector<sr::Expression>& edge_eq, std::vector<sr::Expression>& node_eq,
                            DistilledModel& model, const Table& truth, int max_iterations,
                            const std::string& loss, double trim_largest) {
  std::vector<sr::Expression*> all;
  for (auto& e : edge_eq) all.push_back(&e);
  for (auto& e : node_eq) all.push_back(&e);
  std::vector<double> theta;
  for (auto* e : all) {
    const auto c = e->constants();
    theta.insert(theta.end(), c.begin(), c.end());
  }
  const auto set = [&](const std::vector<double>& t) {
    std::size_t at = 0;
    for (auto* e : all) {
      const std::size_t k = std::size_t(e->constant_count());
      e->set_constants(std::vector<double>(t.begin() + std::ptrdiff_t(at), t.begin() + std::ptrdiff_t(at + k)));
      at += k;
    }
  };
  const std::size_t R = truth.values.size(), P = theta.size();
  sr::LmSettings settings;
  settings.max_iterations = max_iterations;
  settings.min_improvement = 1e-6;  // flat directions would drift on
  settings.loss = loss == "squared" ? sr::FitLoss::squared : sr::FitLoss::absolute;
  double scale = 0;
  for (const double v : truth.values) scale += std::abs(v);
  settings.delta = std::max(1e-3 * scale / double(std::max<std::size_t>(R, 1)), 1e-12);
  // rho = a_true - a_model at t; false if not finite.
  const sr::Residuals residuals = [&](const std::vector<double>& t, double* rho) {
    set(t);
    const auto a = model.accel(edge_eq, node_eq);
    bool finite = true;
    for (std::size_t k = 0; k < R; ++k) {
      rho[k] = truth.values[k] - a[k];
      finite = finite && std::isfinite(rho[k]);
    }
    return finite;
  };
  std::vector<double> rho(R), rp(R), rm(R), shifted;
  const sr::Linearize linearize = [&](const std::vector<double>& t, double* r, double* jac) {
    if (!residuals(t, r)) return false;
    for (std::size_t i = 0; i < P; ++i) {
      const double h = 1e-6 * std::max(std::abs(t[i]), 1e-3);
      shifted = t;
      shifted[i] = t[i] + h;
      const bool ok_p = residuals(shifted, rp.data());
      shifted[i] = t[i] - h;
      const bool ok_m = residuals(shifted, rm.data());
      // d a / d t = -(d rho / d t)
      for (std::size_t k = 0; k < R; ++k)
        jac[i * R + k] = ok_p && ok_m ? (rm[k] - rp[k]) / (2 * h) : 0.0;
    }
    return true;
  };
  const auto errors = [&](const std::vector<double>& t, double& mse, double& mae) {
    mse = mae = std::numeric_limits<double>::infinity();
    if (!residuals(t, rho.data())) return;
    mse = mae = 0;
    for (const double v : rho) {
      mse += v * v;
      mae += std::abs(v);
    }
    mse /= double(std::max<std::size_t>(R, 1));
    mae /= double(std::max<std::size_t>(R, 1));
  };
  RefitResult res;
  res.loss = loss;
  res.parameters = int(P);
  errors(theta, res.mse_before, res.mae_before);
  // The trim (weight 0 on the largest |a_true|, the rows the regression's own trim leaves
  // out) keeps close encounters from steering the constants; sr::trimmed_fit refits on every
  // entry if the result fits those worse than the starting constants (a spring row's
  // 1/(m + c) had moved c below the smallest masses, whose accelerations are the largest).
  const auto fit = sr::trimmed_fit(theta, truth.values, residuals, linearize, trim_largest, settings);
  res.left_out = fit.left_out;
  res.trim_rejected = fit.trim_rejected;
  res.iterations = fit.fit.iterations;
  errors(theta, res.mse, res.mae);
  set(theta);
  return res;
}

double mean_abs_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += std::abs(a[i] - b[i]);
  return a.empty() ? 0.0 : s / double(a.size());
}

std::string fixed(double v, int digits = 4) {
  std::ostringstream o;
  o.precision(digits);
  o << v;
  return o.str();
}

std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

void stage_evaluate(const config::Deck& deck, Runtime& rt, const RunOptions& options, const Paths& p) {
  log::info("distill: stage evaluate -> " + p.out);
  Table edges, nodes, accel_gnn, accel_true;
  int d = 0, n = 0;
  double message_r2 = 0, message_r2_accel = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> r2s, r2s_accel, stds, coefficients;
  std::vector<std::int64_t> components;
  std::vector<std::pair<std::string, double>> basis_r2;
  std::vector<double> force;
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
    if (f.has_attribute("/", "message_r2_acceleration")) {  // analyses before 2026-12-05 lack it
      message_r2_accel = f.attribute_double("/", "message_r2_acceleration");
      r2s_accel = f.attribute_doubles("/", "message_r2_acceleration_per_component");
    }
    if (f.has_attribute("/", "message_r2_bases")) {  // older analyses (before 2026-12-05, late) lack them
      const auto names = split_list(f.attribute_string("/", "message_r2_bases"));
      const auto values = f.attribute_doubles("/", "message_r2_by_basis");
      for (std::size_t i = 0; i < names.size() && i < values.size(); ++i)
        basis_r2.emplace_back(names[i], values[i]);
    }
    force = f.read<double>("/edges/force");
    coefficients = f.attribute_doubles("/", "fit_coefficients");
    components = f.attribute_ints("/", "components");
    stds = f.read<double>("/message_std");
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
  const std::int64_t E = std::int64_t(n) * (n - 1), F = edges.rows / E;
  DistilledModel all_frames(edges, nodes, n, d), fit_frames_model(frame_rows(edges, E, true),
                                                                   frame_rows(nodes, n, true), n, d);
  // The regression's equations as found, on every analysed frame.
  const auto found = all_frames.accel(edge_eq, node_eq);
  // Their constants refitted together on the fit frames' true accelerations.
  auto edge_refit = edge_eq, node_refit = node_eq;
  const auto refit = refit_constants(edge_refit, node_refit, fit_frames_model,
                                     frame_rows(accel_true, n, true),
                                     int(deck.integer("refit.iterations")), deck.string("refit.loss"),
                                     deck.real("refit.trim_largest"));
  const auto distilled = all_frames.accel(edge_refit, node_refit);
  log::info("distill: refit of " + std::to_string(refit.parameters) + " constants (" + refit.loss +
            " loss" +
            (refit.left_out > 0 ? ", the " + std::to_string(refit.left_out) + " largest |a| left out"
             : refit.trim_rejected ? ", on every entry: without the largest |a| it had fitted those worse"
                                   : std::string()) +
            "): MAE on the fit frames " + fixed(refit.mae_before) + " -> " + fixed(refit.mae) +
            ", MSE " + fixed(refit.mse_before) + " -> " + fixed(refit.mse) + " in " +
            std::to_string(refit.iterations) + " steps");

  // Did the law come back? The refitted edge equations on every analysed edge, each fitted
  // (trimmed least squares, as the messages) against the widest basis of force_bases: R² 1
  // means they are the force law up to a linear map and a receiver factor g(m1, q1).
  const auto bases = ml::force_bases(force, edges.values, d, law == "charge");
  const auto& widest = bases.back();
  std::vector<double> equation_r2s;
  {
    const auto data = sr_data(edges, edge_variables(d), edges, 0, edges.rows, "edge");
    sr::Evaluator ev;
    std::vector<double> y(edges.rows);
    for (int c = 0; c < d; ++c) {
      ev.evaluate(edge_refit[c], data, y.data());
      const bool finite = std::all_of(y.begin(), y.end(), [](double v) { return std::isfinite(v); });
      equation_r2s.push_back(finite ? ml::robust_linear_fit(y, widest.values, widest.cols,
                                                            deck.real("analysis.trim")).r2
                                    : 0.0);
    }
  }
  const double equation_r2 =
      std::accumulate(equation_r2s.begin(), equation_r2s.end(), 0.0) / double(std::max(d, 1));
  // The law came back when every component is such a map, not only their mean.
  const bool law_recovered =
      !equation_r2s.empty() && *std::min_element(equation_r2s.begin(), equation_r2s.end()) >= 0.999;
  log::info("distill: the refitted edge equations against the " + widest.name +
            " basis: R^2 = " + std::to_string(equation_r2) +
            (law_recovered ? " (every one the force law, up to a linear map)" : ""));

  // MAE per acceleration component, on the held-out (odd) frames and on the fit frames.
  const auto held = [&](const std::vector<double>& v, bool fit) {
    return frame_rows(Table{v, F * n, d}, n, fit).values;
  };
  const auto truth_held = held(accel_true.values, false), truth_fit = held(accel_true.values, true);
  const double mae_gnn = mean_abs_difference(held(accel_gnn.values, false), truth_held);
  const double mae_distilled = mean_abs_difference(held(distilled, false), truth_held);
  const double mae_found = mean_abs_difference(held(found, false), truth_held);
  const double mae_gnn_fit = mean_abs_difference(held(accel_gnn.values, true), truth_fit);
  const double mae_distilled_fit = mean_abs_difference(held(distilled, true), truth_fit);
  log::info("distill: test MAE on the held-out frames (per acceleration component): gnn " +
            fixed(mae_gnn) + ", distilled " + fixed(mae_distilled) + " (before the refit " +
            fixed(mae_found) + ")");

  std::vector<std::string> edge_strings, node_strings, edge_refit_strings, node_refit_strings;
  for (const auto& e : eq.at("edge")) edge_strings.push_back(e.at("equation").get<std::string>());
  for (const auto& e : eq.at("node")) node_strings.push_back(e.at("equation").get<std::string>());
  for (const auto& e : edge_refit) edge_refit_strings.push_back(sr::to_infix(e, edge_variables(d)));
  for (const auto& e : node_refit) node_refit_strings.push_back(sr::to_infix(e, node_variables(d)));
  const std::int64_t held_frames = F / 2, fit_frames = F - F / 2;
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
    out.set_attribute("/evaluation", "held_out_frames",
                      std::string("odd frames (1, 3, ...) are held out; even ones were fitted"));
    out.write_array("/evaluation/accel_true", accel_true.values.data(), {u(F), u(n), u(d)}, "true acceleration", "1");
    out.write_array("/evaluation/accel_gnn", accel_gnn.values.data(), {u(F), u(n), u(d)},
                    "the graph network's acceleration", "1");
    out.write_array("/evaluation/accel_distilled", distilled.data(), {u(F), u(n), u(d)},
                    "the distilled model's acceleration (edge + node equations, constants refitted)", "1");
    out.write_array("/evaluation/accel_distilled_found", found.data(), {u(F), u(n), u(d)},
                    "the distilled model with the regression's constants (before the refit)", "1");
    out.commit();
    auto j = summary_header("distill", "complete", p.out, "", std::uint64_t(deck.integer("seed")),
                            rt.size(), deck.values());
    j["law"] = law;
    j["message_r2"] = message_r2;
    j["message_r2_per_component"] = r2s;
    if (std::isfinite(message_r2_accel)) {
      j["message_r2_acceleration"] = message_r2_accel;
      j["message_r2_acceleration_per_component"] = r2s_accel;
    }
    if (!basis_r2.empty()) {
      nlohmann::json by;
      for (const auto& [name, v] : basis_r2) by[name] = v;
      j["message_r2_by_basis"] = by;
    }
    j["edge_equations_r2"] = {{"basis", widest.name}, {"r2", equation_r2},
                              {"per_component", equation_r2s}, {"law_recovered", law_recovered}};
    j["message_components"] = components;
    j["edge_variables"] = edge_variables(d);
    j["edge_equations"] = edge_strings;
    j["node_variables"] = node_variables(d);
    j["node_equations"] = node_strings;
    j["distilled_equations"] = {{"edge", edge_refit_strings}, {"node", node_refit_strings}};
    j["refit"] = {{"parameters", refit.parameters}, {"iterations", refit.iterations},
                  {"left_out", refit.left_out}, {"trim_rejected", refit.trim_rejected},
                  {"loss", refit.loss},
                  {"mse_fit_frames_before", refit.mse_before}, {"mse_fit_frames", refit.mse},
                  {"mae_fit_frames_before", refit.mae_before}, {"mae_fit_frames", refit.mae}};
    j["test_mae"] = {{"gnn", mae_gnn}, {"distilled", mae_distilled}, {"distilled_before_refit", mae_found}};
    j["fit_frames_mae"] = {{"gnn", mae_gnn_fit}, {"distilled", mae_distilled_fit}};
    j["frames"] = F;
    j["held_out_frames"] = held_frames;
    j["fit_frames"] = fit_frames;
    j["files"] = {{"gnn", p.gnn}, {"analysis", p.analysis}, {"equations", p.equations},
                  {"report", p.report}, {"sparsity_chart", p.sparsity}};
    write_json_atomic(summary_path_for(p.out), j);

    // The report page: tables and the charts, next to the output.
    std::string stem = p.gnn.substr(0, p.gnn.size() - 7);  // less ".gnn.h5"
    std::vector<std::array<double, 3>> curve;
    const std::string curve_png = stem + ".learning.png";
    const bool has_curve = write_learning_curve(stem + ".gnn.metrics.jsonl", curve_png, curve);
    std::ostringstream md;
    md << "# Distillation report: " << law << ", " << d << "D, n = " << n << ", regularizer "
       << deck.string("model.regularizer") << "\n\n"
       << "Deck `" << deck.origin() << "`, seed " << deck.integer("seed") << ", " << rt.size()
       << " rank(s). Written by `phyflow run` (workflow: distill); the numbers are in `"
       << base_name(summary_path_for(p.out)) << "`.\n\n"
       << "## Messages\n\n"
       << "Message R² (mean over the " << d << " most spread components, each against the best "
       << "linear transform of the true pair force, the worst " << deck.real("analysis.trim") * 100
       << " % of " << edges.rows << " edges left out): **" << fixed(message_r2) << "**.";
    if (std::isfinite(message_r2_accel))
      md << " Against the pair acceleration F/m1 instead (messages that already carry the "
         << "receiver's 1/m1): " << fixed(message_r2_accel) << ".";
    if (basis_r2.size() > 2) {
      md << " Against wider bases (the node model sees m1 and q1, so a message may be g(m1, q1) F for "
         << "any g):";
      for (std::size_t i = 2; i < basis_r2.size(); ++i)
        md << (i > 2 ? "," : "") << " " << basis_label(basis_r2[i].first) << " " << fixed(basis_r2[i].second);
      md << ".";
    }
    md << "\n\n| component | std | R² | R² vs F/m1 | fit: message ≈ a · F + b |\n|---|---|---|---|---|\n";
    for (int c = 0; c < d; ++c) {
      md << "| " << components[c] << " | " << fixed(stds[components[c]]) << " | " << fixed(r2s[c]) << " | "
         << (r2s_accel.empty() ? std::string("") : fixed(r2s_accel[c])) << " | a = (";
      for (int k = 0; k < d; ++k) md << (k ? ", " : "") << fixed(coefficients[c * (d + 1) + k]);
      md << "), b = " << fixed(coefficients[c * (d + 1) + d]) << " |\n";
    }
    md << "\n![message sparsity](" << base_name(p.sparsity) << ")\n\n"
       << "*Standard deviation of each of the " << stds.size() << " message components over the "
       << "test edges, sorted, largest first, as a fraction of the largest (grid lines at "
       << "quarters); orange: the " << d << " components analysed and regressed.*\n\n"
       << "## Equations\n\nEdge variables: dx, dy" << (d == 3 ? ", dz" : "") << " (x₂ − x₁), r, "
       << "m1, m2, q1, q2 (1 = receiver, 2 = sender); node variables: e0.. (the summed messages), "
       << "m, q. Regression on " << fit_frames << " fit frames; the refit moves every constant "
       << "together to the true accelerations of those frames (" << refit.iterations
       << " Levenberg–Marquardt steps on the " << refit.loss << " error"
       << (refit.left_out > 0 ? ", without the " + std::to_string(refit.left_out) + " largest |a|"
           : refit.trim_rejected ? ", on every entry: without the largest |a| it had fitted those worse"
                                 : std::string())
       << ": MAE over all entries " << fixed(refit.mae_before) << " → " << fixed(refit.mae) << ", MSE "
       << fixed(refit.mse_before) << " → " << fixed(refit.mse) << ").\n\n| | regression | refitted |\n|---|---|---|\n";
    for (int c = 0; c < d; ++c)
      md << "| message " << c << " | `" << edge_strings[c] << "` | `" << edge_refit_strings[c] << "` |\n";
    for (int c = 0; c < d; ++c)
      md << "| acceleration " << c << " | `" << node_strings[c] << "` | `" << node_refit_strings[c] << "` |\n";
    md << "\nThe refitted edge equations on the " << edges.rows << " analysed edges against the best "
       << "(trimmed) linear map of " << basis_label(widest.name) << ": R² = **" << fixed(equation_r2, 6) << "**"
       << " (per equation:";
    for (int c = 0; c < d; ++c) md << " " << fixed(equation_r2s[c], 6);
    md << ")" << (law_recovered ? ": the force law came back (up to that map)." : "; the law: 1 for each.")
       << "\n";
    md << "\n## Test MAE\n\nMean |a − a_true| per acceleration component on the " << held_frames
       << " held-out test frames (not seen by the regression or the refit); the fit frames' "
       << "figure in brackets.\n\n| model | MAE |\n|---|---|\n"
       << "| graph network | " << fixed(mae_gnn) << " (" << fixed(mae_gnn_fit) << ") |\n"
       << "| distilled, refitted | " << fixed(mae_distilled) << " (" << fixed(mae_distilled_fit) << ") |\n"
       << "| distilled, regression's constants | " << fixed(mae_found) << " |\n";
    if (has_curve) {
      md << "\n## Training\n\n![learning curve](" << base_name(curve_png) << ")\n\n"
         << "*Loss per epoch, log scale (grid lines at decades): training blue, validation "
         << "orange.*\n\n| epoch | train loss | val loss |\n|---|---|---|\n";
      const std::size_t step = std::max<std::size_t>(1, curve.size() / 20);
      for (std::size_t i = 0; i < curve.size(); i += step)
        md << "| " << curve[i][0] << " | " << fixed(curve[i][1]) << " | " << fixed(curve[i][2]) << " |\n";
      if ((curve.size() - 1) % step != 0)
        md << "| " << curve.back()[0] << " | " << fixed(curve.back()[1]) << " | " << fixed(curve.back()[2]) << " |\n";
    }
    const std::string partial = p.report + ".partial";
    {
      std::ofstream f(partial);
      f << md.str();
      if (!f) throw runtime_error("cannot write '" + partial + "'");
    }
    if (std::rename(partial.c_str(), p.report.c_str()) != 0)
      throw runtime_error("cannot rename '" + partial + "' to '" + p.report + "'");
  });
}

void run_distill(const config::Deck& deck, Runtime& rt, const RunOptions& options) {
  const Paths p = paths_for(deck.string("output.path"));
  const DataFiles files = data_files(deck, p);
  const std::size_t first = collective_try(rt.comm(), [&]() -> std::size_t {
    if (options.from_stage.empty()) return 0;
    const std::size_t s = stage_index(options.from_stage);
    if (s == 0 && !files.simulated)
      throw input_error("--from simulate: deck '" + deck.origin() + "' has no simulate: section "
                        "(its data: files are given); start from train");
    return s;
  });
  if (!options.from_stage.empty() || !options.overwrite)
    collective_try(rt.comm(), [&] {
      if (options.from_stage.empty() && file_exists(p.out) && !options.restart)
        throw input_error("output '" + p.out + "' exists: pass --overwrite to replace it, or "
                          "--from STAGE to rerun stages");
    });
  if (first == 0 && files.simulated) stage_simulate(deck, rt, options, p);
  // The data files must be N-body files of one force law (the messages are compared with it).
  collective_try(rt.comm(), [&] {
    std::string first_law, first_key;
    for (const auto& [key, path] : std::vector<std::pair<std::string, std::string>>{
             {"data.train", files.train}, {"data.val", files.val}, {"data.test", files.test}}) {
      if (path.empty()) continue;
      if (files.simulated && !file_exists(path))
        throw input_error("'" + path + "' (stage simulate) does not exist: run with --from "
                          "simulate or without --from");
      const auto f = io::InputFile::open(path);
      const std::string law = nbody::law_name(law_of(f).law);
      if (first_law.empty()) {
        first_law = law;
        first_key = key;
      } else if (law != first_law) {
        throw input_error(key + " '" + path + "' holds law " + law + " but " + first_key +
                          " holds " + first_law +
                          ": distill one force law at a time (same law in every data file)");
      }
    }
  });
  ml::set_intra_op_threads(int(deck.integer("threads.torch")));
  if (first <= 1) stage_train(deck, rt, options, p, files);
  if (first <= 2) stage_analyse(deck, rt, p, files);
  if (first <= 3) stage_regress(deck, rt, p);
  stage_evaluate(deck, rt, options, p);
}

}  // namespace

Workflow distill_workflow() {
  return {"distill",
          "train a graph network on N-body data, read its messages, distil them into equations",
          distill_schema, distill_check, run_distill, stage_names};
}

}  // namespace phyflow::workflows
