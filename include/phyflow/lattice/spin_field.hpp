// Ising spins (int8, +1/-1) of one rank's block, stored by checkerboard colour with one ghost
// layer (layout in checkerboard_layout.hpp), and the halo exchange that keeps the ghosts equal
// to the periodic neighbours' spins: Kokkos pack/unpack kernels and non-blocking MPI with
// both neighbours of every dimension. Requires d = 2 or 3, every global extent even (so the
// colouring is periodic) and an even local extent along the last dimension.
#pragma once

#include "phyflow/lattice/cart_decomposition.hpp"
#include "phyflow/lattice/checkerboard_layout.hpp"

#include <Kokkos_Core.hpp>

#include <cstdint>
#include <vector>

namespace phyflow::lattice {

class SpinField {
 public:
  using SpinView = Kokkos::View<std::int8_t*>;

  /// Throws phyflow::input_error (naming lattice.dims / lattice.L) when the geometry does not
  /// allow checkerboard storage. Spins start at +1 with the halo valid.
  explicit SpinField(CartDecomposition decomposition);

  /// Checks, without building anything, that a lattice of `global_extent` over `proc_grid`
  /// suits the colour-split storage (d = 2, 3; even L; even block along the last dimension).
  /// Throws the input_error the constructor would. For deck validation before a run.
  static void check_geometry(const std::vector<int>& global_extent,
                             const std::vector<int>& proc_grid);

  const CartDecomposition& decomposition() const { return decomposition_; }
  const CheckerboardLayout& layout() const { return layout_; }
  int dims() const { return layout_.dims; }

  /// The compact array of colour c (0 or 1), ghosts included.
  const SpinView& colour(int c) const { return colour_[c]; }

  /// Every spin set to `value` (+1 or -1).
  void fill_cold(int value = +1);
  /// Hot start: spin of global site i is +1 iff the top bit of Philox(seed, "init") word
  /// (counter i / 4, step 0, lane i % 4) is set; identical for any rank count.
  void fill_random(std::uint64_t seed);

  /// Refreshes all ghosts (both colours).
  void exchange_halo();
  /// Refreshes the ghosts of colour c only.
  void exchange_halo(int c);
  /// Split form for overlap: begin packs the faces of colour c and posts the messages; the
  /// interior of colour c may then be updated; end waits and writes the ghosts of colour c.
  void begin_halo_exchange(int c);
  /// Lets MPI move the messages of a begun exchange along (call it between pieces of work:
  /// messages above the eager limit need the sender inside MPI to make progress).
  void progress_halo_exchange();
  void end_halo_exchange(int c);

  /// The local block in C order over the local extents, no ghosts (local_sites() bytes).
  void copy_interior_to_host(std::int8_t* block) const;
  /// Sets the local block from C-order data (every value must be +1 or -1), then exchanges
  /// the halo.
  void set_interior_from_host(const std::int8_t* block);

  /// Spins with ghosts in natural (not colour-split) order over extents n_k + 2, for tests and
  /// debugging; edge and corner ghosts (not stored) read 0.
  std::vector<std::int8_t> padded_to_host() const;

 private:
  struct Face {
    int dim;
    int neighbour_lo, neighbour_hi;
    std::int64_t count;  ///< elements per message
    Kokkos::View<std::int8_t*> send_lo, send_hi, recv_lo, recv_hi;
    /// What MPI reads and writes: the same memory where the views are host memory; host
    /// copies where they live on a GPU (MPI is not assumed CUDA-aware).
    Kokkos::View<std::int8_t*>::HostMirror host_send_lo, host_send_hi, host_recv_lo, host_recv_hi;
  };

  CartDecomposition decomposition_;
  CheckerboardLayout layout_;
  SpinView colour_[2];
  std::vector<Face> faces_;
  std::vector<MPI_Request> requests_;
  int pending_colour_ = -1;
};

}  // namespace phyflow::lattice
