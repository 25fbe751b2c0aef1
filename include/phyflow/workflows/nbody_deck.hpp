// The N-body workflow's deck: schema (every key, default, range, help) and the typed settings
// the run uses. Units: the seed's dimensionless simulation units (G = k = 1, masses ~ e^N(0,1)).
#pragma once

#include "phyflow/core/config.hpp"
#include "phyflow/workflows/run_keys.hpp"
#include "phyflow/nbody/force_laws.hpp"
#include "phyflow/nbody/integrators.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace phyflow::workflows {

config::Schema nbody_schema();

/// One output file of an N-body run (a deck without `splits:` has one, named by output.path).
struct NbodySplit {
  std::string name;  ///< "" for the single default split
  std::string path;  ///< output file
  std::uint64_t seed = 0;
  std::uint64_t ns = 0;  ///< simulations
};

/// How the work is spread over ranks: `simulations` = an ensemble, each rank integrating a
/// contiguous block of every batch of simulations; `bodies` = each simulation spread over all
/// ranks by particles (tiles of bodies), forces by a ring pass of positions (large n).
enum class Distribution { simulations, bodies };

/// RunKeys: io.*, checkpoint.* (batches of simulations; frames with distribute: bodies),
/// progress.interval.
struct NbodySettings : RunKeys {
  nbody::ForceLawSpec law;
  int n = 4, dims = 2;
  nbody::TimeGrid grid;
  nbody::IntegratorSettings integrator;
  Distribution distribution = Distribution::simulations;
  std::uint64_t batch = 0;  ///< simulations per batch over all ranks (0 = chosen from memory)
  int tile = 256;           ///< bodies per tile (distribution: bodies)
  std::vector<NbodySplit> splits;
};

/// Typed settings from a validated deck; throws input_error for cross-key problems (dt <= 0,
/// verlet with the damped law on PETSc, more ranks than tiles, ...).
NbodySettings nbody_settings(const config::Deck& deck, int ranks);

}  // namespace phyflow::workflows
