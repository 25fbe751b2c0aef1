// Checkerboard Metropolis and heat-bath sweeps: one Kokkos kernel over rows per colour and
// phase, unit-stride inner loops over a row's compact sites, one Philox call per 4 sites.
#include "phyflow/lattice/ising_updates.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/core/rng.hpp"

#include <cmath>
#include <string>

namespace phyflow::lattice {

namespace {

void check_couplings(const IsingCouplings& c) {
  if (!std::isfinite(c.J)) throw input_error("model.J must be a finite number");
  if (!std::isfinite(c.h)) throw input_error("model.h must be a finite number");
  if (!(c.beta >= 0.0) || !std::isfinite(c.beta))
    throw input_error("the inverse temperature beta = " + std::to_string(c.beta) +
                      " must be finite and >= 0 (temperatures must be > 0)");
}

void set_entry(IsingThresholds& t, int index, double p) {
  const std::uint64_t threshold = rng::threshold32(p);
  const bool certain = threshold == (std::uint64_t{1} << 32);
  t.below[index] = certain ? 0xffffffffu : static_cast<std::uint32_t>(threshold);
  t.always[index] = certain ? 0xffffffffu : 0u;
}

void check_dims(int d) {
  if (d < 1 || 2 * (2 * d + 1) > IsingThresholds::max_entries)
    throw input_error("lattice.dims = " + std::to_string(d) +
                      ": Ising updates support 1 to 3 dimensions");
}

// A row's compact sites are processed in chunks whose random words fit on the stack.
constexpr int chunk = 64;

/// Updates colour `colour` of the rows given to it. phase 0: every site. phase 1: the sites
/// other ranks need (boundary rows whole, the first and last 4 sites of other rows); phase 2:
/// the rest. Phases 1 and 2 let the halo exchange of phase 1's sites overlap with phase 2.
template <int D, bool HeatBath>
struct ColourUpdate {
  std::int8_t* self;
  const std::int8_t* other;
  CheckerboardLayout L;
  IsingThresholds T;
  rng::Stream stream;
  std::uint64_t step;
  int colour;
  int phase;

  KOKKOS_INLINE_FUNCTION void operator()(std::int64_t r) const {
    const CheckerboardLayout::Row row = L.row(r);
    const int q = (colour + row.parity) & 1;
    const bool split = !row.boundary && L.half > 8;
    if (phase == 0 || (phase == 1 && !split)) {
      update(row, q, 1, L.half);
    } else if (phase == 1) {
      update(row, q, 1, 4);
      update(row, q, L.half - 3, L.half);
    } else if (split) {
      update(row, q, 5, L.half - 4);
    }
  }

  /// Sites h = first..last of one row.
  KOKKOS_INLINE_FUNCTION void update(const CheckerboardLayout::Row& row, int q, int first,
                                     int last) const {
    for (int h0 = first; h0 <= last; h0 += chunk) {
      const int len = last - h0 + 1 < chunk ? last - h0 + 1 : chunk;
      std::uint32_t words[chunk];
      const std::uint64_t g0 = row.compact_start + static_cast<std::uint64_t>(h0 - 1);
      if (L.groups_aligned) {
        // g0 % 4 == 0 and len % 4 == 0: one Philox call serves 4 consecutive sites.
        for (int j = 0; j < len / 4; ++j) {
          const rng::Words w = stream(g0 / 4 + static_cast<std::uint64_t>(j), step);
          words[4 * j + 0] = w.w[0];
          words[4 * j + 1] = w.w[1];
          words[4 * j + 2] = w.w[2];
          words[4 * j + 3] = w.w[3];
        }
      } else {
        for (int j = 0; j < len; ++j) {
          const std::uint64_t g = g0 + static_cast<std::uint64_t>(j);
          words[j] = stream(g / 4, step).w[g % 4];
        }
      }
      std::int8_t* s = self + row.base + h0;
      const std::int8_t* o = other + row.base + h0;
      for (int j = 0; j < len; ++j) {
        const int sj = s[j];
        const int nsum = neighbour_sum<D>(o, L.stride, j, q);
        const int index = (sj > 0) * (2 * D + 1) + ((nsum + 2 * D) >> 1);
        const bool hit = (words[j] < T.below[index]) | (T.always[index] != 0);
        if (HeatBath)
          s[j] = hit ? std::int8_t(1) : std::int8_t(-1);
        else
          s[j] = static_cast<std::int8_t>(hit ? -sj : sj);
      }
    }
  }
};

template <int D, bool HeatBath>
void sweep_colours(SpinField& field, const IsingThresholds& thresholds, std::uint32_t purpose,
                   std::uint64_t seed, std::uint64_t sweep_index) {
  const CheckerboardLayout& L = field.layout();
  for (int c = 0; c < 2; ++c) {
    ColourUpdate<D, HeatBath> kernel{field.colour(c).data(),
                                     field.colour(1 - c).data(),
                                     L,
                                     thresholds,
                                     rng::Stream(seed, purpose),
                                     2 * sweep_index + static_cast<std::uint64_t>(c),
                                     c,
                                     1};
    Kokkos::parallel_for("ising_update_shell", Kokkos::RangePolicy<>(0, L.rows), kernel);
    field.begin_halo_exchange(c);
    kernel.phase = 2;
    Kokkos::parallel_for("ising_update_interior", Kokkos::RangePolicy<>(0, L.rows), kernel);
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
      set_entry(t, up * (2 * d + 1) + (nsum + 2 * d) / 2, std::exp(-c.beta * dE));
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
      const double p_up = 1.0 / (1.0 + std::exp(-2.0 * c.beta * (c.J * nsum + c.h)));
      set_entry(t, up * (2 * d + 1) + (nsum + 2 * d) / 2, p_up);
    }
  return t;
}

CheckerboardMetropolis::CheckerboardMetropolis(const IsingCouplings& couplings)
    : couplings_(couplings),
      thresholds_{metropolis_thresholds(couplings, 2), metropolis_thresholds(couplings, 3)} {}

void CheckerboardMetropolis::sweep(SpinField& field, std::uint64_t seed,
                                   std::uint64_t sweep_index) const {
  constexpr std::uint32_t purpose = rng::purpose("metropolis");
  if (field.dims() == 2)
    sweep_colours<2, false>(field, thresholds(2), purpose, seed, sweep_index);
  else
    sweep_colours<3, false>(field, thresholds(3), purpose, seed, sweep_index);
}

CheckerboardHeatBath::CheckerboardHeatBath(const IsingCouplings& couplings)
    : couplings_(couplings),
      thresholds_{heat_bath_thresholds(couplings, 2), heat_bath_thresholds(couplings, 3)} {}

void CheckerboardHeatBath::sweep(SpinField& field, std::uint64_t seed,
                                 std::uint64_t sweep_index) const {
  constexpr std::uint32_t purpose = rng::purpose("heatbath");
  if (field.dims() == 2)
    sweep_colours<2, true>(field, thresholds(2), purpose, seed, sweep_index);
  else
    sweep_colours<3, true>(field, thresholds(3), purpose, seed, sweep_index);
}

}  // namespace phyflow::lattice
