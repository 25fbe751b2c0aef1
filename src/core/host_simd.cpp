// Run-time detection of the host's SIMD level (GCC/Clang CPU builtins on x86-64).
#include "phyflow/core/host_simd.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace phyflow {

namespace {

SimdLevel detect() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2"))
    return SimdLevel::avx512;
  if (__builtin_cpu_supports("avx2")) return SimdLevel::avx2;
#endif
  return SimdLevel::generic;
}

SimdLevel from_environment() {
  const char* text = std::getenv("PHYFLOW_SIMD");
  if (text == nullptr) return SimdLevel::avx512;
  if (std::strcmp(text, "generic") == 0) return SimdLevel::generic;
  if (std::strcmp(text, "avx2") == 0) return SimdLevel::avx2;
  return SimdLevel::avx512;
}

SimdLevel lower(SimdLevel a, SimdLevel b) { return static_cast<int>(a) < static_cast<int>(b) ? a : b; }

std::atomic<int>& cap() {
  static std::atomic<int> value{static_cast<int>(from_environment())};
  return value;
}

}  // namespace

SimdLevel detected_simd_level() {
  static const SimdLevel level = detect();
  return level;
}

SimdLevel host_simd_level() {
  return lower(detected_simd_level(), static_cast<SimdLevel>(cap().load(std::memory_order_relaxed)));
}

void cap_simd_level(SimdLevel level) { cap().store(static_cast<int>(level)); }

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::avx512: return "avx512";
    case SimdLevel::avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace phyflow
