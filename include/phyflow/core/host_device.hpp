// PHYFLOW_HOST_DEVICE: a function for host and device (what KOKKOS_INLINE_FUNCTION means),
// without including Kokkos. The kernels call such functions, and so do translation units that
// never include Kokkos (ml, flows, sr), which a CUDA build compiles with the host compiler
// alone (src/CMakeLists.txt).
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define PHYFLOW_HOST_DEVICE __host__ __device__ inline
#else
#define PHYFLOW_HOST_DEVICE inline
#endif
