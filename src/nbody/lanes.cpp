// The run-time choice of the pack kernels' instruction set (lanes.hpp).
#include "lanes.hpp"

#include "phyflow/lattice/host_simd.hpp"

namespace phyflow::nbody::detail {

PackIsa pack_isa() {
#if PHYFLOW_NBODY_LANE_DISPATCH
  constexpr int L = lanes_for<Kokkos::DefaultExecutionSpace>();
  const lattice::SimdLevel level = lattice::host_simd_level();
  if (L < 8 && level == lattice::SimdLevel::avx512) return PackIsa::avx512;
  if (L < 4 && level >= lattice::SimdLevel::avx2) return PackIsa::avx2;
#endif
  return PackIsa::baseline;
}

}  // namespace phyflow::nbody::detail
