// phyflow: the command-line program.
//
//   phyflow run DECK [--set key.path=value ...] [--overwrite] [--restart]
//   phyflow run --help-deck WORKFLOW        print every key of a workflow's deck
//   phyflow validate DECK [--set ...]       check a deck, run nothing
//   phyflow info                            versions and backends
//   phyflow inspect FILE.h5                 what a dataset holds
//   phyflow compare A.h5 B.h5               are two outputs' datasets bitwise identical?
//   phyflow export FILE.h5 --npy [--out DIR] [--prune-percentile P] [--overwrite]
//                                           an N-body output as the seed project's .npy pair
//   phyflow predict MODEL.h5 INPUT.h5 --out PRED.h5 [--overwrite]
//                                           a trained model's predictions for a data file
//
// Run under MPI: mpiexec -n 4 phyflow run inputs/ising2d.yaml
// Exit codes: 0 ok, 1 runtime failure, 2 bad input, 3 interrupted (checkpoint written).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "phyflow/core/blas.hpp"
#include "phyflow/core/build_info.hpp"
#include "phyflow/core/collective.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/placement.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/io/compare.hpp"
#include "phyflow/io/inspect.hpp"
#include "phyflow/io/nbody_export.hpp"
#include "phyflow/workflows/workflow.hpp"

namespace {

using phyflow::ExitCode;

struct Cli {
  std::string deck, help_deck, file_a, file_b;
  std::vector<std::string> overrides;
  bool overwrite = false, restart = false, log_all_ranks = false;
  std::string from_stage;
  bool npy = false;
  phyflow::io::NbodyNpyExportOptions export_options;
  std::string model, input, output;
  bool predict_overwrite = false;
};

int run_command(CLI::App& app, const Cli& cli, phyflow::Runtime& rt) {
  namespace wf = phyflow::workflows;
  if (app.got_subcommand("info")) {
    // Load the learning half so that info reports its LibTorch (info is not start-up critical).
    if (PHYFLOW_HAVE_TORCH) phyflow::collective_try(rt.comm(), [] { (void)wf::ml_plugin(); });
    const std::vector<std::string> placement = phyflow::placement_report(rt.comm());
    if (rt.rank() == 0) {
      std::cout << phyflow::Runtime::describe() << "  ranks    " << rt.size()
                << " (host: rank, the CPUs it may use, its GPUs)\n";
      for (const std::string& line : placement) std::cout << "    " << line << "\n";
      std::cout << std::flush;
    }
    return 0;
  }
  // inspect, compare and export read on rank 0 only (no MPI inside); an error is shared by all
  // ranks.
  if (app.got_subcommand("inspect")) {
    const std::string text =
        phyflow::collective_try(rt.comm(), [&] {
      return rt.rank() == 0 ? phyflow::io::inspect(cli.file_a) : std::string();
    });
    if (rt.rank() == 0) std::cout << text << std::flush;
    return 0;
  }
  if (app.got_subcommand("compare")) {
    const auto diffs = phyflow::collective_try(
        rt.comm(), [&] {
          // Data and their attributes must match; the provenance that names how the run was
          // made (time, ranks, build, the deck with its output path) may differ.
          phyflow::io::CompareOptions opts;
          opts.ignored_root_attributes.push_back("deck");
          opts.ignored_root_attributes.push_back("deck_resolved");
          return rt.rank() == 0 ? phyflow::io::compare_datasets(cli.file_a, cli.file_b, opts)
                                : std::vector<std::string>{};
        });
    if (rt.rank() == 0) {
      for (const auto& d : diffs) std::cout << d << "\n";
      std::cout << (diffs.empty() ? "identical datasets\n" : "files differ\n") << std::flush;
    }
    int differ = diffs.empty() ? 0 : 1;
    MPI_Bcast(&differ, 1, MPI_INT, 0, rt.comm());
    return differ;
  }
  if (app.got_subcommand("export")) {
    const std::string report = phyflow::collective_try(rt.comm(), [&] {
      if (!cli.npy)
        throw phyflow::input_error(
            "phyflow export needs an output format: phyflow export FILE.h5 --npy");
      return rt.rank() == 0 ? phyflow::io::export_nbody_npy(cli.export_options).summary()
                            : std::string();
    });
    if (rt.rank() == 0) std::cout << report << std::flush;
    return 0;
  }
#if PHYFLOW_HAVE_TORCH
  if (app.got_subcommand("predict")) {
    const auto& plugin = *phyflow::collective_try(rt.comm(), [] { return &wf::ml_plugin(); });
    const std::string report =
        plugin.predict(rt.comm(), cli.model, cli.input, cli.output, cli.predict_overwrite);
    if (rt.rank() == 0) std::cout << report << std::flush;
    return 0;
  }
#endif
  auto* run = app.get_subcommand("run");
  if (run->parsed() && !cli.help_deck.empty()) {
    const auto& w = *phyflow::collective_try(rt.comm(), [&] { return &wf::find(cli.help_deck); });
    if (rt.rank() == 0) std::cout << w.description << "\n\n" << w.schema().describe() << std::flush;
    return 0;
  }
  phyflow::collective_try(rt.comm(), [&] {
    if (cli.deck.empty())
      throw phyflow::input_error(
          "phyflow run needs a deck: phyflow run DECK.yaml (or --help-deck WORKFLOW)");
  });
  const wf::Workflow* w = nullptr;
  const auto deck = phyflow::collective_try(
      rt.comm(), [&] { return wf::load_deck(cli.deck, cli.overrides, rt.size(), &w); });
  if (app.got_subcommand("validate")) {
    if (rt.rank() == 0)
      std::cout << "deck '" << cli.deck << "' is valid for workflow '" << w->name << "' on "
                << rt.size() << " rank(s). Resolved deck:\n"
                << deck.resolved_yaml() << std::flush;
    return 0;
  }
  // Where the ranks run, before the work: a binding mistake shows here, not in the timings.
  if (rt.size() > 1)
    for (const std::string& line : phyflow::placement_report(rt.comm()))
      phyflow::log::info("placement " + line);
  wf::RunOptions options;
  options.overwrite = cli.overwrite;
  options.restart = cli.restart;
  options.from_stage = cli.from_stage;
  phyflow::collective_try(rt.comm(), [&] {
    if (!cli.from_stage.empty() && w->stages.empty())
      throw phyflow::input_error("--from " + cli.from_stage + ": workflow '" + w->name +
                                 "' has no stages; --from applies to staged workflows (distill)");
  });
  w->run(deck, rt, options);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything starts (it may restart the program): OpenBLAS's kernels for this CPU.
  phyflow::blas::retune_kernels(argv);
  // Runtime first: MPI must be up before anything can fail collectively.
  bool log_all = false;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--log-all-ranks") log_all = true;
  phyflow::RuntimeOptions ropts;
  ropts.log_all_ranks = log_all;
  phyflow::Runtime rt(argc, argv, ropts);

  Cli cli;
  CLI::App app{"phyflow: lattice Monte Carlo, N-body ensembles and learning on MPI ranks"};
  app.set_version_flag("--version", std::string(phyflow::Runtime::describe()));
  app.add_flag("--log-all-ranks", cli.log_all_ranks, "every rank logs, prefixed with its rank");
  app.require_subcommand(1);

  auto* run = app.add_subcommand("run", "run the workflow a deck describes");
  run->add_option("deck", cli.deck, "YAML deck (inputs/*.yaml)");
  run->add_option("--set", cli.overrides, "override a deck key: --set lattice.L=64 (repeatable)")
      ->type_name("KEY=VALUE");
  run->add_flag("--overwrite", cli.overwrite, "replace existing output files");
  run->add_flag("--restart", cli.restart, "resume from the newest checkpoint of this deck's output");
  run->add_option("--from", cli.from_stage,
                  "staged workflows (distill): start at this stage, reusing the files the earlier "
                  "stages wrote");
  run->add_option("--help-deck", cli.help_deck, "print every deck key of WORKFLOW and exit")
      ->type_name("WORKFLOW");

  auto* validate = app.add_subcommand("validate", "check a deck (and the rank count), run nothing");
  validate->add_option("deck", cli.deck, "YAML deck")->required();
  validate->add_option("--set", cli.overrides, "override a deck key (repeatable)")
      ->type_name("KEY=VALUE");

  app.add_subcommand("info", "versions, backends and build options");
  auto* inspect = app.add_subcommand("inspect", "shapes, provenance and statistics of an HDF5 file");
  inspect->add_option("file", cli.file_a, "phyflow output (.h5)")->required();
  auto* compare = app.add_subcommand("compare", "compare every dataset of two files bit for bit");
  compare->add_option("a", cli.file_a, "first file")->required();
  compare->add_option("b", cli.file_b, "second file")->required();
  auto* exporter = app.add_subcommand(
      "export", "write an N-body output (workflow: nbody) in the seed project's file format");
  auto& xo = cli.export_options;
  exporter->add_option("file", xo.input, "N-body output (.h5) with /data and /accel")->required();
  exporter->add_flag("--npy", cli.npy,
                     "write sim=LAW_key=SEED_ns=.._n=.._dim=.._nt=.._dt=DT.npy (/data) and "
                     "accel_sim=...npy (/accel), as the seed's simulations/run_sims.py named them");
  exporter->add_option("--out", xo.out_dir, "directory for the .npy files (default: the file's)")
      ->type_name("DIR");
  exporter
      ->add_option_function<double>(
          "--prune-percentile",
          [&xo](const double& p) {
            xo.prune = true;
            xo.prune_percentile = p;
          },
          "drop frames with a velocity or acceleration component outside the (100-P, P) "
          "percentiles, as the seed loader's prune_outliers = P (50 < P < 100, e.g. 99); writes "
          "the kept frames as (kept, 1, n, ...) arrays, time-major, names ending _pruned=P. "
          "Memory on rank 0: 8*ns*nt*n*dim bytes plus 16 bytes per frame")
      ->type_name("P");
  exporter->add_flag("--overwrite", xo.overwrite, "replace existing .npy files");
#if PHYFLOW_HAVE_TORCH
  auto* predict = app.add_subcommand(
      "predict", "a trained model's predictions for every sample of a data file, in the file's "
                 "own structure (Ising: /tN/energy); the same numbers on any number of ranks");
  predict->add_option("model", cli.model, "model file (the output of a workflow: train run)")
      ->required();
  predict->add_option("input", cli.input, "data file (.h5) of the layout the model was trained on")
      ->required();
  predict->add_option("--out", cli.output, "predictions file to write (.h5)")->required();
  predict->add_flag("--overwrite", cli.predict_overwrite, "replace an existing predictions file");
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = 0;
    if (rt.rank() == 0) code = app.exit(e);
    else code = (e.get_exit_code() == 0) ? 0 : 1;
    phyflow::Runtime::abort_all(code == 0 ? 0 : static_cast<int>(ExitCode::bad_input), true);
  }

  try {
    return run_command(app, cli, rt);
  } catch (const phyflow::Error& e) {
    const int code = static_cast<int>(e.code());
    if (e.agreed()) {
      // Every rank holds this error: print it once and finalise normally.
      if (rt.rank() == 0) {
        if (rt.size() > 1)
          std::fprintf(stderr, "phyflow: error (rank %d): %s\n", e.origin_rank(), e.what());
        else
          std::fprintf(stderr, "phyflow: error: %s\n", e.what());
      }
      phyflow::Runtime::abort_all(code, true);
    }
    phyflow::log::error_any_rank(e.what());
    phyflow::Runtime::abort_all(code, rt.size() == 1);
  } catch (const std::exception& e) {
    phyflow::log::error_any_rank(std::string("internal error: ") + e.what());
    phyflow::Runtime::abort_all(static_cast<int>(ExitCode::runtime_failure), rt.size() == 1);
  }
}
