// The workflows phyflow can run: each turns a validated deck into output files. A workflow
// declares its deck schema and a run function; the registry lists them for the CLI
// (`phyflow run`, `validate`, `--help-deck`). Later capabilities (train, flow, sr)
// register here the same way.
#pragma once

#include "phyflow/core/config.hpp"

#include <functional>
#include <string>
#include <vector>

namespace phyflow {
class Runtime;
}

namespace phyflow::workflows {

struct RunOptions {
  bool overwrite = false;  ///< replace existing outputs
  bool restart = false;    ///< resume from the newest complete checkpoint
  std::string from_stage;  ///< staged workflows: first stage to run ("": all)
};

struct Workflow {
  std::string name;
  std::string description;  ///< one line for `phyflow run --help-deck`
  std::function<config::Schema()> schema;
  /// Checks that need more than the schema (cross-key constraints, rank count); throws
  /// input_error. Called by `validate` and before `run`, identically on every rank.
  std::function<void(const config::Deck&, int ranks)> check;
  std::function<void(const config::Deck&, Runtime&, const RunOptions&)> run;
  /// Stages, in order, of a workflow that chains several (distill); `--from STAGE` starts
  /// at one of them. Empty for single-stage workflows.
  std::vector<std::string> stages;
};

/// Every workflow, in the order `phyflow run --help-deck` lists them.
const std::vector<Workflow>& registry();
/// The workflow named `name`; input_error naming the nearest known one otherwise.
const Workflow& find(const std::string& name);

/// Loads and fully checks a deck file (schema + workflow checks for `ranks` ranks).
config::Deck load_deck(const std::string& path, const std::vector<std::string>& overrides,
                       int ranks, const Workflow** workflow_out = nullptr);

// Factories, one per workflow file.
Workflow ising_workflow();
Workflow nbody_workflow();
Workflow phi4_workflow();
Workflow sr_workflow();
Workflow train_workflow();    ///< only in builds with LibTorch
Workflow distill_workflow();  ///< only in builds with LibTorch
Workflow flow_workflow();     ///< only in builds with LibTorch
Workflow dataset_workflow();   ///< equivariant-learning data sets (builds with LibTorch: ml/)

}  // namespace phyflow::workflows
