// Shared by the io tests: a temporary directory every rank agrees on, a 2-D process grid that
// splits an [8, 12] sample into per-rank blocks, and the known contents written into it.
#pragma once

#include "phyflow/core/error.hpp"
#include "phyflow/io/appendable_dataset.hpp"

#include <gtest/gtest.h>
#include <mpi.h>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace phyflow::io::testing {

inline int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
inline int world_size() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

/// A fresh directory under /tmp created by rank 0 (mkdtemp) and broadcast; removed again by
/// rank 0 after every rank is done with it.
class TempDir {
 public:
  TempDir() {
    std::string path(256, '\0');
    if (world_rank() == 0) {
      char name[] = "/tmp/phyflow-io-test-XXXXXX";
      if (::mkdtemp(name) == nullptr) std::abort();
      path.assign(name);
      path.resize(256, '\0');
    }
    MPI_Bcast(path.data(), 256, MPI_CHAR, 0, MPI_COMM_WORLD);
    path_ = path.c_str();
  }
  ~TempDir() {
    MPI_Barrier(MPI_COMM_WORLD);
    if (world_rank() == 0) std::filesystem::remove_all(path_);
    MPI_Barrier(MPI_COMM_WORLD);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

/// Runs `f`, expects a phyflow::Error of `code` and returns its message ("" if none thrown).
template <class F>
std::string error_message(F&& f, ExitCode code = ExitCode::bad_input) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(code)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected a phyflow::Error";
  return {};
}

/// Sample shape of the lattice-like test dataset.
inline const std::vector<std::uint64_t> sample_shape{8, 12};

/// Element (sample s, row i, column j) of the test dataset: every byte distinct enough that a
/// misplaced block shows.
inline std::int8_t element(std::uint64_t s, std::uint64_t i, std::uint64_t j) {
  return static_cast<std::int8_t>(static_cast<int>((s * 37 + i * 12 + j * 5) % 251) - 125);
}

/// This rank's block of the [8, 12] sample on a 2-D grid from MPI_Dims_create.
inline SampleBlock grid_block() {
  const int size = world_size(), rank = world_rank();
  std::array<int, 2> dims{0, 0};
  MPI_Dims_create(size, 2, dims.data());
  const int ci = rank / dims[1], cj = rank % dims[1];
  SampleBlock block;
  block.offset.resize(2);
  block.count.resize(2);
  for (int a = 0; a < 2; ++a) {
    const std::uint64_t n = sample_shape[static_cast<std::size_t>(a)];
    const auto parts = static_cast<std::uint64_t>(dims[static_cast<std::size_t>(a)]);
    const auto c = static_cast<std::uint64_t>(a == 0 ? ci : cj);
    const std::uint64_t begin = n * c / parts, end = n * (c + 1) / parts;
    block.offset[static_cast<std::size_t>(a)] = begin;
    block.count[static_cast<std::size_t>(a)] = end - begin;
  }
  return block;
}

/// This rank's data of samples [first, first + n), C order, samples slowest.
inline std::vector<std::int8_t> local_samples(const SampleBlock& block, std::uint64_t first,
                                              std::uint64_t n) {
  std::vector<std::int8_t> out;
  for (std::uint64_t s = first; s < first + n; ++s)
    for (std::uint64_t i = 0; i < block.count[0]; ++i)
      for (std::uint64_t j = 0; j < block.count[1]; ++j)
        out.push_back(element(s, block.offset[0] + i, block.offset[1] + j));
  return out;
}

/// The whole dataset of n samples as the reader should see it.
inline std::vector<std::int8_t> global_samples(std::uint64_t n) {
  std::vector<std::int8_t> out;
  for (std::uint64_t s = 0; s < n; ++s)
    for (std::uint64_t i = 0; i < sample_shape[0]; ++i)
      for (std::uint64_t j = 0; j < sample_shape[1]; ++j) out.push_back(element(s, i, j));
  return out;
}

}  // namespace phyflow::io::testing
