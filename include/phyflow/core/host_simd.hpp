// Which x86 SIMD instruction set the host offers, detected once at run time, so that the
// lattice and N-body kernels can pick AVX-512 or AVX2 code paths in a binary built for plain
// x86-64.
// Every level gives bitwise-identical results; only the speed differs.
#pragma once

namespace phyflow {

enum class SimdLevel { generic = 0, avx2 = 1, avx512 = 2 };

/// The best level the CPU runs (avx512 needs AVX-512 F and BW; generic off x86).
SimdLevel detected_simd_level();
/// The level the kernels use: the detected one, lowered by the environment variable
/// PHYFLOW_SIMD=generic|avx2|avx512 (read once) or by cap_simd_level().
SimdLevel host_simd_level();
/// Caps the level the kernels use (tests and benchmarks compare the code paths with it).
void cap_simd_level(SimdLevel cap);
/// "generic", "avx2" or "avx512".
const char* simd_level_name(SimdLevel level);

}  // namespace phyflow
