// phyflow::io::OutputFile: one HDF5 file written collectively by all ranks of a communicator
// (DESIGN.md §7). It is written as `PATH.partial` and renamed to PATH only by commit(), so a
// file named PATH is always complete; checkpoints use the same class (see docs/hdf5_layer.md).
#pragma once

#include "phyflow/io/parallel_io_config.hpp"
#include "phyflow/io/provenance.hpp"

#include <mpi.h>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace phyflow::io {

namespace detail {
struct OutputFileState;
}  // namespace detail

template <class T>
class AppendableDataset;
template <class T>
class BoxDataset;

/// Every member function except the accessors is collective: all ranks of comm() call it in
/// the same order with the same arguments (HDF5 metadata is collective). A failure throws
/// phyflow::Error naming the file, the object and the fix.
class OutputFile {
 public:
  /// Creates `path + ".partial"` (truncating a stale one when `overwrite`). Refuses with an
  /// input error when `path` exists and !overwrite, when a `.partial` from an interrupted run
  /// exists and !overwrite, or when the directory is missing or not writable. An existing
  /// `path` is left in place until commit() replaces it atomically (rename), so overwrite +
  /// commit is also how a checkpoint replaces the previous one.
  static OutputFile create(MPI_Comm comm, const std::string& path, bool overwrite,
                           const ParallelIOConfig& config = {});

  /// Opens the `path + ".partial"` left by an interrupted run read-write (for --restart).
  static OutputFile reopen_partial(MPI_Comm comm, const std::string& path,
                                   const ParallelIOConfig& config = {});

  OutputFile(OutputFile&&) noexcept;
  OutputFile& operator=(OutputFile&&) noexcept;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  /// Closes the file (collectively) and leaves the `.partial` in place. When the destructor
  /// runs during exception unwinding it skips the collective close, which could deadlock if
  /// only this rank failed; HDF5 closes the file at MPI_Finalize or the job is aborted.
  ~OutputFile();

  /// Flushes, closes, then renames PATH.partial -> PATH (rank 0, after a barrier); every rank
  /// returns once the rename is done. Datasets of this file become unusable.
  void commit();
  /// Closes without renaming: the `.partial` stays (used for tests and interrupted runs).
  void close();
  /// Pushes buffered data and metadata to the file (H5Fflush): call before writing a
  /// checkpoint so the `.partial` on disk matches it.
  void flush();

  bool is_open() const;
  const std::string& path() const;          ///< the final path (after commit)
  const std::string& partial_path() const;  ///< path + ".partial" (while writing)
  MPI_Comm comm() const;                    ///< this file's own duplicate of the communicator
  int rank() const;
  int size() const;
  const ParallelIOConfig& config() const;

  /// Creates a group and any missing parents ("/t0", "a/b/c"); an existing group is fine.
  void create_group(const std::string& path);
  /// Whether a group or dataset exists at `path` ("/" always does).
  bool exists(const std::string& path);

  /// Sets an attribute on a group or dataset ("/" is the root), replacing an older value.
  /// Value types: any integer (stored int64, or uint64 when unsigned), float/double (float64),
  /// std::string / string literal, std::vector of integers or floating point (1-D lists).
  /// The value must be identical on all ranks.
  template <class V>
  void set_attribute(const std::string& object, const std::string& name, const V& value);

  /// Root attributes: phyflow_version, git_sha, workflow, deck, deck_resolved, seed,
  /// mpi_ranks, kokkos_backend, created_utc (ISO 8601, UTC), hdf5_version.
  void write_provenance(const Provenance& provenance);

  /// A small fixed-size dataset (contiguous, not extendible) holding `data`, which must be
  /// identical on all ranks (rank 0 writes it). shape {} is a scalar. Attributes meaning/units.
  template <class T>
  void write_array(const std::string& path, const T* data, const std::vector<std::uint64_t>& shape,
                   const std::string& meaning, const std::string& units);

 private:
  explicit OutputFile(std::shared_ptr<detail::OutputFileState> state);
  template <class T>
  friend class AppendableDataset;
  template <class T>
  friend class BoxDataset;

  enum class NumberKind { int64, uint64, float64 };
  void put_number_attribute(const std::string& object, const std::string& name, NumberKind kind,
                            const void* data, std::size_t n, bool scalar);
  void put_string_attribute(const std::string& object, const std::string& name,
                            const std::string& value);
  void write_array_bytes(const std::string& path, const void* data, int element_kind,
                         const std::vector<std::uint64_t>& shape, const std::string& meaning,
                         const std::string& units);

  std::shared_ptr<detail::OutputFileState> state_;
};

// ---- template implementations ----------------------------------------------------------------

namespace detail {
template <class V>
struct is_std_vector : std::false_type {};
template <class E, class A>
struct is_std_vector<std::vector<E, A>> : std::true_type {};
template <class>
inline constexpr bool always_false = false;
/// Element kinds write_array supports (matching AppendableDataset).
template <class T>
constexpr int element_kind() {
  if constexpr (std::is_same_v<T, std::int8_t>)
    return 0;
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return 1;
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return 2;
  else if constexpr (std::is_same_v<T, float>)
    return 3;
  else if constexpr (std::is_same_v<T, double>)
    return 4;
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return 5;
  else if constexpr (std::is_same_v<T, std::uint64_t>)
    return 6;
  else
    static_assert(always_false<T>,
                  "write_array supports int8, int32, int64, uint8, uint64, "
                  "float and double elements");
}
}  // namespace detail

template <class V>
void OutputFile::set_attribute(const std::string& object, const std::string& name, const V& value) {
  if constexpr (std::is_same_v<V, bool> || (std::is_integral_v<V> && std::is_signed_v<V>)) {
    const std::int64_t v = static_cast<std::int64_t>(value);
    put_number_attribute(object, name, NumberKind::int64, &v, 1, true);
  } else if constexpr (std::is_integral_v<V>) {
    const std::uint64_t v = value;
    put_number_attribute(object, name, NumberKind::uint64, &v, 1, true);
  } else if constexpr (std::is_floating_point_v<V>) {
    const double v = static_cast<double>(value);
    put_number_attribute(object, name, NumberKind::float64, &v, 1, true);
  } else if constexpr (std::is_convertible_v<const V&, std::string>) {
    put_string_attribute(object, name, std::string(value));
  } else if constexpr (detail::is_std_vector<V>::value) {
    using E = typename V::value_type;
    if constexpr (std::is_integral_v<E> && std::is_signed_v<E>) {
      const std::vector<std::int64_t> v(value.begin(), value.end());
      put_number_attribute(object, name, NumberKind::int64, v.data(), v.size(), false);
    } else if constexpr (std::is_integral_v<E>) {
      const std::vector<std::uint64_t> v(value.begin(), value.end());
      put_number_attribute(object, name, NumberKind::uint64, v.data(), v.size(), false);
    } else if constexpr (std::is_floating_point_v<E>) {
      const std::vector<double> v(value.begin(), value.end());
      put_number_attribute(object, name, NumberKind::float64, v.data(), v.size(), false);
    } else {
      static_assert(detail::always_false<V>, "attribute lists hold integers or floating point");
    }
  } else {
    static_assert(detail::always_false<V>,
                  "attribute values: integers, floating point, strings, or std::vector of "
                  "integers or floating point");
  }
}

template <class T>
void OutputFile::write_array(const std::string& path, const T* data,
                             const std::vector<std::uint64_t>& shape, const std::string& meaning,
                             const std::string& units) {
  write_array_bytes(path, data, detail::element_kind<T>(), shape, meaning, units);
}

}  // namespace phyflow::io
