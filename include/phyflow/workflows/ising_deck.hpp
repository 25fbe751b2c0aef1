// The Ising workflow's deck: schema (every key, default, range, help) and the typed settings
// the run uses. Convention: H = -J sum_<ij> s_i s_j - h sum_i s_i on a periodic L^d lattice,
// k_B = 1, beta = 1/T.
#pragma once

#include "phyflow/core/config.hpp"

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

struct IsingSettings {
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
  std::uint64_t checkpoint_every = 0;  ///< sweeps (steps in single_flip); 0: only on signal
  std::uint64_t stop_after = 0;        ///< checkpoint and stop after this many sweeps (0: never)
  double progress_interval = 5.0;
  bool collective_io = true;
  std::uint64_t alignment = 0;
  std::vector<IsingSplit> splits;
};

/// Typed settings from a validated deck; throws input_error for cross-key problems
/// (odd L, both or neither of temperatures/betas, a lattice that does not divide over `ranks`).
IsingSettings ising_settings(const config::Deck& deck, int ranks);

/// "runs/ising.h5" + "train" -> "runs/ising_train.h5".
std::string split_output_path(const std::string& path, const std::string& split);

}  // namespace phyflow::workflows
