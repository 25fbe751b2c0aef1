// The large system's pair-force kernel (DistributedSystem, large_system.cpp): forces on the
// owned bodies from the source rows [j0, j1) of one tile, added in j order, with a pack of L
// target bodies per thread, one per SIMD lane (lanes.hpp). Each lane does the scalar
// arithmetic of its body in the same order (its own body skipped by a lane select instead of
// a branch), so the partial sums are the same bits for every width: the fixed tree over tiles
// then makes the forces independent of the rank count, as before. Private to src/nbody.
#pragma once

#include <Kokkos_Core.hpp>
#include <type_traits>

#include "lanes.hpp"
#include "phyflow/nbody/force_laws.hpp"

namespace phyflow::nbody::detail {

using TileRows = Kokkos::View<double**, Kokkos::LayoutRight>;

/// targets: owned rows [x(D), v(D), q, m]; sources: rows [x(D), q, m]; out(i, k): the sum
/// over j in [j0, j1), j != i, of the pair force on target i (global index first_target + i)
/// from source j (global index first_source + j).
template <int D, class Law, int L>
struct TileForcePacks {
  using T = Pack<L>;
  Law law;
  TileRows targets, sources, out;
  int first_target, first_source, j0, j1;

  static int packs(int bodies) { return (bodies + L - 1) / L; }

  KOKKOS_INLINE_FUNCTION void operator()(const int p) const { run_pack(p); }

  KOKKOS_INLINE_FUNCTION void run_pack(const int p) const {
    const int count = static_cast<int>(targets.extent(0));
    int body[L];
    T xi[D], sum[D], f[D], qi, mi, gi;
    for (int l = 0; l < L; ++l) {
      // Spare lanes of the last pack repeat its last body; they are not stored.
      body[l] = p * L + l < count ? p * L + l : count - 1;
      const int i = body[l];
      for (int k = 0; k < D; ++k) lanes::lane(xi[k], l) = targets(i, k);
      lanes::lane(qi, l) = targets(i, 2 * D);
      lanes::lane(mi, l) = targets(i, 2 * D + 1);
      lanes::lane(gi, l) = static_cast<double>(first_target + i);
    }
    for (int k = 0; k < D; ++k) sum[k] = T{};
    for (int j = j0; j < j1; ++j) {
      T xj[D];
      for (int k = 0; k < D; ++k) xj[k] = lanes::broadcast<T>(sources(j, k));
      law.template pair_force<D>(xi, xj, qi, lanes::broadcast<T>(sources(j, D)), mi,
                                 lanes::broadcast<T>(sources(j, D + 1)), f);
      const double gj = static_cast<double>(first_source + j);
      for (int k = 0; k < D; ++k) sum[k] = lanes::select(gi == gj, sum[k], sum[k] + f[k]);
    }
    for (int l = 0; l < L; ++l) {
      if (p * L + l >= count) break;
      for (int k = 0; k < D; ++k) out(body[l], k) = lanes::lane(sum[k], l);
    }
  }
};

/// TileForcePacks for a runtime law and dimension; Wrap<Kernel> fixes the instruction set.
template <int L, template <class> class Wrap>
void launch_tile_force_for(const ForceLawSpec& spec, int d, const TileRows& targets,
                           const TileRows& sources, const TileRows& out, int first_target,
                           int first_source, int j0, int j1) {
  with_law(spec, [&](const auto& law) {
    using Law = std::decay_t<decltype(law)>;
    auto run = [&](auto dim) {
      using Kernel = TileForcePacks<decltype(dim)::value, Law, L>;
      const Wrap<Kernel> functor{
          Kernel{law, targets, sources, out, first_target, first_source, j0, j1}};
      Kokkos::parallel_for(
          "nbody_tile_force",
          Kokkos::RangePolicy<Kokkos::DefaultExecutionSpace>(
              0, Kernel::packs(static_cast<int>(targets.extent(0)))),
          functor);
    };
    if (d == 1) run(std::integral_constant<int, 1>{});
    if (d == 2) run(std::integral_constant<int, 2>{});
    if (d == 3) run(std::integral_constant<int, 3>{});
  });
}

#if PHYFLOW_NBODY_LANE_DISPATCH
void tile_force_avx2(const ForceLawSpec& spec, int d, const TileRows& targets,
                     const TileRows& sources, const TileRows& out, int first_target,
                     int first_source, int j0, int j1);
void tile_force_avx512(const ForceLawSpec& spec, int d, const TileRows& targets,
                       const TileRows& sources, const TileRows& out, int first_target,
                       int first_source, int j0, int j1);
#endif

}  // namespace phyflow::nbody::detail
