// Block decomposition of a periodic d-dimensional lattice over MPI ranks (DESIGN.md §5).
// Global site coordinates (x_0, ..., x_{d-1}), x_0 slowest (C order); the ranks form a
// periodic Cartesian grid (MPI_Cart_create) and rank `coords` owns the hyperslab starting at
// offset[k] = coords[k] * local_extent[k] with local_extent[k] = global_extent[k] / grid[k].
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace phyflow::lattice {

class CartDecomposition {
 public:
  /// Builds the periodic Cartesian communicator over the ranks of `comm`. `proc_grid` empty:
  /// chosen by MPI_Dims_create. Throws phyflow::input_error (naming lattice.L) when an extent
  /// does not divide over the grid, with a rank count and an L that would work.
  CartDecomposition(MPI_Comm comm, std::vector<int> global_extent,
                    std::vector<int> proc_grid = {});

  /// The process grid a decomposition of `global_extent` over `ranks` ranks would use, with
  /// every check of the constructor (grid size, divisibility) but no communicator: lets a deck
  /// be validated for a rank count before anything runs. Throws the same input_error.
  static std::vector<int> plan_grid(const std::vector<int>& global_extent,
                                    std::vector<int> proc_grid, int ranks);

  int dims() const { return static_cast<int>(global_extent_.size()); }
  const std::vector<int>& global_extent() const { return global_extent_; }
  const std::vector<int>& local_extent() const { return local_extent_; }
  const std::vector<int>& local_offset() const { return local_offset_; }
  const std::vector<int>& proc_grid() const { return proc_grid_; }
  const std::vector<int>& coords() const { return coords_; }
  /// Rank (in comm()) of the neighbour one block below / above along dimension k (periodic).
  int neighbour_lo(int k) const { return neighbour_lo_[k]; }
  int neighbour_hi(int k) const { return neighbour_hi_[k]; }

  /// The Cartesian communicator (shared by copies; freed with the last one).
  MPI_Comm comm() const { return *comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

  std::int64_t global_sites() const;
  std::int64_t local_sites() const;

  /// "2x2" style text of the process grid, for messages and logs.
  std::string grid_text() const;

 private:
  std::vector<int> global_extent_, local_extent_, local_offset_, proc_grid_, coords_;
  std::vector<int> neighbour_lo_, neighbour_hi_;
  std::shared_ptr<MPI_Comm> comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace phyflow::lattice
