// Initial conditions of the N-body data sets as in the seed (Cranmer et al. 2020,
// simulate.py): every feature of every body N(0,1), then m = exp(N(0,1)) and, for the charge
// law, q = sign(N(0,1)). Drawn on the host from the counter-based stream (seed, "nbody-init")
// at counter (index = simulation, step = 4 * body + block), blocks 0..3 giving 8 normals, so a
// body's initial state depends only on (seed, simulation, body): not on ranks, batch or n.
#pragma once

#include <cstdint>

#include "phyflow/nbody/force_laws.hpp"

namespace phyflow::nbody {

/// Writes bodies [first_body, first_body + count) of simulation `sim` into `out`
/// (count rows of 2d + 2 doubles: [x(d), v(d), q, m]). Host code; d in 1..3.
void initial_bodies(ForceLaw law, std::uint64_t seed, int d, std::uint64_t sim,
                    std::uint64_t first_body, std::uint64_t count, double* out);

/// Four standard normals from the Philox blocks at steps 2 * step and 2 * step + 1 (Box-Muller
/// on two 53-bit uniforms each); exposed for tests of the distribution.
void normal_pair(std::uint64_t seed, std::uint64_t index, std::uint64_t step, double* z4);

}  // namespace phyflow::nbody
