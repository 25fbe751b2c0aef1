// Checkerboard Metropolis and heat-bath sweeps: one Kokkos kernel over rows per colour and
// phase; per row, Philox words for 4 sites per call in a loop the compiler vectorises across
// calls, then a branch-free, unit-stride site loop with integer thresholds.
#include "phyflow/lattice/ising_updates.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/core/portable_math.hpp"
#include "phyflow/core/rng.hpp"
#include "phyflow/core/host_simd.hpp"
#include "phyflow/lattice/philox_block.hpp"

#include <cmath>
#include <string>

// The SIMD site loops (x86-64 target attributes, host-only Philox blocks) are used on x86-64
// hosts; with a device backend, on other CPUs (e.g. aarch64), or when PHYFLOW_PORTABLE_KERNELS
// is defined, the portable Kokkos loop runs instead (same results, bit for bit).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) &&                     \
    !defined(KOKKOS_ENABLE_CUDA) && !defined(KOKKOS_ENABLE_HIP) &&                          \
    !defined(KOKKOS_ENABLE_SYCL) && !defined(KOKKOS_ENABLE_OPENMPTARGET) &&                 \
    !defined(PHYFLOW_PORTABLE_KERNELS)
#define PHYFLOW_ISING_HOST_SIMD 1
#endif

namespace phyflow::lattice {

namespace {

void check_couplings(const IsingCouplings& c) {
  if (!std::isfinite(c.J)) throw input_error("model.J must be a finite number");
  if (!std::isfinite(c.h)) throw input_error("model.h must be a finite number");
  if (!(c.beta >= 0.0) || !std::isfinite(c.beta))
    throw input_error("the inverse temperature beta = " + std::to_string(c.beta) +
                      " must be finite and >= 0 (temperatures must be > 0)");
}

void check_dims(int d) {
  if (d < 1 || 2 * (2 * d + 1) > IsingThresholds::max_entries)
    throw input_error("lattice.dims = " + std::to_string(d) +
                      ": Ising updates support 1 to 3 dimensions");
}

void set_entry(IsingThresholds& t, int index, double p) {
  const std::uint64_t threshold = rng::threshold32(p);
  const bool certain = threshold == (std::uint64_t{1} << 32);
  t.below[index] = certain ? 0xffffffffu : static_cast<std::uint32_t>(threshold);
  t.always[index] = certain ? 0xffffffffu : 0u;
}

/// How a site's table entry is found: Metropolis without field depends on s * nsum only and
/// heat bath on nsum only (2d + 1 entries); Metropolis in a field on (s, nsum).
enum class Rule { metropolis, metropolis_field, heat_bath };

template <int D, Rule R>
struct RuleTable {
  static constexpr int entries = R == Rule::metropolis_field ? 2 * (2 * D + 1) : 2 * D + 1;
  std::uint32_t below[entries];
  /// Entries [certain_begin, certain_end) have probability 1 (threshold 2^32, which does not
  /// fit in 32 bits). The probabilities are monotone in the neighbour sum within each spin
  /// half, so the certain entries form one interval: a range test instead of a second table.
  int certain_begin, certain_end;

  /// From the documented (s, nsum) table: for h = 0 Metropolis the s = +1 half, indexed by
  /// s * nsum (dE depends on it alone); for heat bath either half (they are equal).
  static RuleTable from(const IsingThresholds& t) {
    RuleTable out{};
    const int first = R == Rule::metropolis_field ? 0 : 2 * D + 1;
    out.certain_begin = entries;
    out.certain_end = entries;
    for (int e = 0; e < entries; ++e) {
      out.below[e] = t.below[first + e];
      if (t.always[first + e] != 0) {
        if (out.certain_begin == entries) out.certain_begin = e;
        else if (out.certain_end != e)
          throw runtime_error("Ising thresholds: the certain moves are not one interval");
        out.certain_end = e + 1;
      }
    }
    if (out.certain_begin == entries) out.certain_end = entries;
    return out;
  }

  KOKKOS_INLINE_FUNCTION static int index(int s, int nsum) {
    if (R == Rule::metropolis) return (s * nsum + 2 * D) >> 1;
    if (R == Rule::heat_bath) return (nsum + 2 * D) >> 1;
    return (s > 0) * (2 * D + 1) + ((nsum + 2 * D) >> 1);
  }
};

// A row's compact sites are processed in chunks whose random words fit on the stack.
constexpr int chunk = 256;
// With the last dimension split over ranks, this many sites at each end of a row are updated
// before the halo exchange starts (a multiple of 4 keeps Philox groups whole).
constexpr int edge = 16;

/// The branch-free site loop: s[j] is updated from its random word and its neighbours in the
/// other colour's array, o[j] being the one at the same compact position; s0, s1 are the
/// strides of dimensions 0 and 1 (s1 unused in 2D).
template <int D, Rule R>
KOKKOS_INLINE_FUNCTION void update_sites(std::int8_t* __restrict s,
                                         const std::int8_t* __restrict o, int q,
                                         const std::uint32_t* __restrict words, int len,
                                         std::int64_t s0, std::int64_t s1,
                                         const RuleTable<D, R>& table) {
  const std::int8_t* __restrict along = o + q - 1;  // neighbours along d-1: along[j], along[j+1]
  // A local copy: int8 stores may alias anything, a referenced table would be reloaded per site.
  const RuleTable<D, R> t = table;
  for (int j = 0; j < len; ++j) {
    const int sj = s[j];
    int nsum = along[j] + along[j + 1] + o[j - s0] + o[j + s0];
    if (D == 3) nsum += o[j - s1] + o[j + s1];
    const int index = RuleTable<D, R>::index(sj, nsum);
    // Table look-up as a sum over the few entries, all arithmetic: GCC 12 vectorises this
    // form (with ternaries or masks here it gives up).
    std::uint32_t below = 0;
    for (int e = 0; e < RuleTable<D, R>::entries; ++e) below += (index == e) * t.below[e];
    const int certain = static_cast<unsigned>(index - t.certain_begin) <
                        static_cast<unsigned>(t.certain_end - t.certain_begin);
    const int hit = (words[j] < below) | certain;
    if (R == Rule::heat_bath)
      s[j] = static_cast<std::int8_t>(2 * hit - 1);
    else
      s[j] = static_cast<std::int8_t>(sj * (1 - 2 * hit));
  }
}

#ifdef PHYFLOW_ISING_HOST_SIMD
// The same loop compiled for AVX2 and AVX-512 (picked at run time): 32 or 64 sites per vector
// instead of 16 with the x86-64 baseline.
template <int D, Rule R>
using SiteLoop = void (*)(std::int8_t*, const std::int8_t*, int, const std::uint32_t*, int,
                          std::int64_t, std::int64_t, const RuleTable<D, R>&);

template <int D, Rule R>
__attribute__((target("avx2"))) void update_sites_avx2(
    std::int8_t* __restrict s, const std::int8_t* __restrict o, int q,
    const std::uint32_t* __restrict words, int len, std::int64_t s0, std::int64_t s1,
    const RuleTable<D, R>& table) {
  update_sites<D, R>(s, o, q, words, len, s0, s1, table);
}

template <int D, Rule R>
__attribute__((target("avx512f,avx512bw,avx512vl,avx2"))) void update_sites_avx512(
    std::int8_t* __restrict s, const std::int8_t* __restrict o, int q,
    const std::uint32_t* __restrict words, int len, std::int64_t s0, std::int64_t s1,
    const RuleTable<D, R>& table) {
  update_sites<D, R>(s, o, q, words, len, s0, s1, table);
}

template <int D, Rule R>
void update_sites_baseline(std::int8_t* __restrict s, const std::int8_t* __restrict o, int q,
                           const std::uint32_t* __restrict words, int len, std::int64_t s0,
                           std::int64_t s1, const RuleTable<D, R>& table) {
  update_sites<D, R>(s, o, q, words, len, s0, s1, table);
}

template <int D, Rule R>
SiteLoop<D, R> host_site_loop() {
  switch (host_simd_level()) {
    case SimdLevel::avx512: return &update_sites_avx512<D, R>;
    case SimdLevel::avx2: return &update_sites_avx2<D, R>;
    default: return &update_sites_baseline<D, R>;
  }
}
#endif

/// Updates one colour, row by row. phase 0: every site. phase 1: the sites other ranks need
/// (rows on a remote face whole; with the last dimension split, `edge` sites at both ends of
/// the other rows); phase 2: the rest. Phases 1 and 2 let the halo exchange of phase 1's sites
/// overlap with phase 2. In 3D with short rows and the last dimension whole on the rank,
/// consecutive rows along x_1 have consecutive compact indices; they are taken
/// `rows_per_block` at a time so that one batch of Philox calls is long enough to keep the
/// SIMD multipliers busy.
template <int D, Rule R>
struct ColourUpdate {
  std::int8_t* self;
  const std::int8_t* other;
  CheckerboardLayout L;
  RuleTable<D, R> T;
  rng::Stream stream;
  std::uint64_t step;
  int colour;
  int phase;
  int rows_per_block;
#ifdef PHYFLOW_ISING_HOST_SIMD
  SiteLoop<D, R> site_loop;
#endif

  /// Rows of the block (i0, b): i1 in [b * rows_per_block, ...) in 3D, the row i0 in 2D.
  KOKKOS_INLINE_FUNCTION void operator()(int i0, int b) const {
    if (rows_per_block == 1) {
      update_row(L.row(i0, b));
      return;
    }
    const int first = b * rows_per_block;
    const int end = first + rows_per_block < L.local[1] ? first + rows_per_block : L.local[1];
    for (int i1 = first; i1 < end;) {
      if (!wanted(L.row(i0, i1))) {
        ++i1;
        continue;
      }
      int run_end = i1 + 1;
      while (run_end < end && wanted(L.row(i0, run_end))) ++run_end;
      update_rows(i0, i1, run_end);
      i1 = run_end;
    }
  }

  /// Whether a whole row is updated in this phase (the last dimension is not split here).
  KOKKOS_INLINE_FUNCTION bool wanted(const CheckerboardLayout::Row& row) const {
    return phase == 0 || (phase == 1) == row.boundary;
  }

  KOKKOS_INLINE_FUNCTION void update_row(const CheckerboardLayout::Row& row) const {
    const int q = (colour + row.parity) & 1;
    const bool split = !row.boundary && L.remote[D - 1] && L.half >= 3 * edge;
    if (phase == 0 || (phase == 1 && row.boundary)) {
      update(row, q, 1, L.half);
    } else if (phase == 1 && L.remote[D - 1]) {
      if (split) {
        update(row, q, 1, edge);
        update(row, q, L.half - edge + 1, L.half);
      } else {
        update(row, q, 1, L.half);
      }
    } else if (phase == 2 && !row.boundary) {
      if (split)
        update(row, q, edge + 1, L.half - edge);
      else if (!L.remote[D - 1])
        update(row, q, 1, L.half);
    }
  }

  /// Random words for `len` sites from global compact index g0 on.
  KOKKOS_INLINE_FUNCTION void draw(std::uint32_t* words, std::uint64_t g0, int len) const {
    const std::uint64_t group0 = g0 / 4;
    const auto group0_lo = static_cast<std::uint32_t>(group0);
    if (L.groups_aligned && group0_lo <= 0xffffffffu - chunk) {
      // g0 % 4 == 0 and len % 4 == 0: one Philox call serves 4 consecutive sites.
#ifdef PHYFLOW_ISING_HOST_SIMD
      philox_block_host(words, stream, group0_lo, static_cast<std::uint32_t>(group0 >> 32), step,
                        len / 4);
#else
      philox_block_generic(words, stream, group0_lo, static_cast<std::uint32_t>(group0 >> 32),
                           step, len / 4);
#endif
    } else {
      for (int j = 0; j < len; ++j) {
        const std::uint64_t g = g0 + static_cast<std::uint64_t>(j);
        words[j] = stream(g / 4, step).w[g % 4];
      }
    }
  }

  KOKKOS_INLINE_FUNCTION void sites(const CheckerboardLayout::Row& row, int q, int h0,
                                    const std::uint32_t* words, int len) const {
    const std::int64_t s1 = D == 3 ? L.stride[1] : 0;
#ifdef PHYFLOW_ISING_HOST_SIMD
    site_loop(self + row.base + h0, other + row.base + h0, q, words, len, L.stride[0], s1, T);
#else
    update_sites<D, R>(self + row.base + h0, other + row.base + h0, q, words, len, L.stride[0],
                       s1, T);
#endif
  }

  /// Sites h = first..last of one row.
  KOKKOS_INLINE_FUNCTION void update(const CheckerboardLayout::Row& row, int q, int first,
                                     int last) const {
    std::uint32_t words[chunk];
    for (int h0 = first; h0 <= last; h0 += chunk) {
      const int len = last - h0 + 1 < chunk ? last - h0 + 1 : chunk;
      draw(words, row.compact_start + static_cast<std::uint64_t>(h0 - 1), len);
      sites(row, q, h0, words, len);
    }
  }

  /// Whole rows (i0, i1) for i1 in [first, end): their compact indices are consecutive, and
  /// (end - first) * n/2 <= chunk.
  KOKKOS_INLINE_FUNCTION void update_rows(int i0, int first, int end) const {
    std::uint32_t words[chunk];
    draw(words, L.row(i0, first).compact_start, (end - first) * L.half);
    for (int i1 = first; i1 < end; ++i1) {
      const CheckerboardLayout::Row row = L.row(i0, i1);
      sites(row, (colour + row.parity) & 1, 1, words + (i1 - first) * L.half, L.half);
    }
  }
};

template <int D, Rule R>
void sweep_colours(SpinField& field, const IsingThresholds& thresholds, std::uint32_t purpose,
                   std::uint64_t seed, std::uint64_t sweep_index) {
  const CheckerboardLayout& L = field.layout();
  bool any_remote = false;
  for (int k = 0; k < D; ++k) any_remote = any_remote || L.remote[k];
  // Rows are batched only where their compact indices run on from row to row.
  const int rows_per_block = D == 3 && !L.remote[D - 1] && L.groups_aligned && L.half < chunk
                                 ? chunk / L.half
                                 : 1;
  const int blocks = D == 3 ? (L.local[1] + rows_per_block - 1) / rows_per_block : 1;
  const Kokkos::MDRangePolicy<Kokkos::Rank<2>> policy({0, 0}, {L.local[0], blocks});
  for (int c = 0; c < 2; ++c) {
    ColourUpdate<D, R> kernel{field.colour(c).data(),
                              field.colour(1 - c).data(),
                              L,
                              RuleTable<D, R>::from(thresholds),
                              rng::Stream(seed, purpose),
                              2 * sweep_index + static_cast<std::uint64_t>(c),
                              c,
                              any_remote ? 1 : 0,
                              rows_per_block
#ifdef PHYFLOW_ISING_HOST_SIMD
                              ,
                              host_site_loop<D, R>()
#endif
    };
    Kokkos::parallel_for("ising_update_shell", policy, kernel);
    field.begin_halo_exchange(c);
    if (any_remote) {
      // The interior in slices along x_0, letting MPI progress the messages in between.
      kernel.phase = 2;
      constexpr int slices = 4;
      for (int piece = 0; piece < slices; ++piece) {
        const int begin = L.local[0] * piece / slices, end = L.local[0] * (piece + 1) / slices;
        if (begin == end) continue;
        Kokkos::parallel_for("ising_update_interior",
                             Kokkos::MDRangePolicy<Kokkos::Rank<2>>({begin, 0}, {end, blocks}),
                             kernel);
        field.progress_halo_exchange();
      }
    }
    field.end_halo_exchange(c);
  }
}

}  // namespace

IsingThresholds metropolis_thresholds(const IsingCouplings& c, int d) {
  check_couplings(c);
  check_dims(d);
  IsingThresholds t;
  for (int up = 0; up < 2; ++up) {
    const int s = up ? 1 : -1;
    for (int nsum = -2 * d; nsum <= 2 * d; nsum += 2) {
      const double dE = 2.0 * s * (c.J * nsum + c.h);
      set_entry(t, up * (2 * d + 1) + (nsum + 2 * d) / 2, pmath::exp(-c.beta * dE));
    }
  }
  return t;
}

IsingThresholds heat_bath_thresholds(const IsingCouplings& c, int d) {
  check_couplings(c);
  check_dims(d);
  IsingThresholds t;
  for (int up = 0; up < 2; ++up)
    for (int nsum = -2 * d; nsum <= 2 * d; nsum += 2) {
      const double p_up = 1.0 / (1.0 + pmath::exp(-2.0 * c.beta * (c.J * nsum + c.h)));
      set_entry(t, up * (2 * d + 1) + (nsum + 2 * d) / 2, p_up);
    }
  return t;
}

template <IsingUpdateRule U>
CheckerboardUpdate<U>::CheckerboardUpdate(const IsingCouplings& couplings)
    : couplings_(couplings),
      thresholds_{U == IsingUpdateRule::metropolis ? metropolis_thresholds(couplings, 2)
                                                   : heat_bath_thresholds(couplings, 2),
                  U == IsingUpdateRule::metropolis ? metropolis_thresholds(couplings, 3)
                                                   : heat_bath_thresholds(couplings, 3)} {}

template <IsingUpdateRule U>
void CheckerboardUpdate<U>::sweep(SpinField& field, std::uint64_t seed,
                                  std::uint64_t sweep_index) const {
  if constexpr (U == IsingUpdateRule::heat_bath) {
    constexpr std::uint32_t purpose = rng::purpose("heatbath");
    if (field.dims() == 2)
      sweep_colours<2, Rule::heat_bath>(field, thresholds(2), purpose, seed, sweep_index);
    else
      sweep_colours<3, Rule::heat_bath>(field, thresholds(3), purpose, seed, sweep_index);
  } else {
    // Without a field dE depends on s * nsum alone: a table half the size.
    constexpr std::uint32_t purpose = rng::purpose("metropolis");
    const bool in_field = couplings_.h != 0.0;
    if (field.dims() == 2) {
      if (in_field)
        sweep_colours<2, Rule::metropolis_field>(field, thresholds(2), purpose, seed, sweep_index);
      else
        sweep_colours<2, Rule::metropolis>(field, thresholds(2), purpose, seed, sweep_index);
    } else {
      if (in_field)
        sweep_colours<3, Rule::metropolis_field>(field, thresholds(3), purpose, seed, sweep_index);
      else
        sweep_colours<3, Rule::metropolis>(field, thresholds(3), purpose, seed, sweep_index);
    }
  }
}

template class CheckerboardUpdate<IsingUpdateRule::metropolis>;
template class CheckerboardUpdate<IsingUpdateRule::heat_bath>;

}  // namespace phyflow::lattice
