// The run-time choice of the pack kernels' instruction set (lanes.hpp).
#include "lanes.hpp"

#include "phyflow/core/host_simd.hpp"

namespace phyflow::nbody::detail {

PackIsa pack_isa() {
#if PHYFLOW_NBODY_LANE_DISPATCH
  constexpr int L = lanes_for<Kokkos::DefaultExecutionSpace>();
  const SimdLevel level = host_simd_level();
  if (L < 8 && level == SimdLevel::avx512) return PackIsa::avx512;
  if (L < 4 && level >= SimdLevel::avx2) return PackIsa::avx2;
#endif
  return PackIsa::baseline;
}

}  // namespace phyflow::nbody::detail
