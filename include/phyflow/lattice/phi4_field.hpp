// A real scalar field phi (double) on one rank's block of a periodic L^d lattice, d = 1..4,
// in natural C order (x_0 slowest) over the padded extents n_k + 2: one ghost layer on each
// face (edge and corner ghosts are not kept: the phi^4 action couples nearest neighbours
// only). The halo exchange refreshes the face ghosts from the periodic neighbours with Kokkos
// pack/unpack kernels and non-blocking MPI. Decomposition: lattice/cart_decomposition.hpp.
// Exact, rank-count independent sums: lattice/exact_sum.hpp.
#pragma once

#include "phyflow/lattice/cart_decomposition.hpp"
#include "phyflow/lattice/exact_sum.hpp"

#include <Kokkos_Core.hpp>

#include <cstdint>
#include <vector>

namespace phyflow::lattice {

/// Index arithmetic of a block, trivially copyable for kernels. Site i of the block (C order
/// over the local extents, no ghosts) has padded index `padded`, global C-order index
/// `global` and checkerboard colour `parity` = (sum of global coordinates) mod 2.
struct Phi4Geometry {
  static constexpr int kMaxDims = 4;
  int d = 1;
  int n[kMaxDims] = {1, 1, 1, 1};     ///< local extents
  int off[kMaxDims] = {0, 0, 0, 0};   ///< global offset of the block
  int G[kMaxDims] = {1, 1, 1, 1};     ///< global extents
  std::int64_t stride[kMaxDims] = {0, 0, 0, 0};   ///< padded (n_k + 2) C-order strides
  std::int64_t gstride[kMaxDims] = {0, 0, 0, 0};  ///< global C-order strides
  std::int64_t local_sites = 1;
  std::int64_t padded_sites = 1;

  KOKKOS_INLINE_FUNCTION void site(std::int64_t i, std::int64_t& padded, std::int64_t& global,
                                   int& parity) const {
    padded = 0;
    global = 0;
    int p = 0;
    for (int k = d - 1; k >= 0; --k) {
      const int c = static_cast<int>(i % n[k]);
      i /= n[k];
      padded += (c + 1) * stride[k];
      const int g = off[k] + c;
      global += g * gstride[k];
      p += g;
    }
    parity = p & 1;
  }
  /// Rows along the last dimension (contiguous in memory, stride 1 in both the padded and
  /// the global index): kernels decode the coordinates once per row, not once per site.
  KOKKOS_INLINE_FUNCTION std::int64_t rows() const { return local_sites / n[d - 1]; }
  /// First site (last coordinate 0) of row r: padded index, global index and colour; site c of
  /// the row has padded0 + c, global0 + c and colour (parity0 + c) & 1.
  KOKKOS_INLINE_FUNCTION void row(std::int64_t r, std::int64_t& padded0, std::int64_t& global0,
                                  int& parity0) const {
    padded0 = stride[d - 1];
    global0 = off[d - 1];
    int p = off[d - 1];
    for (int k = d - 2; k >= 0; --k) {
      const int c = static_cast<int>(r % n[k]);
      r /= n[k];
      padded0 += (c + 1) * stride[k];
      const int g = off[k] + c;
      global0 += g * gstride[k];
      p += g;
    }
    parity0 = p & 1;
  }
  KOKKOS_INLINE_FUNCTION std::int64_t padded_index(std::int64_t i) const {
    std::int64_t padded = 0;
    for (int k = d - 1; k >= 0; --k) {
      padded += (i % n[k] + 1) * stride[k];
      i /= n[k];
    }
    return padded;
  }
};

class Phi4Field {
 public:
  using FieldView = Kokkos::View<double*>;

  /// Throws phyflow::input_error (naming action.dims / action.L) unless 1 <= d <= 4 and every
  /// global extent is even and >= 2 (the checkerboard colouring must be periodic).
  explicit Phi4Field(CartDecomposition decomposition);

  /// The checks of the constructor for a lattice of `global_extent`, without building
  /// anything: for deck validation (divisibility over the ranks: CartDecomposition::plan_grid).
  static void check_geometry(const std::vector<int>& global_extent);

  const CartDecomposition& decomposition() const { return decomposition_; }
  const Phi4Geometry& geometry() const { return geometry_; }
  int dims() const { return geometry_.d; }
  std::int64_t global_sites() const { return decomposition_.global_sites(); }

  /// The padded array (ghosts included); valid ghosts after exchange_halo().
  FieldView& data() { return phi_; }
  const FieldView& data() const { return phi_; }

  /// Every site set to `value`, halo valid.
  void fill(double value);
  /// Hot start: phi_x uniform in [-1, 1) from Philox(seed, "phi4-init") at counter
  /// (global site, 0), words 0-1; identical for any rank count.
  void fill_random(std::uint64_t seed);

  /// Refreshes the face ghosts of every dimension.
  void exchange_halo();

  /// The local block in C order over the local extents, no ghosts.
  void copy_interior_to_host(double* block) const;
  /// Sets the local block from C-order data, then exchanges the halo.
  void set_interior_from_host(const double* block);
  /// The whole configuration (C order over the global extents) on every rank.
  std::vector<double> gather() const;

  /// Exact sum over the whole lattice of f(padded index) (every rank gets the same bits).
  template <class F>
  ExactSum sum(const F& f) const {
    const Phi4Geometry g = geometry_;
    const int len = g.n[g.d - 1];
    constexpr std::int64_t mask = (std::int64_t{1} << ExactSum::kFractionBits) - 1;
    ExactSumParts parts{0, 0, 0};
    // One pass: per row the integer parts with the carries of the row's fractions, the
    // fractions' remainders and the terms out of range, each a plain integer sum (exact in
    // any order). Carrying per row keeps the accumulators small for any block up to 2^23 rows.
    Kokkos::parallel_reduce(
        "phi4_exact_sum", Kokkos::RangePolicy<>(0, g.rows()),
        KOKKOS_LAMBDA(std::int64_t r, ExactSumParts& acc) {
          std::int64_t p0, g0;
          int par;
          g.row(r, p0, g0, par);
          std::int64_t h = 0, l = 0, bad = 0;
          for (int c = 0; c < len; ++c) {
            const double v = f(p0 + c);
            if (ExactSum::in_range(v)) {
              h += ExactSum::high(v);
              l += ExactSum::low(v);
            } else {
              ++bad;
            }
          }
          acc.hi += h + (l >> ExactSum::kFractionBits);
          acc.lo += l & mask;
          acc.out_of_range += bad;
        },
        ExactSumReducer(parts));
    return ExactSum::from_parts(parts.hi, parts.lo, parts.out_of_range).allreduce(decomposition_.comm());
  }

 private:
  struct Face {
    int dim;
    std::int64_t count;
    Kokkos::View<double*> send_lo, send_hi, recv_lo, recv_hi;
    /// What MPI reads and writes: the same memory where the views are host memory; host
    /// copies where they live on a GPU (MPI is not assumed CUDA-aware).
    Kokkos::View<double*>::HostMirror host_send_lo, host_send_hi, host_recv_lo, host_recv_hi;
  };
  CartDecomposition decomposition_;
  Phi4Geometry geometry_;
  FieldView phi_;
  std::vector<Face> faces_;
};

}  // namespace phyflow::lattice
