// Philox4x32-10 words for a run of consecutive counters, as the Ising sweeps draw them (one
// call per 4 sites): on x86 hosts with AVX-512 or AVX2, 16 or 8 counters go through the rounds
// at once in SIMD registers (chosen at run time); elsewhere the plain Random123 loop. Every
// implementation gives the same words as phyflow::rng::Stream, bit for bit.
#pragma once

#include "phyflow/core/rng.hpp"
#include "phyflow/core/host_simd.hpp"

#include <cstdint>

namespace phyflow::lattice {

/// words[4 j + i] = word i of rng::Stream `stream` at (index_hi * 2^32 + index_lo + j, step),
/// for j < groups. Requires index_lo + groups <= 2^32 (no carry into index_hi).
PHYFLOW_HOST_DEVICE void philox_block_generic(std::uint32_t* words, const rng::Stream& stream,
                                              std::uint32_t index_lo, std::uint32_t index_hi,
                                              std::uint64_t step, int groups) {
  const r123::Philox4x32::key_type key = {{stream.k0, stream.k1}};
  const auto step_lo = static_cast<std::uint32_t>(step);
  const auto step_hi = static_cast<std::uint32_t>(step >> 32);
  r123::Philox4x32 gen;
  for (int j = 0; j < groups; ++j) {
    const r123::Philox4x32::ctr_type c = {
        {index_lo + static_cast<std::uint32_t>(j), index_hi, step_lo, step_hi}};
    const auto w = gen(c, key);
    words[4 * j + 0] = w.v[0];
    words[4 * j + 1] = w.v[1];
    words[4 * j + 2] = w.v[2];
    words[4 * j + 3] = w.v[3];
  }
}

/// Same contract as philox_block_generic, on the host, with the given (supported) SIMD level;
/// the default is host_simd_level().
void philox_block_host(std::uint32_t* words, const rng::Stream& stream, std::uint32_t index_lo,
                       std::uint32_t index_hi, std::uint64_t step, int groups);
void philox_block_host(SimdLevel level, std::uint32_t* words, const rng::Stream& stream,
                       std::uint32_t index_lo, std::uint32_t index_hi, std::uint64_t step,
                       int groups);

}  // namespace phyflow::lattice
