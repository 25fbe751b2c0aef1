// Exact Ising observables of a spin field: integer sums, so they are the same on any rank
// count. With H = -J sum_<ij> s_i s_j - h sum_i s_i the energy is
// E = -J * bond_sum - h * magnetization (evaluate it in double where needed).
#pragma once

#include "phyflow/lattice/spin_field.hpp"

#include <cstdint>

namespace phyflow::lattice {

struct IsingSums {
  std::int64_t bond_sum = 0;      ///< sum over nearest-neighbour bonds of s_i s_j, each once
  std::int64_t magnetization = 0; ///< sum_i s_i
};

/// Energy of a configuration with these sums: -J * bond_sum - h * magnetization.
inline double ising_energy(const IsingSums& sums, double J, double h) {
  return -J * static_cast<double>(sums.bond_sum) - h * static_cast<double>(sums.magnetization);
}

/// Sums of this rank's block only (bonds from its colour-0 sites to all their neighbours,
/// which counts every bond of the lattice exactly once over all ranks). Needs a valid halo.
IsingSums local_ising_sums(const SpinField& field);
/// Global sums over all ranks (MPI_Allreduce on int64); collective.
IsingSums ising_sums(const SpinField& field);

}  // namespace phyflow::lattice
