// Private to the io module: streams a dataset through memory in blocks of whole rows along
// axis 0, so inspect and compare handle files far larger than memory.
#pragma once

#include "hdf5_handle.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace phyflow::io::detail {

/// Reads a dataset with memory type `mem_type` in consecutive blocks of about `block_bytes`
/// (whole rows of axis 0, at least one row; a scalar dataset is one block of one element).
/// Two readers over datasets of equal shape and element size produce the same blocks, which
/// is what lets compare walk two files in lockstep.
class BlockReader {
 public:
  BlockReader(hid_t dataset, hid_t mem_type, std::size_t block_bytes, std::string file,
              std::string object);
  /// Reads the next block; false when the dataset is exhausted. A read that fails is an
  /// unreadable input file (input_error naming `file` and `object`).
  bool next();
  const unsigned char* data() const { return buffer_.data(); }
  std::uint64_t first_element() const { return first_row_ * row_elements_; }
  std::uint64_t elements() const { return rows_in_block_ * row_elements_; }

 private:
  hid_t dataset_, mem_type_;
  std::string file_, object_;
  std::vector<std::uint64_t> shape_;
  std::uint64_t row_elements_ = 1, rows_ = 1, rows_per_block_ = 1;
  std::uint64_t first_row_ = 0, rows_in_block_ = 0;
  bool started_ = false;
  std::vector<unsigned char> buffer_;
  Handle file_space_;
};

}  // namespace phyflow::io::detail
