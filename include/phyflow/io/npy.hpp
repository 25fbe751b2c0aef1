// NumPy .npy files (format version 1.0) of little-endian float64 arrays in C order, written as
// a stream -- header first, then the values in any number of pieces -- so an array larger than
// memory can be exported slab by slab. Headers are byte-identical to numpy.save's (NumPy >= 1.24,
// which pads the header for in-place growth of the first axis).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace phyflow::io {

/// The complete header of a '<f8', C-order array of `shape` (magic, version 1.0, length, the
/// dict, padding): its size is a multiple of 64 and it ends with '\n'. shape {} is a scalar.
std::string npy_header_f8(const std::vector<std::uint64_t>& shape);

/// The shape as a Python tuple, as NumPy writes it: "()", "(3,)", "(2, 3)".
std::string python_shape_tuple(const std::vector<std::uint64_t>& shape);

/// Writes one .npy file. The constructor creates (truncates) `path` and writes the header;
/// write() appends values in C order; close() checks that exactly shape's element count was
/// written and flushes. A writer destroyed before close() leaves an incomplete file behind
/// (callers write to a `.partial` name and rename after close()). I/O failures throw
/// phyflow::Error (runtime) naming the file; a wrong element count is a runtime error too.
class NpyWriter {
 public:
  NpyWriter(const std::string& path, const std::vector<std::uint64_t>& shape);
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;
  ~NpyWriter();

  /// Appends `count` values (converted to little-endian on big-endian hosts).
  void write(const double* values, std::size_t count);
  void close();

  const std::string& path() const { return path_; }
  std::uint64_t elements() const { return elements_; }  ///< expected in total
  std::uint64_t written() const { return written_; }    ///< appended so far

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::uint64_t elements_ = 0, written_ = 0;
};

/// Writes a whole array held in memory (data.size() must equal the product of shape).
void write_npy(const std::string& path, const std::vector<double>& data,
               const std::vector<std::uint64_t>& shape);

}  // namespace phyflow::io
