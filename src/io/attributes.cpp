// Attribute reading and writing shared by the io module (see attributes.hpp).
#include "attributes.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace phyflow::io::detail {

namespace {

bool remove_existing(hid_t object, const std::string& name) {
  const htri_t exists = H5Aexists(object, name.c_str());
  if (exists < 0) return false;
  if (exists > 0 && H5Adelete(object, name.c_str()) < 0) return false;
  return true;
}

}  // namespace

bool write_numeric_attribute(hid_t object, const std::string& name, hid_t mem_type,
                             const void* data, std::size_t n, bool scalar) {
  if (!remove_existing(object, name)) return false;
  const hsize_t dims[1] = {static_cast<hsize_t>(n)};
  Handle space = dataspace(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, nullptr));
  if (!space) return false;
  // Stored little-endian with the width of the C++ type, whatever machine wrote it.
  hid_t file_type = mem_type;
  if (H5Tequal(mem_type, H5T_NATIVE_DOUBLE) > 0)
    file_type = H5T_IEEE_F64LE;
  else if (H5Tequal(mem_type, H5T_NATIVE_INT64) > 0)
    file_type = H5T_STD_I64LE;
  else if (H5Tequal(mem_type, H5T_NATIVE_UINT64) > 0)
    file_type = H5T_STD_U64LE;
  Handle attr =
      attribute(H5Acreate2(object, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attr) return false;
  // An empty list has nothing to write, and HDF5 rejects a null buffer.
  if (n == 0) return true;
  return H5Awrite(attr.get(), mem_type, data) >= 0;
}

bool write_string_attribute(hid_t object, const std::string& name, const std::string& value) {
  if (!remove_existing(object, name)) return false;
  Handle type = datatype(H5Tcopy(H5T_C_S1));
  if (!type) return false;
  // HDF5 rejects zero-size string types; an empty string is stored as one NUL byte.
  if (H5Tset_size(type.get(), value.empty() ? 1 : value.size()) < 0) return false;
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space = dataspace(H5Screate(H5S_SCALAR));
  Handle attr = attribute(
      H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attr) return false;
  const char nul = '\0';
  return H5Awrite(attr.get(), type.get(), value.empty() ? &nul : value.data()) >= 0;
}

namespace {
herr_t collect_name(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> attribute_names(hid_t object) {
  std::vector<std::string> names;
  hsize_t index = 0;
  if (H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, collect_name, &names) < 0)
    throw runtime_error("cannot list attributes" + hdf5_reason());
  return names;
}

namespace {

std::string read_string_attribute(hid_t attr, hid_t file_type, hid_t space, std::size_t n) {
  std::string joined;
  if (H5Tis_variable_str(file_type) > 0) {
    // Written by h5py and friends: an array of char* owned by HDF5 until H5Dvlen_reclaim.
    Handle mem = datatype(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(file_type));
    std::vector<char*> ptrs(n, nullptr);
    if (n > 0 && H5Aread(attr, mem.get(), ptrs.data()) < 0)
      throw runtime_error("cannot read string attribute" + hdf5_reason());
    for (std::size_t i = 0; i < n; ++i) {
      if (i) joined += '\n';
      if (ptrs[i] != nullptr) joined += ptrs[i];
    }
    if (n > 0) {
#if H5_VERSION_GE(1, 12, 0)
      H5Treclaim(mem.get(), space, H5P_DEFAULT, ptrs.data());
#else
      H5Dvlen_reclaim(mem.get(), space, H5P_DEFAULT, ptrs.data());
#endif
    }
    return joined;
  }
  const std::size_t width = H5Tget_size(file_type);
  std::vector<char> buffer(width * n + 1, '\0');
  Handle mem = datatype(H5Tcopy(file_type));
  if (n > 0 && H5Aread(attr, mem.get(), buffer.data()) < 0)
    throw runtime_error("cannot read string attribute" + hdf5_reason());
  for (std::size_t i = 0; i < n; ++i) {
    if (i) joined += '\n';
    const char* s = buffer.data() + i * width;
    joined.append(s, strnlen(s, width));
  }
  return joined;
}

}  // namespace

AttributeValue read_attribute(hid_t object, const std::string& name) {
  Handle attr = attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT));
  if (!attr) throw runtime_error("cannot open attribute '" + name + "'" + hdf5_reason());
  Handle type = datatype(H5Aget_type(attr.get()));
  Handle space = dataspace(H5Aget_space(attr.get()));
  const hssize_t npoints = H5Sget_simple_extent_npoints(space.get());
  if (npoints < 0) throw runtime_error("cannot read attribute '" + name + "'" + hdf5_reason());
  const auto n = static_cast<std::size_t>(npoints);

  AttributeValue value;
  value.dtype = dtype_name(type.get());
  value.is_scalar = H5Sget_simple_extent_type(space.get()) == H5S_SCALAR;
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls == H5T_STRING) {
    value.is_string = true;
    value.text = read_string_attribute(attr.get(), type.get(), space.get(), n);
    return value;
  }
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    throw runtime_error("attribute '" + name + "' has unsupported type " + value.dtype);

  value.raw.resize(n * H5Tget_size(type.get()));
  if (n > 0 && H5Aread(attr.get(), type.get(), value.raw.data()) < 0)
    throw runtime_error("cannot read attribute '" + name + "'" + hdf5_reason());
  value.numbers.resize(n);
  if (n > 0 && H5Aread(attr.get(), H5T_NATIVE_DOUBLE, value.numbers.data()) < 0)
    throw runtime_error("cannot read attribute '" + name + "'" + hdf5_reason());
  if (cls == H5T_INTEGER) {
    value.is_integer = true;
    value.is_unsigned = H5Tget_sign(type.get()) == H5T_SGN_NONE;
    if (value.is_unsigned) {
      value.unsigned_integers.resize(n);
      if (n > 0 && H5Aread(attr.get(), H5T_NATIVE_UINT64, value.unsigned_integers.data()) < 0)
        throw runtime_error("cannot read attribute '" + name + "'" + hdf5_reason());
    } else {
      value.integers.resize(n);
      if (n > 0 && H5Aread(attr.get(), H5T_NATIVE_INT64, value.integers.data()) < 0)
        throw runtime_error("cannot read attribute '" + name + "'" + hdf5_reason());
    }
  }
  return value;
}

std::string attribute_text(const AttributeValue& value) {
  if (value.is_string) return "\"" + value.text + "\"";
  std::ostringstream out;
  const std::size_t n = value.numbers.size();
  if (!value.is_scalar) out << '[';
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out << ", ";
    if (value.is_integer && value.is_unsigned) {
      out << value.unsigned_integers[i];
    } else if (value.is_integer) {
      out << value.integers[i];
    } else {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "%.17g", value.numbers[i]);
      // Shortest text that reads back to the same double.
      for (int digits = 6; digits < 17; ++digits) {
        char shorter[32];
        std::snprintf(shorter, sizeof shorter, "%.*g", digits, value.numbers[i]);
        if (std::strtod(shorter, nullptr) == value.numbers[i]) {
          std::memcpy(buffer, shorter, sizeof shorter);
          break;
        }
      }
      out << buffer;
    }
  }
  if (!value.is_scalar) out << ']';
  return out.str();
}

}  // namespace phyflow::io::detail
