// The pack kernels with 4 lanes compiled for AVX2 (the ensemble integrators of
// integrate_batch() and the large system's tile forces), picked at run time on CPUs that have
// it (lanes.hpp, pack_isa). The functor's operator() carries the target and flattens the whole
// pack computation into itself, so every vector operation is an AVX2 instruction. (Vector
// arguments of the inlined helpers draw -Wpsabi notes, off for this file: nothing with a
// vector argument is ever called across the ABI.)
#include "lane_launch.hpp"
#include "tile_force.hpp"

#if PHYFLOW_NBODY_LANE_DISPATCH

namespace phyflow::nbody::detail {

namespace {

template <class Kernel>
struct Avx2Target {
  Kernel kernel;
  __attribute__((target("avx2"), flatten)) void operator()(const int p) const {
    kernel.run_pack(p);
  }
};

}  // namespace

void launch_lanes_avx2(const ForceLawSpec& spec, int d, const TimeGrid& grid,
                       const IntegratorSettings& settings, const BatchState& initial,
                       const BatchFrames& frames, const BatchFrames& accel,
                       const BatchStats& stats) {
  launch_lanes_for<4, Avx2Target>(spec, d, grid, settings, initial, frames, accel, stats);
}

void tile_force_avx2(const ForceLawSpec& spec, int d, const TileRows& targets,
                     const TileRows& sources, const TileRows& out, int first_target,
                     int first_source, int j0, int j1) {
  launch_tile_force_for<4, Avx2Target>(spec, d, targets, sources, out, first_target,
                                       first_source, j0, j1);
}

}  // namespace phyflow::nbody::detail

#endif
