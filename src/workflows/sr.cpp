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
#include "sr_keys.hpp"

namespace phyflow::workflows {

namespace {


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
  add_sr_search_keys(s, "operators", "search.", "complexity.");
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
  s.options = sr_search_options(deck, "operators", "search.", "complexity.");
  s.options.validation_fraction = deck.real("data.validation_fraction");
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
