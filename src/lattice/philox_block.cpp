// SIMD Philox4x32-10 over consecutive counters (Salmon et al., SC'11): lane j carries counter
// (index_lo + j, index_hi, step_lo, step_hi). A round multiplies two of the four words by
// constants; the high halves of the 32x32 -> 64-bit products come from vpmuludq on the even
// and odd lanes, blended back together. Output words are transposed to counter order.
#include "phyflow/lattice/philox_block.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PHYFLOW_PHILOX_X86 1
#include <immintrin.h>
// GCC 12 warns about _mm512_undefined_epi32() inside its own intrinsics (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace phyflow::lattice {

namespace {

constexpr std::uint32_t multiplier0 = 0xD2511F53u, multiplier1 = 0xCD9E8D57u;
constexpr std::uint32_t weyl0 = 0x9E3779B9u, weyl1 = 0xBB67AE85u;

#ifdef PHYFLOW_PHILOX_X86

// The ten rounds form one long dependency chain per block of counters; N independent blocks
// go through them together so that the multiplier latency is hidden.

template <int N>
__attribute__((target("avx512f"), always_inline)) inline void philox_avx512_blocks(
    std::uint32_t* words, const rng::Stream& stream, std::uint32_t index_lo,
    std::uint32_t index_hi, std::uint64_t step) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(multiplier0));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(multiplier1));
  __m512i c0[N], c1[N], c2[N], c3[N];
  for (int b = 0; b < N; ++b) {
    c0[b] = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(index_lo + 16 * b)), lane);
    c1[b] = _mm512_set1_epi32(static_cast<int>(index_hi));
    c2[b] = _mm512_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(step)));
    c3[b] = _mm512_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(step >> 32)));
  }
  std::uint32_t k0 = stream.k0, k1 = stream.k1;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += weyl0;
      k1 += weyl1;
    }
    const __m512i key0 = _mm512_set1_epi32(static_cast<int>(k0));
    const __m512i key1 = _mm512_set1_epi32(static_cast<int>(k1));
    for (int b = 0; b < N; ++b) {
      const __m512i lo0 = _mm512_mullo_epi32(c0[b], m0);
      const __m512i hi0 = _mm512_mask_blend_epi32(
          0xAAAA, _mm512_srli_epi64(_mm512_mul_epu32(c0[b], m0), 32),
          _mm512_mul_epu32(_mm512_srli_epi64(c0[b], 32), m0));
      const __m512i lo1 = _mm512_mullo_epi32(c2[b], m1);
      const __m512i hi1 = _mm512_mask_blend_epi32(
          0xAAAA, _mm512_srli_epi64(_mm512_mul_epu32(c2[b], m1), 32),
          _mm512_mul_epu32(_mm512_srli_epi64(c2[b], 32), m1));
      c0[b] = _mm512_ternarylogic_epi32(hi1, c1[b], key0, 0x96);  // three-way xor
      c1[b] = lo1;
      c2[b] = _mm512_ternarylogic_epi32(hi0, c3[b], key1, 0x96);
      c3[b] = lo0;
    }
  }
  for (int b = 0; b < N; ++b) {
    // Transpose: 128-bit block k of u_i holds the 4 words of counter 4k + i.
    const __m512i t0 = _mm512_unpacklo_epi32(c0[b], c1[b]), t1 = _mm512_unpackhi_epi32(c0[b], c1[b]);
    const __m512i t2 = _mm512_unpacklo_epi32(c2[b], c3[b]), t3 = _mm512_unpackhi_epi32(c2[b], c3[b]);
    const __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
    const __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
    const __m512i x0 = _mm512_shuffle_i32x4(u0, u1, 0x44), x1 = _mm512_shuffle_i32x4(u2, u3, 0x44);
    const __m512i x2 = _mm512_shuffle_i32x4(u0, u1, 0xEE), x3 = _mm512_shuffle_i32x4(u2, u3, 0xEE);
    std::uint32_t* out = words + 64 * b;
    _mm512_storeu_si512(out, _mm512_shuffle_i32x4(x0, x1, 0x88));
    _mm512_storeu_si512(out + 16, _mm512_shuffle_i32x4(x0, x1, 0xDD));
    _mm512_storeu_si512(out + 32, _mm512_shuffle_i32x4(x2, x3, 0x88));
    _mm512_storeu_si512(out + 48, _mm512_shuffle_i32x4(x2, x3, 0xDD));
  }
}

__attribute__((target("avx512f"))) void philox_avx512(std::uint32_t* words,
                                                      const rng::Stream& stream,
                                                      std::uint32_t index_lo,
                                                      std::uint32_t index_hi, std::uint64_t step,
                                                      int groups) {
  int j = 0;
  for (; j + 64 <= groups; j += 64)
    philox_avx512_blocks<4>(words + 4 * j, stream, index_lo + static_cast<std::uint32_t>(j),
                            index_hi, step);
  for (; j + 32 <= groups; j += 32)
    philox_avx512_blocks<2>(words + 4 * j, stream, index_lo + static_cast<std::uint32_t>(j),
                            index_hi, step);
  for (; j + 16 <= groups; j += 16)
    philox_avx512_blocks<1>(words + 4 * j, stream, index_lo + static_cast<std::uint32_t>(j),
                            index_hi, step);
  philox_block_generic(words + 4 * j, stream, index_lo + static_cast<std::uint32_t>(j), index_hi,
                       step, groups - j);
}

template <int N>
__attribute__((target("avx2"), always_inline)) inline void philox_avx2_blocks(
    std::uint32_t* words, const rng::Stream& stream, std::uint32_t index_lo,
    std::uint32_t index_hi, std::uint64_t step) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(multiplier0));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(multiplier1));
  __m256i c0[N], c1[N], c2[N], c3[N];
  for (int b = 0; b < N; ++b) {
    c0[b] = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(index_lo + 8 * b)), lane);
    c1[b] = _mm256_set1_epi32(static_cast<int>(index_hi));
    c2[b] = _mm256_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(step)));
    c3[b] = _mm256_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(step >> 32)));
  }
  std::uint32_t k0 = stream.k0, k1 = stream.k1;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += weyl0;
      k1 += weyl1;
    }
    const __m256i key0 = _mm256_set1_epi32(static_cast<int>(k0));
    const __m256i key1 = _mm256_set1_epi32(static_cast<int>(k1));
    for (int b = 0; b < N; ++b) {
      const __m256i lo0 = _mm256_mullo_epi32(c0[b], m0);
      const __m256i hi0 =
          _mm256_blend_epi32(_mm256_srli_epi64(_mm256_mul_epu32(c0[b], m0), 32),
                             _mm256_mul_epu32(_mm256_srli_epi64(c0[b], 32), m0), 0xAA);
      const __m256i lo1 = _mm256_mullo_epi32(c2[b], m1);
      const __m256i hi1 =
          _mm256_blend_epi32(_mm256_srli_epi64(_mm256_mul_epu32(c2[b], m1), 32),
                             _mm256_mul_epu32(_mm256_srli_epi64(c2[b], 32), m1), 0xAA);
      c0[b] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[b]), key0);
      c1[b] = lo1;
      c2[b] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[b]), key1);
      c3[b] = lo0;
    }
  }
  for (int b = 0; b < N; ++b) {
    const __m256i t0 = _mm256_unpacklo_epi32(c0[b], c1[b]), t1 = _mm256_unpackhi_epi32(c0[b], c1[b]);
    const __m256i t2 = _mm256_unpacklo_epi32(c2[b], c3[b]), t3 = _mm256_unpackhi_epi32(c2[b], c3[b]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    auto* out = reinterpret_cast<__m256i*>(words + 32 * b);
    _mm256_storeu_si256(out + 0, _mm256_permute2x128_si256(u0, u1, 0x20));
    _mm256_storeu_si256(out + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
    _mm256_storeu_si256(out + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
    _mm256_storeu_si256(out + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
  }
}

__attribute__((target("avx2"))) void philox_avx2(std::uint32_t* words, const rng::Stream& stream,
                                                 std::uint32_t index_lo, std::uint32_t index_hi,
                                                 std::uint64_t step, int groups) {
  int j = 0;
  for (; j + 32 <= groups; j += 32)
    philox_avx2_blocks<4>(words + 4 * j, stream, index_lo + static_cast<std::uint32_t>(j),
                          index_hi, step);
  for (; j + 8 <= groups; j += 8)
    philox_avx2_blocks<1>(words + 4 * j, stream, index_lo + static_cast<std::uint32_t>(j),
                          index_hi, step);
  philox_block_generic(words + 4 * j, stream, index_lo + static_cast<std::uint32_t>(j), index_hi,
                       step, groups - j);
}

#endif  // PHYFLOW_PHILOX_X86

}  // namespace

void philox_block_host(std::uint32_t* words, const rng::Stream& stream, std::uint32_t index_lo,
                       std::uint32_t index_hi, std::uint64_t step, int groups) {
  philox_block_host(host_simd_level(), words, stream, index_lo, index_hi, step, groups);
}

void philox_block_host(SimdLevel level, std::uint32_t* words, const rng::Stream& stream,
                       std::uint32_t index_lo, std::uint32_t index_hi, std::uint64_t step,
                       int groups) {
#ifdef PHYFLOW_PHILOX_X86
  if (static_cast<int>(level) > static_cast<int>(detected_simd_level())) level = detected_simd_level();
  if (level == SimdLevel::avx512) return philox_avx512(words, stream, index_lo, index_hi, step, groups);
  if (level == SimdLevel::avx2) return philox_avx2(words, stream, index_lo, index_hi, step, groups);
#else
  (void)level;
#endif
  philox_block_generic(words, stream, index_lo, index_hi, step, groups);
}

}  // namespace phyflow::lattice
