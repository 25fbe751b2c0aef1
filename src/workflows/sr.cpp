// Symbolic-regression workflow: deck -> data (CSV or HDF5) -> island search over the MPI
// ranks (sr::search) -> one JSON file with the Pareto front and the best equation as sympy
// infix, LaTeX and C++.
//
// Sample runs:
//   phyflow run inputs/sr_quick.yaml                  (a few seconds)
//   mpiexec -n 4 phyflow run inputs/sr_quick.yaml --set search.generations=300
//
// Steps: (1) read the deck's settings; (2) every rank reads the data (agreeing on errors,
// exit code 2 for bad input); (3) check that the output can be written before searching;
// (4) search; (5) rank 0 writes the result (PATH.partial, renamed when complete).
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "phyflow/core/collective.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/core/signals.hpp"
#include "phyflow/core/summary.hpp"
#include "phyflow/sr/data.hpp"
#include "phyflow/sr/search.hpp"
#include "phyflow/workflows/workflow.hpp"

namespace phyflow::workflows {

namespace {

std::vector<std::string> operator_choices() {
  std::vector<std::string> ops;
  for (int i = int(sr::Op::add); i < sr::op_count; ++i) ops.push_back(sr::op_name(sr::Op(i)));
  return ops;
}

config::Schema sr_schema() {
  config::Schema s("sr");
  s.choice("workflow", "sr", {"sr"}, "what to run");
  s.integer("seed", 1, 0, 4294967295.0,
            "seed of the search (Philox key): same seed, rank count "
            "and search.islands give the same equations");
  s.string("data.path", std::nullopt,
           "CSV file with a header row, or HDF5 (.h5: one 1-D dataset "
           "per column, or a 2-D dataset with a 'columns' attribute)")
      .required();
  s.string("data.target", std::nullopt, "column to explain").required();
  s.string("data.weights", std::nullopt, "column of row weights (optional)");
  s.string_list("data.features", std::nullopt, {},
                "input columns (default: every column except the target and the weights)");
  s.string("data.dataset", std::nullopt,
           "HDF5: the 2-D dataset to read (default: the only one "
           "with a 'columns' attribute, else the 1-D datasets)");
  s.real("data.validation_fraction", 0.0, 0.0, 0.9,
         "fraction of rows held out to report a validation loss (chosen by Philox from the seed)");
  s.string_list("operators", std::vector<std::string>{"add", "sub", "mul", "div"},
                operator_choices(), "operators expressions may use");
  s.integer("search.generations", 100, 0, 1e9,
            "generations (each island: population births per generation)");
  s.integer("search.max_complexity", 30, 1, 1000, "largest complexity (node count) of an equation");
  s.real(
      "search.time_limit_s", 0.0, 0.0, std::nullopt,
      "stop after this many seconds (all ranks at the same generation, results complete); 0: none");
  s.real("search.loss_threshold", 0.0, 0.0, std::nullopt,
         "stop once the best training loss (weighted MSE) is at or below this; 0: never");
  s.integer("search.islands", 4, 1, 4096, "populations per MPI rank (OpenMP threads evolve them)");
  s.integer("search.population", 64, 2, 1e6, "individuals per island");
  s.integer("search.tournament", 6, 1, 1e6, "tournament size of the selection");
  s.real("search.parsimony", 1e-3, 0.0, std::nullopt,
         "fitness = loss / var(target) + parsimony * complexity");
  s.real("search.crossover_probability", 0.1, 0.0, 1.0, "chance that a birth is a crossover");
  s.real("search.optimize_probability", 0.25, 0.0, 1.0,
         "chance that a child's constants are fitted by Levenberg-Marquardt");
  s.integer("search.lm_iterations", 8, 0, 1000,
            "Levenberg-Marquardt steps per fit during the search");
  s.integer("search.lm_rows", 256, 1, 1e9,
            "rows of the subsample constants are fitted on during the search");
  s.integer("search.batch_rows", 0, 0, 1e9,
            "score children on this many rows drawn afresh each generation (0: all rows); the "
            "hall of fame and the front use all rows. For large data sets");
  s.integer("search.migration_interval", 5, 1, 1e9, "generations between migrations");
  s.integer("search.migrants", 4, 0, 1e6,
            "individuals each island sends and receives per migration");
  s.choice("search.topology", "ring", {"ring", "random"},
           "where a rank's migrants go: the next rank, or the next in a random ring drawn "
           "afresh (from the seed) at every migration");
  s.integer("search.threads", 0, 0, 4096, "OpenMP threads per rank (0: OMP_NUM_THREADS)");
  // Per-operator complexity (PySR's complexity_of_operators): node count by default.
  for (int i = 0; i < sr::op_count; ++i) {
    const std::string name = i == int(sr::Op::constant)   ? "constant"
                             : i == int(sr::Op::variable) ? "variable"
                                                          : sr::op_name(sr::Op(i));
    s.integer("complexity." + name, 1, 1, 100, "complexity of one " + name + " node");
  }
  s.real("progress.interval", 5.0, 0.0, std::nullopt, "seconds between progress lines (0: none)");
  s.string("output.path", std::string("sr.json"),
           "result file (JSON: pareto, best; written as PATH.partial, renamed when complete)");
  return s;
}

struct SrSettings {
  sr::DataSpec data;
  sr::SearchOptions options;
  std::string output;
};

SrSettings sr_settings(const config::Deck& deck) {
  SrSettings s;
  s.data.path = deck.string("data.path");
  s.data.target = deck.string("data.target");
  if (deck.has("data.weights")) s.data.weights = deck.string("data.weights");
  if (deck.has("data.features")) s.data.features = deck.string_list("data.features");
  if (deck.has("data.dataset")) s.data.dataset = deck.string("data.dataset");
  sr::SearchOptions& o = s.options;
  o.operators.clear();
  for (const std::string& name : deck.string_list("operators")) {
    sr::Op op;
    if (!sr::parse_op(name, op))
      throw input_error("deck '" + deck.origin() + "': unknown operator '" + name +
                        "' (known: " + sr::operator_names() + ")");
    if (std::find(o.operators.begin(), o.operators.end(), op) == o.operators.end())
      o.operators.push_back(op);
  }
  o.seed = std::uint64_t(deck.integer("seed"));
  o.validation_fraction = deck.real("data.validation_fraction");
  o.generations = int(deck.integer("search.generations"));
  o.max_complexity = int(deck.integer("search.max_complexity"));
  o.time_limit_s = deck.real("search.time_limit_s");
  o.loss_threshold = deck.real("search.loss_threshold");
  o.islands = int(deck.integer("search.islands"));
  o.population = int(deck.integer("search.population"));
  o.tournament = int(deck.integer("search.tournament"));
  o.parsimony = deck.real("search.parsimony");
  o.crossover_probability = deck.real("search.crossover_probability");
  o.optimize_probability = deck.real("search.optimize_probability");
  o.lm_iterations = int(deck.integer("search.lm_iterations"));
  o.lm_rows = int(deck.integer("search.lm_rows"));
  o.migration_interval = int(deck.integer("search.migration_interval"));
  o.batch_rows = int(deck.integer("search.batch_rows"));
  o.migrants = int(deck.integer("search.migrants"));
  o.threads = int(deck.integer("search.threads"));
  o.topology =
      deck.string("search.topology") == "random" ? sr::Topology::random : sr::Topology::ring;
  o.progress_interval_s = deck.real("progress.interval");
  for (int i = 0; i < sr::op_count; ++i) {
    const std::string name = i == int(sr::Op::constant)   ? "constant"
                             : i == int(sr::Op::variable) ? "variable"
                                                          : sr::op_name(sr::Op(i));
    o.weights.of[i] = int(deck.integer("complexity." + name));
  }
  s.output = deck.string("output.path");
  if (s.output.empty()) throw input_error("deck '" + deck.origin() + "': output.path is empty");
  return s;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}

nlohmann::json equation_json(const sr::Equation& e, bool validation) {
  nlohmann::json j = {{"complexity", e.complexity}, {"loss", e.loss}, {"equation", e.equation},
                      {"latex", e.latex},           {"cpp", e.cpp},   {"score", e.score}};
  if (validation) j["validation_loss"] = number_or_null(e.validation_loss);
  return j;
}

void run_sr(const config::Deck& deck, Runtime& rt, const RunOptions& options) {
  // 1. Settings (already checked by `check`; cheap to redo).
  const SrSettings s = sr_settings(deck);
  // 2. Data, on every rank; a bad file stops every rank with the same message.
  const sr::Dataset data = collective_try(rt.comm(), [&] { return sr::load_dataset(s.data); });
  log::info("sr: " + std::to_string(data.rows()) + " rows, target '" + data.target + "', " +
            std::to_string(data.features()) + " features; " + std::to_string(rt.size()) +
            " ranks x " + std::to_string(s.options.islands) + " islands");
  // 3. The output must be writable before an hour of searching, not after.
  collective_try(rt.comm(), [&] {
    if (rt.rank() != 0) return;
    if (file_exists(s.output) && !options.overwrite)
      throw input_error("output '" + s.output +
                        "' exists; pass --overwrite to replace it or set "
                        "output.path");
    const std::string probe = s.output + ".partial";
    std::ofstream out(probe, std::ios::trunc);
    if (!out)
      throw input_error("cannot create output '" + probe +
                        "' (missing or unwritable directory); "
                        "set output.path to a writable place");
    out.close();
    std::remove(probe.c_str());
  });
  // 4. Search. SIGTERM/SIGUSR1 (Slurm's --signal, scancel) stop it at the next generation
  // with the front found so far written; there is no restart, so the run ends with exit
  // code 3 and status "interrupted".
  signals::install();
  const sr::SearchResult r =
      collective_try(rt.comm(), [&] { return sr::search(data, s.options, rt.comm()); });
  signals::uninstall();
  const bool interrupted = r.stopped_by == "signal";
  const sr::Equation& best = r.pareto.at(r.best);
  char line[160];
  std::snprintf(line, sizeof line,
                "sr: %d generations (%s) in %.3g s; best (complexity %d, loss %.3g): ",
                r.generations, r.stopped_by.c_str(), r.seconds, best.complexity, best.loss);
  log::info(line + best.equation);
  // 5. Result.
  if (rt.rank() == 0) {
    const bool validation = r.validation_rows > 0;
    nlohmann::json j = summary_header("sr", interrupted ? "interrupted" : "complete", s.output, "",
                                      s.options.seed, rt.size(), deck.values());
    j["pareto"] = nlohmann::json::array();
    for (const sr::Equation& e : r.pareto) j["pareto"].push_back(equation_json(e, validation));
    j["best"] = equation_json(best, validation);
    j["data"] = {{"path", s.data.path},        {"target", data.target},
                 {"features", data.names},     {"rows", data.rows()},
                 {"train_rows", r.train_rows}, {"validation_rows", r.validation_rows},
                 {"weighted", !data.w.empty()}};
    j["search"] = {{"generations", r.generations},
                   {"stopped_by", r.stopped_by},
                   {"wall_seconds", r.seconds},
                   {"evaluations", r.evaluations},
                   {"node_evaluations", r.node_evaluations},
                   {"node_evaluations_per_second",
                    r.seconds > 0 ? double(r.node_evaluations) / r.seconds : 0.0},
                   {"islands_per_rank", s.options.islands},
                   {"loss", "weighted mean squared error on the training rows"}};
    write_json_atomic(s.output, j);
  }
  if (interrupted)
    collective_try(rt.comm(), [&] {
      if (rt.rank() == 0)
        throw Error(ExitCode::interrupted,
                    "stopped by a stop signal (SIGTERM, SIGUSR1 or SIGINT) after " +
                        std::to_string(r.generations) +
                        " generations; the front found so far is in '" + s.output +
                        "' (status interrupted). A search has no restart: rerun with "
                        "search.time_limit_s set to fit the time slot");
    });
}

}  // namespace

Workflow sr_workflow() {
  Workflow w;
  w.name = "sr";
  w.description =
      "Symbolic regression: island search (MPI ranks x OpenMP threads) for equations that "
      "explain a column of a CSV or HDF5 table; Pareto front of complexity vs loss as sympy "
      "infix, LaTeX and C++ in a JSON file.";
  w.schema = sr_schema;
  w.check = [](const config::Deck& deck, int) { (void)sr_settings(deck); };
  w.run = run_sr;
  return w;
}

}  // namespace phyflow::workflows
