// phyflow::io::BoxDataset<T>: a fixed-shape, chunked HDF5 dataset to which the ranks write
// boxes collectively, each its own box per call (DESIGN.md §7). Where AppendableDataset grows
// a series whose every sample all ranks share, a BoxDataset suits data split along the
// leading axis itself: an N-body ensemble (rank r writes its simulations' rows of
// (ns, nt, n, 2d + 2)) or one large system (rank r writes its bodies' columns of a frame).
#pragma once

#include "phyflow/io/output_file.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace phyflow::io {

/// T is one of std::int8_t, std::int32_t, std::int64_t, std::uint8_t, float, double. All
/// member functions except the accessors are collective over the file's communicator.
///
/// Elements are never pre-filled (no fill values: writing them first would double the I/O), so
/// the writer must cover every element before the file is committed; a checkpoint records how
/// far the writing got (see the nbody workflow).
template <class T>
class BoxDataset {
 public:
  /// Creates the dataset (and missing parent groups) of `shape` with chunk dimensions `chunk`
  /// (same rank, each 1..shape[i]) and attributes "meaning" and "units".
  BoxDataset(OutputFile& file, const std::string& path, const std::vector<std::uint64_t>& shape,
             const std::vector<std::uint64_t>& chunk, const std::string& meaning,
             const std::string& units);

  /// Opens an existing dataset of the file (restart); input_error when it is missing or its
  /// element type or shape differ from `expected_shape`.
  static BoxDataset open(OutputFile& file, const std::string& path,
                         const std::vector<std::uint64_t>& expected_shape);

  BoxDataset(BoxDataset&&) noexcept;
  BoxDataset& operator=(BoxDataset&&) noexcept;
  BoxDataset(const BoxDataset&) = delete;
  BoxDataset& operator=(const BoxDataset&) = delete;
  ~BoxDataset();

  /// Writes this rank's box [offset, offset + count) from `local` (C order, count elements);
  /// a rank with nothing to write passes an empty count (or any zero in it) and may pass null.
  /// Boxes of different ranks must not overlap (not checked: it would cost an all-gather per
  /// write).
  void write(const std::vector<std::uint64_t>& offset, const std::vector<std::uint64_t>& count,
             const T* local);

  const std::vector<std::uint64_t>& shape() const;
  const std::string& path() const;

 private:
  struct State;
  explicit BoxDataset(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

extern template class BoxDataset<std::int8_t>;
extern template class BoxDataset<std::int32_t>;
extern template class BoxDataset<std::int64_t>;
extern template class BoxDataset<std::uint8_t>;
extern template class BoxDataset<float>;
extern template class BoxDataset<double>;

}  // namespace phyflow::io
