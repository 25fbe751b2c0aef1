// Block decomposition of a periodic lattice over a Cartesian grid of MPI ranks.
#include "phyflow/lattice/cart_decomposition.hpp"

#include "phyflow/core/error.hpp"

#include <numeric>
#include <sstream>

namespace phyflow::lattice {

namespace {

std::string join_grid(const std::vector<int>& grid) {
  std::string text;
  for (std::size_t k = 0; k < grid.size(); ++k) text += (k ? "x" : "") + std::to_string(grid[k]);
  return text;
}

std::vector<int> auto_grid(int ranks, int dims) {
  std::vector<int> grid(dims, 0);
  check_mpi(MPI_Dims_create(ranks, dims, grid.data()), "MPI_Dims_create");
  return grid;
}

bool divides(const std::vector<int>& extent, const std::vector<int>& grid) {
  for (std::size_t k = 0; k < extent.size(); ++k)
    if (extent[k] % grid[k] != 0) return false;
  return true;
}

/// The message for an extent that does not divide over the grid: what is wrong, then a rank
/// count (with the automatic grid) and an L (with this grid) that would work.
std::string divisibility_message(const std::vector<int>& extent, const std::vector<int>& grid,
                                 int ranks) {
  std::ostringstream msg;
  bool cubic = true;
  for (int e : extent) cubic = cubic && e == extent[0];
  if (cubic)
    msg << "lattice.L = " << extent[0];
  else
    msg << "lattice extent " << join_grid(extent) << " (lattice.L)";
  msg << " does not divide over the " << join_grid(grid) << " process grid of " << ranks
      << " MPI rank" << (ranks == 1 ? "" : "s") << ":";
  for (std::size_t k = 0; k < extent.size(); ++k)
    if (extent[k] % grid[k] != 0)
      msg << " dimension " << k << " has " << extent[k] << " sites for " << grid[k] << " ranks;";
  std::vector<int> counts;
  for (int n = 1; n <= 4 * ranks + 8 && counts.size() < 4; ++n)
    if (n != ranks && divides(extent, auto_grid(n, static_cast<int>(extent.size()))))
      counts.push_back(n);
  // An even multiple of every grid entry keeps local blocks valid for checkerboard updates too.
  int step = 2;
  for (int g : grid) step = std::lcm(step, g);
  const int larger_l = (extent[0] / step + 1) * step;
  msg << " run on";
  for (std::size_t i = 0; i < counts.size(); ++i)
    msg << (i ? (i + 1 == counts.size() ? " or " : ", ") : " ") << counts[i];
  msg << " ranks, or set lattice.L to a multiple of " << step << " (e.g. " << larger_l << ").";
  return msg.str();
}

}  // namespace

std::vector<int> CartDecomposition::plan_grid(const std::vector<int>& global_extent,
                                              std::vector<int> proc_grid, int ranks) {
  const int d = static_cast<int>(global_extent.size());
  if (d < 1) throw input_error("lattice.dims must be at least 1");
  for (int e : global_extent)
    if (e < 1)
      throw input_error("lattice.L = " + std::to_string(e) + " must be at least 1");
  if (proc_grid.empty()) proc_grid = auto_grid(ranks, d);
  if (static_cast<int>(proc_grid.size()) != d)
    throw input_error("the process grid " + join_grid(proc_grid) + " (lattice.proc_grid) has " +
                      std::to_string(proc_grid.size()) + " entries but the lattice has " +
                      std::to_string(d) + " dimensions");
  long long grid_ranks = 1;
  for (int g : proc_grid) {
    if (g < 1) throw input_error("process grid " + join_grid(proc_grid) + " has an entry < 1");
    grid_ranks *= g;
  }
  if (grid_ranks != ranks)
    throw input_error("the process grid " + join_grid(proc_grid) + " (lattice.proc_grid) holds " +
                      std::to_string(grid_ranks) + " ranks but the run has " +
                      std::to_string(ranks) + "; choose a grid whose product is the rank count");
  if (!divides(global_extent, proc_grid))
    throw input_error(divisibility_message(global_extent, proc_grid, ranks));
  return proc_grid;
}

CartDecomposition::CartDecomposition(MPI_Comm comm, std::vector<int> global_extent,
                                     std::vector<int> proc_grid)
    : global_extent_(std::move(global_extent)) {
  const int d = dims();
  check_mpi(MPI_Comm_size(comm, &size_), "MPI_Comm_size");
  proc_grid_ = plan_grid(global_extent_, std::move(proc_grid), size_);

  std::vector<int> periodic(d, 1);
  MPI_Comm cart = MPI_COMM_NULL;
  // reorder = 0: rank numbers stay those of `comm`, so rank 0 stays the logging/IO rank.
  check_mpi(MPI_Cart_create(comm, d, proc_grid_.data(), periodic.data(), 0, &cart),
            "MPI_Cart_create");
  comm_ = std::shared_ptr<MPI_Comm>(new MPI_Comm(cart), [](MPI_Comm* c) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && *c != MPI_COMM_NULL) MPI_Comm_free(c);
    delete c;
  });
  check_mpi(MPI_Comm_set_errhandler(cart, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  check_mpi(MPI_Comm_rank(cart, &rank_), "MPI_Comm_rank");
  coords_.assign(d, 0);
  check_mpi(MPI_Cart_coords(cart, rank_, d, coords_.data()), "MPI_Cart_coords");
  local_extent_.resize(d);
  local_offset_.resize(d);
  neighbour_lo_.resize(d);
  neighbour_hi_.resize(d);
  for (int k = 0; k < d; ++k) {
    local_extent_[k] = global_extent_[k] / proc_grid_[k];
    local_offset_[k] = coords_[k] * local_extent_[k];
    check_mpi(MPI_Cart_shift(cart, k, 1, &neighbour_lo_[k], &neighbour_hi_[k]), "MPI_Cart_shift");
  }
}

std::int64_t CartDecomposition::global_sites() const {
  std::int64_t n = 1;
  for (int e : global_extent_) n *= e;
  return n;
}

std::int64_t CartDecomposition::local_sites() const {
  std::int64_t n = 1;
  for (int e : local_extent_) n *= e;
  return n;
}

std::string CartDecomposition::grid_text() const { return join_grid(proc_grid_); }

}  // namespace phyflow::lattice
