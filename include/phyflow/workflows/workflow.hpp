// The workflows phyflow can run: each turns a validated deck into output files. A workflow
// declares its deck schema and a run function; the registry lists them for the CLI
// (`phyflow run`, `validate`, `--help-deck`). Later capabilities (train, flow, sr)
// register here the same way.
#pragma once

#include "phyflow/core/config.hpp"

#include <mpi.h>

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

/// Every workflow, in the order `phyflow run --help-deck` lists them (loads libphyflow_ml in
/// builds with LibTorch: the learning workflows live there).
const std::vector<Workflow>& registry();
/// The workflow named `name`; input_error naming the nearest known one otherwise. A name that
/// is not one of libphyflow's own workflows loads libphyflow_ml (see ml_plugin()).
const Workflow& find(const std::string& name);

/// The learning half of phyflow: LibTorch, the ml and flows modules, and the workflows on
/// them, in libphyflow_ml. libphyflow does not link it, so a simulation never pays
/// LibTorch's start-up; the first call opens it (dlopen, from the directory libphyflow was
/// loaded from), or finds it already loaded when the program links it.
struct MlPlugin {
  std::vector<Workflow> workflows;
  /// `phyflow predict`: returns the report rank 0 prints.
  std::string (*predict)(MPI_Comm comm, const std::string& model, const std::string& input,
                         const std::string& output, bool overwrite) = nullptr;
};
/// The plug-in; a runtime error naming the library and the fix when it cannot be loaded, an
/// input error when phyflow was built without LibTorch.
const MlPlugin& ml_plugin();

/// Loads and fully checks a deck file (schema + workflow checks for `ranks` ranks).
config::Deck load_deck(const std::string& path, const std::vector<std::string>& overrides,
                       int ranks, const Workflow** workflow_out = nullptr);

// Factories, one per workflow file.
Workflow ising_workflow();
Workflow nbody_workflow();
Workflow phi4_workflow();
Workflow sr_workflow();
// In libphyflow_ml (builds with LibTorch):
Workflow train_workflow();
Workflow distill_workflow();
Workflow flow_workflow();
Workflow dataset_workflow();  ///< equivariant-learning data sets (ml/equivariant_data)

}  // namespace phyflow::workflows
