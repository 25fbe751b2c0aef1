// The Ising workflow's deck: schema (every key, default, range, help) and the typed settings
// the run uses. Convention: H = -J sum_<ij> s_i s_j - h sum_i s_i on a periodic L^d lattice,
// k_B = 1, beta = 1/T.
#pragma once

#include "phyflow/core/config.hpp"
#include "phyflow/workflows/run_keys.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace phyflow::workflows {

config::Schema ising_schema();

/// One output file of an Ising run (a deck without `splits:` has one, named by output.path).
struct IsingSplit {
  std::string name;           ///< "" for the single default split
  std::string path;           ///< output file
  std::uint64_t seed = 0;
  std::uint64_t samples = 0;  ///< samples per temperature
  std::vector<double> temperatures;
};

/// RunKeys: io.*, checkpoint.* (sweeps; steps in single_flip), progress.interval.
struct IsingSettings : RunKeys {
  int dims = 2;
  int L = 16;
  std::vector<int> proc_grid;  ///< empty: MPI_Dims_create chooses
  double J = 1.0, h = 0.0;
  std::string algorithm;       ///< metropolis | heatbath | single_flip
  std::string start;           ///< hot | cold
  std::uint64_t thermalize = 0, between_samples = 1;
  bool decorrelate = false;
  std::uint64_t pilot = 0;
  double decorrelate_factor = 2.0;
  bool store_spins = true;
  std::vector<IsingSplit> splits;
};

/// Typed settings from a validated deck; throws input_error for cross-key problems
/// (odd L, both or neither of temperatures/betas, a lattice that does not divide over `ranks`).
IsingSettings ising_settings(const config::Deck& deck, int ranks);

}  // namespace phyflow::workflows
