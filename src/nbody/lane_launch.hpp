// Launching LaneIntegrator over a batch, and the packs compiled for wider x86 instruction sets
// (lane_avx2.cpp, lane_avx512.cpp) that integrate_batch() picks at run time. Private to
// src/nbody.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "lane_integrator.hpp"
#include "phyflow/core/error.hpp"

namespace phyflow::nbody::detail {

/// Calls the kernel's run_pack from a functor compiled for the default target.
template <class Kernel>
struct DefaultTarget {
  Kernel kernel;
  KOKKOS_INLINE_FUNCTION void operator()(const int p) const { kernel.run_pack(p); }
};

/// Method M on the whole batch with packs of L lanes; Wrap<Kernel> is the functor Kokkos runs
/// (it fixes the instruction set the pack code is compiled for).
template <int D, Method M, int L, template <class> class Wrap, class Law>
void launch_lanes(const Law& law, const TimeGrid& grid, const IntegratorSettings& settings,
                  const BatchState& initial, const BatchFrames& frames, const BatchFrames& accel,
                  const BatchStats& stats) {
  using Kernel = LaneIntegrator<D, Law, M, L>;
  const int batch = static_cast<int>(initial.extent(0));
  const int n = static_cast<int>(initial.extent(1));
  const int packs = Kernel::packs(batch);
  // Allocated per call, so concurrent calls never share work space; each thread owns a row.
  const typename Kernel::Scratch scratch(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "phyflow::nbody::lane_scratch"), packs,
      Kernel::row_length(n));
  if constexpr (L > 1) {
    // Packs are moved to and from SIMD registers whole: every row must start on a pack.
    static_assert(std::is_same_v<typename Kernel::Scratch::array_layout, Kokkos::LayoutRight>);
    if (reinterpret_cast<std::uintptr_t>(scratch.data()) % (sizeof(double) * L) != 0)
      throw runtime_error("integrate_batch: the lane work space is not aligned to " +
                          std::to_string(sizeof(double) * L) + " bytes");
  }
  const Wrap<Kernel> functor{Kernel(law, n, grid, settings, initial, frames, accel, stats,
                                    scratch, std::numeric_limits<double>::quiet_NaN())};
  Kokkos::parallel_for("phyflow::nbody::integrate_batch",
                       Kokkos::RangePolicy<Kokkos::DefaultExecutionSpace>(0, packs), functor);
  Kokkos::fence();
}

/// launch_lanes for a runtime law, dimension and method.
template <int L, template <class> class Wrap>
void launch_lanes_for(const ForceLawSpec& spec, int d, const TimeGrid& grid,
                      const IntegratorSettings& settings, const BatchState& initial,
                      const BatchFrames& frames, const BatchFrames& accel,
                      const BatchStats& stats) {
  with_law(spec, [&](const auto& law) {
    auto run = [&](auto dim) {
      constexpr int D = decltype(dim)::value;
      switch (settings.method) {
        case Method::verlet:
          return launch_lanes<D, Method::verlet, L, Wrap>(law, grid, settings, initial, frames,
                                                          accel, stats);
        case Method::rk4:
          return launch_lanes<D, Method::rk4, L, Wrap>(law, grid, settings, initial, frames,
                                                       accel, stats);
        case Method::rk45:
          return launch_lanes<D, Method::rk45, L, Wrap>(law, grid, settings, initial, frames,
                                                        accel, stats);
      }
    };
    if (d == 1) run(std::integral_constant<int, 1>{});
    if (d == 2) run(std::integral_constant<int, 2>{});
    if (d == 3) run(std::integral_constant<int, 3>{});
  });
}

#if PHYFLOW_NBODY_LANE_DISPATCH
/// Packs of 4 lanes compiled for AVX2 (lane_avx2.cpp) and of 8 compiled for AVX-512 F
/// (lane_avx512.cpp); only for CPUs that have them. Each file instantiates
/// PHYFLOW_NBODY_PACKS_FOR_TARGET (lane_isa.hpp).
void launch_lanes_avx2(const ForceLawSpec& spec, int d, const TimeGrid& grid,
                       const IntegratorSettings& settings, const BatchState& initial,
                       const BatchFrames& frames, const BatchFrames& accel,
                       const BatchStats& stats);
void launch_lanes_avx512(const ForceLawSpec& spec, int d, const TimeGrid& grid,
                         const IntegratorSettings& settings, const BatchState& initial,
                         const BatchFrames& frames, const BatchFrames& accel,
                         const BatchStats& stats);
#endif

}  // namespace phyflow::nbody::detail
