// The phi^4 decks: the `action:` section every phi^4 workflow shares (workflow: phi4, and
// workflow: flow for its phi^4 target) and the phi4 workflow's own schema and settings.
// action: {kind: phi4, dims, L, m2, lambda} in the AKS convention (lattice/phi4_action.hpp);
// convention: normflow takes {kappa, m_sq, lambda} and hopping {kappa, lambda (= lambda_h)},
// both converted to AKS couplings plus a field scale phi_aks = field_scale * phi_convention.
#pragma once

#include "phyflow/core/config.hpp"
#include "phyflow/lattice/phi4_action.hpp"
#include "phyflow/workflows/run_keys.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace phyflow::workflows {

/// Declares action.kind (phi4, plus `extra_kinds` for workflows with other targets),
/// action.dims, action.L, action.m2, action.lambda, action.convention, action.kappa,
/// action.m_sq.
void add_phi4_action_keys(config::Schema& schema,
                          const std::vector<std::string>& extra_kinds = {});

struct Phi4ActionSpec {
  int dims = 2;
  int L = 8;
  std::string convention = "aks";     ///< aks | normflow | hopping, as given in the deck
  lattice::Phi4Couplings couplings;   ///< AKS (m2, lambda): what the kernels use
  double field_scale = 1.0;           ///< phi_aks = field_scale * phi in the deck's convention
  lattice::Phi4Normflow normflow;     ///< the same theory in normflow form (kappa 2 unless given)
  lattice::Phi4Hopping hopping;       ///< in hopping form (kappa = 0: none exists)
  std::size_t volume() const;
};

/// The action of a validated deck with action.kind = phi4; throws input_error naming the key
/// and the fix for a missing or misplaced coupling (m2 with convention hopping, no kappa with
/// normflow/hopping, lambda <= 0 in the hopping form, ...).
Phi4ActionSpec phi4_action_from_deck(const config::Deck& deck);

config::Schema phi4_schema();

/// RunKeys: io.*, checkpoint.* (in updates: sweeps or trajectories), progress.interval.
struct Phi4Settings : RunKeys {
  Phi4ActionSpec action;
  std::uint64_t seed = 0;
  std::vector<int> proc_grid;  ///< empty: MPI_Dims_create chooses
  std::string algorithm;       ///< metropolis | hmc
  double metropolis_step = 1.0;
  int metropolis_hits = 1;
  std::string integrator;      ///< leapfrog | omelyan
  int hmc_steps = 10;
  double trajectory_length = 1.0;
  std::string start;           ///< hot | cold
  std::uint64_t thermalize = 0, samples = 0, between_samples = 1;
  bool store_fields = true;
  std::string output;
};

/// Typed settings of a validated deck; throws input_error for cross-key problems (the
/// action's couplings, a lattice that does not divide over `ranks` or is not even).
Phi4Settings phi4_settings(const config::Deck& deck, int ranks);

}  // namespace phyflow::workflows
