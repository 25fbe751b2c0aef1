// Packs of simulations in SIMD lanes for the host ensemble kernel (lane_integrator.hpp).
// Private to src/nbody.
//
// Why: on a CPU the ensemble kernel is bound by the square root and division of every pair
// (one each). Scalar, they take ~3 ns a pair on a Zen 4 core; the same instructions on a full
// SIMD register do 2 (SSE2), 4 (AVX) or 8 (AVX-512) simulations in about the same time.
// Vectorising across simulations needs no change to the arithmetic: lane l of a pack goes
// through exactly the operations the scalar kernel would apply to that simulation, so the
// results are the same bits (lane_math.hpp), whatever lane or batch a simulation lands in.
#pragma once

#include <Kokkos_Core.hpp>
#include <type_traits>

#include "phyflow/nbody/lane_math.hpp"

namespace phyflow::nbody::detail {

/// Doubles per SIMD register of the compile target: the lane count on host back ends.
#if defined(__AVX512F__)
inline constexpr int native_lanes = 8;
#elif defined(__AVX__)
inline constexpr int native_lanes = 4;
#elif defined(__SSE2__) || defined(__ARM_NEON) || defined(__VSX__)
inline constexpr int native_lanes = 2;
#else
inline constexpr int native_lanes = 1;
#endif

/// L doubles as one compiler vector (GCC and Clang vector_size); a plain double for L = 1.
/// may_alias: packs are read from and written to the double work space (as the intrinsics'
/// own __m512d are declared).
template <int L, bool vector = (L > 1)>
struct PackOf {
  using type = double;
};
#if defined(__GNUC__)
template <int L>
struct PackOf<L, true> {
  typedef double type __attribute__((vector_size(sizeof(double) * L), __may_alias__));
};
#endif

template <int L>
using Pack = typename PackOf<L>::type;

/// Lanes per thread on execution space `Space`: the SIMD width on host back ends, where one
/// thread steps several simulations at once; 1 on GPUs, where each thread is one simulation
/// and the warp is the vector (a compiler without vector types also gets 1).
template <class Space>
constexpr int lanes_for() {
#if defined(__GNUC__)
  if constexpr (Kokkos::SpaceAccessibility<Space, Kokkos::HostSpace>::accessible)
    return native_lanes;
  else
    return 1;
#else
  return 1;
#endif
}

/// Wider packs compiled for a newer instruction set (lane_isa.cpp) and chosen at run time
/// when the CPU has it, so the default portable build uses AVX2 or AVX-512 where present, as
/// the Ising kernels do. x86-64 with GCC or Clang and a host default execution space only.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(KOKKOS_ENABLE_CUDA) && \
    !defined(KOKKOS_ENABLE_HIP) && !defined(KOKKOS_ENABLE_SYCL)
#define PHYFLOW_NBODY_LANE_DISPATCH 1
#else
#define PHYFLOW_NBODY_LANE_DISPATCH 0
#endif

/// Which compiled variant of the pack kernels runs on this CPU: the build's own width, or
/// the AVX2 / AVX-512 ones (PHYFLOW_SIMD caps the choice, as for the Ising kernels).
enum class PackIsa { baseline, avx2, avx512 };
PackIsa pack_isa();

}  // namespace phyflow::nbody::detail
