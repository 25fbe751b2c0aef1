// Run-time detection of the host's SIMD level (GCC/Clang CPU builtins on x86-64).
#include "phyflow/lattice/host_simd.hpp"

namespace phyflow::lattice {

namespace {
SimdLevel detect() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx2"))
    return SimdLevel::avx512;
  if (__builtin_cpu_supports("avx2")) return SimdLevel::avx2;
#endif
  return SimdLevel::generic;
}
}  // namespace

SimdLevel host_simd_level() {
  static const SimdLevel level = detect();
  return level;
}

bool simd_level_supported(SimdLevel level) {
  return static_cast<int>(level) <= static_cast<int>(host_simd_level());
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::avx512: return "avx512";
    case SimdLevel::avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace phyflow::lattice
