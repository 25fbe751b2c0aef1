// The body of lane_avx2.cpp and lane_avx512.cpp: the pack kernels (the ensemble integrators of
// integrate_batch() and the large system's tile forces) for one x86 instruction set, picked at
// run time on CPUs that have it (lanes.hpp, pack_isa). The functor's operator() carries the
// target and flattens the whole pack computation into itself, so every vector operation is an
// instruction of that set. A macro because a target attribute takes a string literal, not a
// template argument. (Vector arguments of the inlined helpers draw -Wpsabi notes, off for
// those files: nothing with a vector argument is ever called across the ABI.)
// Private to src/nbody.
#pragma once

#include "lane_launch.hpp"
#include "tile_force.hpp"

#define PHYFLOW_NBODY_PACKS_FOR_TARGET(isa, lanes, target_string)                               \
  namespace phyflow::nbody::detail {                                                           \
  namespace {                                                                                  \
  template <class Kernel>                                                                      \
  struct Target_##isa {                                                                        \
    Kernel kernel;                                                                             \
    __attribute__((target(target_string), flatten)) void operator()(const int p) const {       \
      kernel.run_pack(p);                                                                      \
    }                                                                                          \
  };                                                                                           \
  }                                                                                            \
  void launch_lanes_##isa(const ForceLawSpec& spec, int d, const TimeGrid& grid,               \
                          const IntegratorSettings& settings, const BatchState& initial,       \
                          const BatchFrames& frames, const BatchFrames& accel,                 \
                          const BatchStats& stats) {                                           \
    launch_lanes_for<lanes, Target_##isa>(spec, d, grid, settings, initial, frames, accel,     \
                                          stats);                                              \
  }                                                                                            \
  void tile_force_##isa(const ForceLawSpec& spec, int d, const TileRows& targets,              \
                        const TileRows& sources, const TileRows& out, int first_target,        \
                        int first_source, int j0, int j1) {                                    \
    launch_tile_force_for<lanes, Target_##isa>(spec, d, targets, sources, out, first_target,   \
                                               first_source, j0, j1);                          \
  }                                                                                            \
  }
