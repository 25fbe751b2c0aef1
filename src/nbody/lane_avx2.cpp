// The pack kernels (Verlet, RK4, rk45) with 4 lanes compiled for AVX2, picked at run time by
// integrate_batch() on CPUs that have it (lane_launch.hpp). The functor's operator() carries
// the target and flattens the whole pack integration into itself, so every vector operation is
// an AVX2 instruction. (Vector arguments of the inlined helpers draw -Wpsabi notes, off for
// this file: nothing with a vector argument is ever called across the ABI.)
#include "lane_launch.hpp"

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

}  // namespace phyflow::nbody::detail

#endif
