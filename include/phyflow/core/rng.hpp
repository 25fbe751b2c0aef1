// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11, via Random123).
// A draw is a pure function of (seed, purpose, global index, step): no generator state lives
// on a rank, so a run gives the same numbers on 1, 2 or N ranks and on any Kokkos backend,
// and a restart needs nothing but the step counter (DESIGN.md §4).
#pragma once

#include <Random123/philox.h>

#include <cmath>
#include <cstdint>

#include "phyflow/core/host_device.hpp"
#include "phyflow/core/portable_math.hpp"

namespace phyflow::rng {

/// 32-bit FNV-1a hash of a purpose name ("metropolis", "init", ...), usable at compile time.
constexpr std::uint32_t purpose(const char* name) {
  std::uint32_t h = 2166136261u;
  for (; *name != '\0'; ++name) {
    h ^= static_cast<std::uint8_t>(*name);
    h *= 16777619u;
  }
  return h;
}

/// Four independent 32-bit words.
struct Words {
  std::uint32_t w[4];
};

/// The stream of one purpose under one seed. Trivially copyable: capture it in kernels.
struct Stream {
  std::uint32_t k0 = 0, k1 = 0;

  Stream() = default;
  PHYFLOW_HOST_DEVICE Stream(std::uint64_t seed, std::uint32_t purpose_hash)
      : k0(static_cast<std::uint32_t>(seed)),
        k1(static_cast<std::uint32_t>(seed >> 32) ^ purpose_hash) {}

  /// Philox4x32-10 of counter (index, step) under key (seed, purpose).
  PHYFLOW_HOST_DEVICE Words operator()(std::uint64_t index, std::uint64_t step) const {
    r123::Philox4x32 gen;
    r123::Philox4x32::ctr_type c = {{static_cast<std::uint32_t>(index),
                                     static_cast<std::uint32_t>(index >> 32),
                                     static_cast<std::uint32_t>(step),
                                     static_cast<std::uint32_t>(step >> 32)}};
    r123::Philox4x32::key_type k = {{k0, k1}};
    const auto r = gen(c, k);
    return Words{{r.v[0], r.v[1], r.v[2], r.v[3]}};
  }
};

/// Uniform double in [0, 1) with 53 random bits from two words.
PHYFLOW_HOST_DEVICE double uniform53(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t bits = (static_cast<std::uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(bits) * 0x1.0p-53;
}

/// Uniform double in (0, 1]: safe to take the logarithm of.
PHYFLOW_HOST_DEVICE double uniform53_open0(std::uint32_t hi, std::uint32_t lo) {
  return 1.0 - uniform53(hi, lo);
}

/// Two standard normals from two uniforms (Box-Muller): u1 in (0, 1], u2 in [0, 1). Portable
/// log, sin and cos (portable_math.hpp), so every machine and device draws the same bits.
PHYFLOW_HOST_DEVICE void box_muller(double u1, double u2, double& z0, double& z1) {
  const double r = std::sqrt(-2.0 * pmath::log(u1));  // sqrt is correctly rounded everywhere
  double s = 0.0, c = 0.0;
  pmath::sincos_2pi(u2, s, c);
  z0 = r * c;
  z1 = r * s;
}

/// Four standard normals from the blocks of `stream` at counter (index, 2 * step) and
/// (index, 2 * step + 1): Box-Muller on two 53-bit uniforms per block. Host code.
inline void normals4(const Stream& stream, std::uint64_t index, std::uint64_t step, double* z4) {
  for (int half = 0; half < 2; ++half) {
    const Words w = stream(index, 2 * step + static_cast<std::uint64_t>(half));
    box_muller(uniform53_open0(w.w[0], w.w[1]), uniform53(w.w[2], w.w[3]), z4[2 * half],
               z4[2 * half + 1]);
  }
}

/// Threshold t such that (word < t) happens with probability p (p clamped to [0,1]); with
/// p = 1 the comparison must be done as (word <= t) -- use accept_below() instead.
/// Integer thresholds make accept/reject decisions exact and identical on every backend.
inline std::uint64_t threshold32(double p) {
  if (!(p > 0.0)) return 0;
  if (p >= 1.0) return std::uint64_t{1} << 32;
  return static_cast<std::uint64_t>(p * 4294967296.0);
}

/// True with probability threshold/2^32 (threshold from threshold32()).
PHYFLOW_HOST_DEVICE bool accept_below(std::uint32_t word, std::uint64_t threshold) {
  return static_cast<std::uint64_t>(word) < threshold;
}

}  // namespace phyflow::rng
