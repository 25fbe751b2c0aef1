// phyflow::io::InputFile: read-only access to an HDF5 file that checks, before anything is
// read, that the file, its datasets' names, dtypes, ranks and shapes are what the caller
// expects -- and otherwise says precisely what is wrong and with which file (DESIGN.md §7).
#pragma once

#include <mpi.h>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace phyflow::io {

class InputFile;
namespace detail {
struct InputFileState;
/// For inspect and compare, which stream datasets through the raw HDF5 ids.
const InputFileState& state_of(const InputFile& file);
}  // namespace detail

/// What a dataset holds.
struct DatasetInfo {
  std::string dtype;                 ///< "int8", "int32", "float64", "string", ...
  std::vector<std::uint64_t> shape;  ///< current extent ({} for a scalar)
  std::vector<std::uint64_t> chunk;  ///< chunk dimensions, {} when not chunked
  bool extendible = false;           ///< the first axis is unlimited
  std::uint64_t elements() const;
  std::string shape_text() const;  ///< "[10, 16, 16]"
};

/// Whether a `*.partial` file (an unfinished output) may be opened.
enum class PartialFiles { refuse, allow };

class InputFile {
 public:
  /// Opens `path` read-only. With a communicator other than MPI_COMM_SELF the open is
  /// collective (MPI-IO) and every rank must make the same calls; reads stay independent.
  /// Input errors: the file is missing or unreadable, not HDF5 (or truncated/corrupt), or a
  /// `.partial` file while `partial` is refuse.
  static InputFile open(const std::string& path, MPI_Comm comm = MPI_COMM_SELF,
                        PartialFiles partial = PartialFiles::refuse);

  InputFile(InputFile&&) noexcept;
  InputFile& operator=(InputFile&&) noexcept;
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile();

  const std::string& path() const;

  bool exists(const std::string& object) const;
  bool is_group(const std::string& object) const;
  bool is_dataset(const std::string& object) const;
  /// Every group and dataset below the root, as absolute paths in natural order
  /// ("/t2" before "/t10").
  std::vector<std::string> list_objects() const;

  /// dtype, shape and chunking of a dataset; input error when it does not exist.
  DatasetInfo info(const std::string& dataset) const;
  /// Input error unless the dataset exists with this dtype and rank.
  void expect(const std::string& dataset, const std::string& dtype, std::size_t rank) const;
  /// Input error unless the dataset exists with this dtype and shape; -1 in `shape` matches any
  /// length (e.g. {-1, 16, 16}: any number of 16x16 samples).
  void expect(const std::string& dataset, const std::string& dtype,
              const std::vector<std::int64_t>& shape) const;

  // read and read_hyperslab exist for T = std::int8_t, std::int32_t, std::int64_t,
  // std::uint8_t, std::uint64_t, float and double.

  /// The whole dataset in C order. T must match the stored dtype exactly (int8 for
  /// std::int8_t, float64 for double, ...); otherwise an input error.
  template <class T>
  std::vector<T> read(const std::string& dataset) const;
  /// The box [offset, offset + count) of the dataset in C order.
  template <class T>
  std::vector<T> read_hyperslab(const std::string& dataset,
                                const std::vector<std::uint64_t>& offset,
                                const std::vector<std::uint64_t>& count) const;

  bool has_attribute(const std::string& object, const std::string& name) const;
  std::vector<std::string> attribute_names(const std::string& object) const;
  /// Numeric attribute (integer or float) holding one value, as double.
  double attribute_double(const std::string& object, const std::string& name) const;
  /// Integer attribute holding one value (an unsigned value above 2^63 is an error).
  std::int64_t attribute_int(const std::string& object, const std::string& name) const;
  std::uint64_t attribute_uint(const std::string& object, const std::string& name) const;
  std::string attribute_string(const std::string& object, const std::string& name) const;
  std::vector<double> attribute_doubles(const std::string& object, const std::string& name) const;
  std::vector<std::int64_t> attribute_ints(const std::string& object,
                                           const std::string& name) const;

 private:
  explicit InputFile(std::unique_ptr<detail::InputFileState> state);
  friend const detail::InputFileState& detail::state_of(const InputFile& file);
  std::unique_ptr<detail::InputFileState> state_;
};

}  // namespace phyflow::io
