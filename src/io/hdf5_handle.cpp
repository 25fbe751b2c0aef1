// HDF5 plumbing shared by the io module: quiet error handling, type names, paths.
#include "hdf5_handle.hpp"

#include <mutex>
#include <sstream>

namespace phyflow::io::detail {

void silence_hdf5_errors() {
  static std::once_flag once;
  std::call_once(once, [] {
    // H5open makes sure the library (and its default error stack) exists before we touch it.
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  });
}

namespace {
// H5Ewalk visits from the innermost (where it went wrong) outwards; keep the innermost
// description that says something, the outer ones are "unable to open file" wrappers.
herr_t keep_innermost(unsigned n, const H5E_error2_t* error, void* data) {
  auto* out = static_cast<std::string*>(data);
  if (n == 0 && error != nullptr && error->desc != nullptr) *out = error->desc;
  return 0;
}
}  // namespace

std::string hdf5_error_detail() {
  std::string detail;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, &detail);
  H5Eclear2(H5E_DEFAULT);
  return detail;
}

std::string hdf5_reason() {
  const std::string detail = hdf5_error_detail();
  return detail.empty() ? std::string() : " (HDF5: " + detail + ")";
}

std::string unreadable_file_message(const std::string& file, const std::string& what) {
  return "cannot read '" + file + "': " + what +
         ": the file is corrupt, truncated or not an HDF5 file; re-create it, or check that the "
         "path names the right file";
}

std::string dtype_name(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const std::size_t bits = 8 * H5Tget_size(type);
  switch (cls) {
    case H5T_INTEGER:
      return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
    case H5T_FLOAT:
      return "float" + std::to_string(bits);
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_ARRAY:
      return "array";
    case H5T_VLEN:
      return "vlen";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_REFERENCE:
      return "reference";
    default:
      return "unknown";
  }
}

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

std::vector<std::uint64_t> dataset_shape(hid_t dataset) {
  Handle space = dataspace(H5Dget_space(dataset));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) throw runtime_error("cannot read a dataset's extent" + hdf5_reason());
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return to_u64(dims);
}

std::string normalize_path(const std::string& path) {
  std::string out = "/";
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    const std::size_t end = path.find('/', i);
    const std::string part = path.substr(i, end == std::string::npos ? std::string::npos : end - i);
    if (!part.empty()) out += (out.size() > 1 ? "/" : "") + part;
    if (end == std::string::npos) break;
    i = end;
  }
  return out;
}

bool object_exists(hid_t file, const std::string& path) {
  const std::string p = normalize_path(path);
  if (p == "/") return true;
  // H5Lexists fails (rather than saying false) when a parent is missing: walk down.
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = p.find('/', pos + 1);
    const std::string prefix = p.substr(0, pos);
    const htri_t exists = H5Lexists(file, prefix.c_str(), H5P_DEFAULT);
    // With its parent group known to exist, a failed look-up is unreadable metadata.
    if (exists < 0) throw runtime_error("cannot look up '" + prefix + "'" + hdf5_reason());
    if (exists == 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    if (pos != std::string::npos) {
      // The prefix must be a group for the walk to go on.
      Handle obj = object(H5Oopen(file, prefix.c_str(), H5P_DEFAULT));
      if (!obj || H5Iget_type(obj.get()) != H5I_GROUP) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
    }
  }
  return true;
}

}  // namespace phyflow::io::detail
