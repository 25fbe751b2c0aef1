// Private to the io module: RAII ownership of HDF5 identifiers, the mapping from C++ element
// types to HDF5 types, and the conversion of HDF5's error stack into phyflow::Error.
// Only src/io/*.cpp include this file, so hdf5.h stays out of phyflow's public headers.
#pragma once

#include "phyflow/core/error.hpp"

#include <hdf5.h>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace phyflow::io::detail {

/// Turns off HDF5's automatic error printing (once per process): every failure reaches the
/// user as one phyflow::Error instead of a page of HDF5-DIAG lines from every rank.
void silence_hdf5_errors();

/// The innermost description on HDF5's error stack ("" when empty), e.g. "truncated file".
std::string hdf5_error_detail();

/// " (HDF5: <detail>)" or "" -- appended to messages about failed HDF5 calls.
std::string hdf5_reason();

/// The one message for an input file HDF5 cannot read, whatever is broken (truncated, corrupt
/// superblock or object headers, not HDF5 at all): "cannot read 'FILE': WHAT: the file is
/// corrupt, truncated or not an HDF5 file; re-create it, or check that the path names the
/// right file". WHAT says what failed, with HDF5's reason.
std::string unreadable_file_message(const std::string& file, const std::string& what);

/// Owns one hid_t and closes it with the matching H5?close on destruction.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), closer_(other.closer_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
      closer_ = other.closer_;
    }
    return *this;
  }
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  explicit operator bool() const { return valid(); }
  /// Closes now; the error code is returned so that a close that flushes data can be checked.
  herr_t reset() {
    herr_t status = 0;
    if (id_ >= 0 && closer_ != nullptr) status = closer_(id_);
    id_ = H5I_INVALID_HID;
    return status;
  }
  /// Forgets the id without closing it (the file close already closed it).
  void release() { id_ = H5I_INVALID_HID; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

inline Handle property_list(hid_t cls) { return Handle(H5Pcreate(cls), H5Pclose); }
inline Handle dataspace(hid_t id) { return Handle(id, H5Sclose); }
inline Handle datatype(hid_t id) { return Handle(id, H5Tclose); }
inline Handle dataset(hid_t id) { return Handle(id, H5Dclose); }
inline Handle group(hid_t id) { return Handle(id, H5Gclose); }
inline Handle attribute(hid_t id) { return Handle(id, H5Aclose); }
inline Handle object(hid_t id) { return Handle(id, H5Oclose); }

/// Throws runtime_error(what + HDF5's reason) when status < 0.
inline void check(herr_t status, const std::string& what) {
  if (status < 0) throw runtime_error(what + hdf5_reason());
}

/// The HDF5 native type of a C++ arithmetic type.
template <class T>
hid_t native_type() {
  static_assert(std::is_arithmetic_v<T>, "HDF5 element types are arithmetic");
  if constexpr (std::is_same_v<T, double>) {
    return H5T_NATIVE_DOUBLE;
  } else if constexpr (std::is_same_v<T, float>) {
    return H5T_NATIVE_FLOAT;
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    if constexpr (sizeof(T) == 1) return H5T_NATIVE_INT8;
    if constexpr (sizeof(T) == 2) return H5T_NATIVE_INT16;
    if constexpr (sizeof(T) == 4) return H5T_NATIVE_INT32;
    if constexpr (sizeof(T) == 8) return H5T_NATIVE_INT64;
  } else {
    if constexpr (sizeof(T) == 1) return H5T_NATIVE_UINT8;
    if constexpr (sizeof(T) == 2) return H5T_NATIVE_UINT16;
    if constexpr (sizeof(T) == 4) return H5T_NATIVE_UINT32;
    if constexpr (sizeof(T) == 8) return H5T_NATIVE_UINT64;
  }
}

/// phyflow's name of a stored type: "int8", "uint16", "float64", "string", ... or the HDF5
/// class name for anything else ("compound", "enum", ...).
std::string dtype_name(hid_t type);

/// dtype_name of a C++ element type.
template <class T>
std::string dtype_name_of() {
  return dtype_name(native_type<T>());
}

/// hsize_t vector from the public std::uint64_t vectors (same width on every platform HDF5
/// supports, but spelled out so nothing depends on it).
inline std::vector<hsize_t> to_hsize(const std::vector<std::uint64_t>& v) {
  return std::vector<hsize_t>(v.begin(), v.end());
}
inline std::vector<std::uint64_t> to_u64(const std::vector<hsize_t>& v) {
  return std::vector<std::uint64_t>(v.begin(), v.end());
}

/// "[10, 16, 16]"
std::string shape_text(const std::vector<std::uint64_t>& shape);

/// Current extent of a dataset.
std::vector<std::uint64_t> dataset_shape(hid_t dataset);

/// Whether "/a/b/c" exists (a group or dataset) relative to the file root; checks each
/// component so a missing parent is "does not exist" rather than an HDF5 error. A look-up
/// HDF5 cannot do (corrupt metadata) is a runtime error.
bool object_exists(hid_t file, const std::string& path);

/// Normalises an object path: "" and "/" are the root, "a/b" becomes "/a/b", no trailing '/'.
std::string normalize_path(const std::string& path);

}  // namespace phyflow::io::detail
