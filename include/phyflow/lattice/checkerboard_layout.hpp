// Storage layout of a rank's block of Ising spins, split by checkerboard colour
// (colour = sum of global coordinates mod 2). Each colour is a compact array: the last
// dimension keeps only that colour's sites (n/2 per row), so a colour update runs over
// unit-stride memory and vectorises; the other dimensions are stored whole. Every dimension
// carries one ghost layer on each side.
//
// A row is a line along the last dimension, named by its interior indices (i_0, i_1) over the
// dimensions before the last (i_1 unused in 2D). In colour c, padded index p_k = i_k + 1, the
// compact position h in [1, n/2] holds the site with local x_{d-1} = 2(h-1) + q, where
// q = (c + row parity) mod 2 and row parity = sum_{k<d-1} x_k mod 2 (global x_k). Ghosts:
// h = 0 is x_{d-1} = -1 (present when q = 1), h = n/2 + 1 is x_{d-1} = n (present when
// q = 0). A site's neighbours along d-1 are, in the other colour's array, at h - 1 + q and
// h + q; along k < d-1 they are at the same h in the rows one stride below and above.
#pragma once

#include <Kokkos_Core.hpp>

#include <cstdint>

namespace phyflow::lattice {

struct CheckerboardLayout {
  static constexpr int max_dims = 3;

  int dims = 0;
  int local[max_dims] = {};       ///< local extent n_k (sites)
  int offset[max_dims] = {};      ///< global offset of the block
  int global[max_dims] = {};      ///< global extent
  bool remote[max_dims] = {};     ///< the neighbours along k are other ranks (grid_k > 1)
  int padded[max_dims] = {};      ///< stored extent: n_k + 2, and n/2 + 2 for the last
  std::int64_t stride[max_dims] = {};
  std::int64_t size = 0;          ///< elements per colour array (ghosts included)
  std::int64_t rows = 0;          ///< interior rows: product of n_k over k < d-1
  int half = 0;                   ///< n_{d-1} / 2: sites of one colour per row
  /// Global colour-compact index of a site: C-order over (x_0, ..., x_{d-2}, x_{d-1}/2) with
  /// extents (G_0, ..., G_{d-2}, G_{d-1}/2); the same numbering for both colours.
  std::uint64_t compact_stride[max_dims] = {};
  /// Global site index: C-order over (x_0, ..., x_{d-1}).
  std::uint64_t site_stride[max_dims] = {};
  /// True when every row starts at a compact index divisible by 4 and holds a multiple of 4
  /// sites of each colour, so one Philox call serves 4 neighbouring sites of one rank.
  bool groups_aligned = false;

  struct Row {
    std::int64_t base;           ///< storage index of (row, h = 0)
    int parity;                  ///< sum of the global x_k, k < d-1, mod 2
    bool boundary;               ///< on a face along some k < d-1 that another rank needs
    std::uint64_t compact_start; ///< global compact index of h = 1
    std::uint64_t site_start;    ///< global site index of x_{d-1} = 0
  };

  /// Interior row (i0, i1), 0-based; i1 is ignored in 2D.
  KOKKOS_INLINE_FUNCTION Row row(int i0, int i1) const {
    const int x0 = offset[0] + i0;
    Row out{(i0 + 1) * stride[0], x0, remote[0] && (i0 == 0 || i0 == local[0] - 1),
            static_cast<std::uint64_t>(x0) * compact_stride[0],
            static_cast<std::uint64_t>(x0) * site_stride[0]};
    if (dims == 3) {
      const int x1 = offset[1] + i1;
      out.base += (i1 + 1) * stride[1];
      out.parity += x1;
      out.boundary = out.boundary || (remote[1] && (i1 == 0 || i1 == local[1] - 1));
      out.compact_start += static_cast<std::uint64_t>(x1) * compact_stride[1];
      out.site_start += static_cast<std::uint64_t>(x1) * site_stride[1];
    }
    out.parity &= 1;
    out.compact_start += static_cast<std::uint64_t>(offset[dims - 1] / 2);
    out.site_start += static_cast<std::uint64_t>(offset[dims - 1]);
    return out;
  }

  /// Kokkos policy over the interior rows: (i0) in 2D, (i0, i1) in 3D; no divisions per row.
  Kokkos::MDRangePolicy<Kokkos::Rank<2>> row_policy() const {
    return Kokkos::MDRangePolicy<Kokkos::Rank<2>>({0, 0}, {local[0], dims == 3 ? local[1] : 1});
  }
};

/// Sum of the 2D neighbours of the site at storage index i of a colour whose row has the given
/// q, read from the other colour's array `other` (ghosts must be current).
template <int D>
KOKKOS_INLINE_FUNCTION int neighbour_sum(const std::int8_t* other, const std::int64_t* stride,
                                         std::int64_t i, int q) {
  int sum = other[i - 1 + q] + other[i + q];
  for (int k = 0; k < D - 1; ++k) sum += other[i - stride[k]] + other[i + stride[k]];
  return sum;
}

}  // namespace phyflow::lattice
