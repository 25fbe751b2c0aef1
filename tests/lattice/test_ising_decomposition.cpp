// Decomposition of the periodic lattice over ranks and the checkerboard halo exchange, in 2D
// and 3D, on whatever rank count the test runs with (ctest: 1, 2 and 4), with automatic and
// explicit process grids, including grids of 1 and 2 ranks along a dimension.
#include "ising_test_support.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/lattice/cart_decomposition.hpp"
#include "phyflow/lattice/spin_field.hpp"

#include <gtest/gtest.h>
#include <mpi.h>

#include <numeric>
#include <string>
#include <vector>

namespace {

using phyflow::lattice::CartDecomposition;
using phyflow::lattice::SpinField;

int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

/// Every process grid of `ranks` ranks over d dimensions (products of divisors).
std::vector<std::vector<int>> grids_of(int ranks, int d) {
  if (d == 1) return {{ranks}};
  std::vector<std::vector<int>> out;
  for (int g = 1; g <= ranks; ++g)
    if (ranks % g == 0)
      for (auto rest : grids_of(ranks / g, d - 1)) {
        rest.insert(rest.begin(), g);
        out.push_back(rest);
      }
  return out;
}

bool checkerboard_ok(const std::vector<int>& G, const std::vector<int>& grid) {
  for (std::size_t k = 0; k < G.size(); ++k)
    if (G[k] % grid[k] != 0 || G[k] % 2 != 0) return false;
  return (G.back() / grid.back()) % 2 == 0;
}

/// A +-1 pattern that looks random in the global site index: a ghost holding any other site's
/// value is caught with probability 1/2 per ghost.
std::int8_t pattern(std::uint64_t g) {
  g += 0x9E3779B97F4A7C15ull;
  g = (g ^ (g >> 30)) * 0xBF58476D1CE4E5B9ull;
  g = (g ^ (g >> 27)) * 0x94D049BB133111EBull;
  return (g ^ (g >> 31)) & 1 ? 1 : -1;
}

TEST(CartDecomposition, BlocksTileTheLattice) {
  const int size = world_size();
  for (const std::vector<int>& G : {std::vector<int>{8, 12}, std::vector<int>{4, 8, 12}}) {
    for (const auto& grid : grids_of(size, static_cast<int>(G.size()))) {
      bool divisible = true;
      for (std::size_t k = 0; k < G.size(); ++k) divisible = divisible && G[k] % grid[k] == 0;
      if (!divisible) continue;
      CartDecomposition dec(MPI_COMM_WORLD, G, grid);
      const int d = dec.dims();
      ASSERT_EQ(dec.proc_grid(), grid);
      ASSERT_EQ(dec.size(), size);
      // Gather every block and count how often each site is owned: exactly once.
      std::vector<int> mine(2 * d);
      for (int k = 0; k < d; ++k) {
        mine[k] = dec.local_offset()[k];
        mine[d + k] = dec.local_extent()[k];
        EXPECT_EQ(dec.local_extent()[k] * grid[k], G[k]);
        EXPECT_EQ(dec.local_offset()[k], dec.coords()[k] * dec.local_extent()[k]);
      }
      std::vector<int> all(2 * d * size);
      MPI_Allgather(mine.data(), 2 * d, MPI_INT, all.data(), 2 * d, MPI_INT, dec.comm());
      std::vector<int> owned(dec.global_sites(), 0);
      for (int r = 0; r < size; ++r) {
        const int* o = &all[2 * d * r];
        const int* n = o + d;
        std::int64_t count = 1;
        for (int k = 0; k < d; ++k) count *= n[k];
        for (std::int64_t i = 0; i < count; ++i) {
          std::int64_t rest = i, g = 0, stride = 1;
          for (int k = d - 1; k >= 0; --k) {
            g += (o[k] + rest % n[k]) * stride;
            rest /= n[k];
            stride *= G[k];
          }
          ++owned[g];
        }
      }
      for (int c : owned) ASSERT_EQ(c, 1);
      // Neighbours: the blocks one step below / above along k (periodic).
      for (int k = 0; k < d; ++k) {
        std::vector<int> lo = dec.coords(), hi = dec.coords();
        lo[k] = (lo[k] - 1 + grid[k]) % grid[k];
        hi[k] = (hi[k] + 1) % grid[k];
        int r_lo = -1, r_hi = -1;
        MPI_Cart_rank(dec.comm(), lo.data(), &r_lo);
        MPI_Cart_rank(dec.comm(), hi.data(), &r_hi);
        EXPECT_EQ(dec.neighbour_lo(k), r_lo);
        EXPECT_EQ(dec.neighbour_hi(k), r_hi);
      }
    }
  }
}

TEST(CartDecomposition, NonDivisibleExtentIsAnInputError) {
  const int size = world_size();
  if (size == 1) GTEST_SKIP() << "every extent divides over one rank";
  // 2 ranks: grid 2x1; 4 ranks: 2x2. 5 sites do not split in two.
  try {
    CartDecomposition dec(MPI_COMM_WORLD, {5, 4});
    FAIL() << "expected an input error";
  } catch (const phyflow::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.code(), phyflow::ExitCode::bad_input);
    EXPECT_NE(msg.find("lattice"), std::string::npos) << msg;
    EXPECT_NE(msg.find(size == 2 ? "2x1" : "2x2"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(size) + " MPI ranks"), std::string::npos) << msg;
    EXPECT_NE(msg.find("multiple of"), std::string::npos) << msg;
  }
  // A grid that does not match the rank count.
  EXPECT_THROW(CartDecomposition(MPI_COMM_WORLD, {8, 8}, {size + 1, 1}), phyflow::Error);
}

TEST(SpinField, GeometryErrorsNameTheDeckKey) {
  const int size = world_size();
  auto expect_input_error = [](auto&& make, const std::string& needle) {
    try {
      make();
      FAIL() << "expected an input error mentioning " << needle;
    } catch (const phyflow::Error& e) {
      EXPECT_EQ(e.code(), phyflow::ExitCode::bad_input);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_input_error(
      [] { SpinField f(CartDecomposition(MPI_COMM_SELF, {6, 7})); }, "lattice.L = 7");
  expect_input_error(
      [] { SpinField f(CartDecomposition(MPI_COMM_SELF, {4, 4, 4, 4})); }, "lattice.dims");
  if (size >= 2 && size % 2 == 0) {
    // The last dimension split into blocks of 3 sites cannot be stored by colour.
    expect_input_error(
        [size] { SpinField f(CartDecomposition(MPI_COMM_WORLD, {4, 3 * size}, {1, size})); },
        "even number");
  }
}

void check_halo(const std::vector<int>& G, const std::vector<int>& grid) {
  SpinField field(CartDecomposition(MPI_COMM_WORLD, G, grid));
  const CartDecomposition& dec = field.decomposition();
  const int d = dec.dims();
  const auto& n = dec.local_extent();
  const auto& o = dec.local_offset();
  auto global_index = [&](const std::vector<int>& x) {
    std::uint64_t g = 0;
    for (int k = 0; k < d; ++k) g = g * G[k] + static_cast<std::uint64_t>((x[k] + G[k]) % G[k]);
    return g;
  };
  std::vector<std::int8_t> block(dec.local_sites());
  std::vector<int> x(d);
  for (std::int64_t i = 0; i < dec.local_sites(); ++i) {
    std::int64_t rest = i;
    for (int k = d - 1; k >= 0; --k) {
      x[k] = o[k] + static_cast<int>(rest % n[k]);
      rest /= n[k];
    }
    block[i] = pattern(global_index(x));
  }
  field.set_interior_from_host(block.data());

  std::vector<std::int8_t> back(block.size());
  field.copy_interior_to_host(back.data());
  EXPECT_EQ(back, block);

  const std::vector<std::int8_t> padded = field.padded_to_host();
  std::int64_t total = 1;
  for (int k = 0; k < d; ++k) total *= n[k] + 2;
  std::int64_t checked_ghosts = 0;
  std::vector<int> i(d);
  for (std::int64_t flat = 0; flat < total; ++flat) {
    std::int64_t rest = flat;
    int ghosts = 0;
    for (int k = d - 1; k >= 0; --k) {
      i[k] = static_cast<int>(rest % (n[k] + 2));
      rest /= n[k] + 2;
      ghosts += i[k] == 0 || i[k] == n[k] + 1;
      x[k] = o[k] + i[k] - 1;  // global coordinate, periodic wrap in global_index
    }
    if (ghosts > 1) continue;  // edges and corners are not kept
    ASSERT_EQ(padded[flat], pattern(global_index(x)))
        << "padded site " << flat << (ghosts ? " (ghost)" : " (interior)") << " on rank "
        << dec.rank() << ", grid " << dec.grid_text();
    checked_ghosts += ghosts;
  }
  std::int64_t expected_ghosts = 0;
  for (int k = 0; k < d; ++k) expected_ghosts += 2 * dec.local_sites() / n[k];
  EXPECT_EQ(checked_ghosts, expected_ghosts);
}

TEST(SpinField, HaloHoldsPeriodicNeighbours2D) {
  const int size = world_size();
  int tested = 0;
  for (const std::vector<int>& G :
       {std::vector<int>{8, 16}, std::vector<int>{6, 8}, std::vector<int>{2, 4}}) {
    for (const auto& grid : grids_of(size, 2)) {
      if (!checkerboard_ok(G, grid)) continue;
      SCOPED_TRACE("extent " + std::to_string(G[0]) + "x" + std::to_string(G[1]));
      check_halo(G, grid);
      ++tested;
    }
  }
  EXPECT_GE(tested, 3);
}

TEST(SpinField, HaloHoldsPeriodicNeighbours3D) {
  const int size = world_size();
  int tested = 0;
  for (const std::vector<int>& G : {std::vector<int>{4, 6, 8}, std::vector<int>{2, 4, 4}}) {
    for (const auto& grid : grids_of(size, 3)) {
      if (!checkerboard_ok(G, grid)) continue;
      SCOPED_TRACE("extent " + std::to_string(G[0]) + "x" + std::to_string(G[1]) + "x" +
                   std::to_string(G[2]));
      check_halo(G, grid);
      ++tested;
    }
  }
  EXPECT_GE(tested, 2);
}

TEST(SpinField, BadSpinValuesAreRejectedOnEveryRank) {
  SpinField field(CartDecomposition(MPI_COMM_WORLD, {4, 8}));
  std::vector<std::int8_t> block(field.decomposition().local_sites(), 1);
  if (field.decomposition().rank() == 0) block[0] = 3;  // only rank 0 holds the bad value
  try {
    field.set_interior_from_host(block.data());
    FAIL() << "expected an input error";
  } catch (const phyflow::Error& e) {
    EXPECT_EQ(e.code(), phyflow::ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("+1 or -1"), std::string::npos) << e.what();
  }
}

}  // namespace
