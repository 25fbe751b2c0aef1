// Pieces of the N-body workflow that tests and tools use on their own: the per-simulation
// conservation diagnostics written to /diagnostics and the JSON summary.
#pragma once

#include "phyflow/nbody/force_laws.hpp"

#include <cmath>

namespace phyflow::workflows {

struct FrameDiagnostics {
  double energy_drift = 0.0;    ///< max_k |E_k - E_0| / (K_0 + |U_0|)
  double momentum_drift = 0.0;  ///< max_k |P_k - P_0| / sum_b m_b |v_b(0)|
};

/// Drifts of one simulation over its nt frames (nt * n * (2d + 2) doubles, the seed layout);
/// writes the total energy of each frame to `energy` (nt doubles) unless null. NaN frames (a
/// failed simulation) give NaN drifts.
FrameDiagnostics frame_diagnostics(const nbody::ForceLawSpec& law, int d, int n, int nt,
                                   const double* frames, double* energy);

}  // namespace phyflow::workflows
