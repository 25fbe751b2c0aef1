// Which x86 SIMD instruction set the host offers, detected once at run time, so that the
// lattice kernels can pick AVX-512 or AVX2 code paths in a binary built for plain x86-64.
#pragma once

namespace phyflow::lattice {

enum class SimdLevel { generic, avx2, avx512 };

/// The best level this host runs (avx512 needs AVX-512 F and BW; generic off x86).
SimdLevel host_simd_level();
/// Whether this host can run code of `level`.
bool simd_level_supported(SimdLevel level);
/// "generic", "avx2" or "avx512".
const char* simd_level_name(SimdLevel level);

}  // namespace phyflow::lattice
