// Private to the io module: writing and reading HDF5 attributes (numbers, number lists and
// strings), shared by OutputFile (writing), InputFile (reading), inspect and compare.
#pragma once

#include "hdf5_handle.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace phyflow::io::detail {

/// Writes (replacing any existing attribute of that name) `n` values of `mem_type` on the open
/// object; `scalar` stores a scalar dataspace instead of a 1-element list.
/// Returns false on failure (the caller phrases the message).
bool write_numeric_attribute(hid_t object, const std::string& name, hid_t mem_type,
                             const void* data, std::size_t n, bool scalar);

/// Writes a fixed-length, NUL-padded UTF-8 string attribute (replacing any existing one).
/// Fixed length keeps the bytes identical however many ranks wrote the file.
bool write_string_attribute(hid_t object, const std::string& name, const std::string& value);

/// Names of all attributes of an open object, in name order.
std::vector<std::string> attribute_names(hid_t object);

/// A read attribute: its type class and values, for messages, inspect and compare.
struct AttributeValue {
  std::string dtype;  ///< dtype_name of the stored type
  bool is_string = false;
  bool is_scalar = false;       ///< scalar dataspace (not a list)
  std::string text;             ///< string attributes (lists joined with '\n')
  std::vector<double> numbers;  ///< numeric attributes converted to double
  bool is_integer = false, is_unsigned = false;
  std::vector<std::int64_t> integers;            ///< signed integer attributes, exactly
  std::vector<std::uint64_t> unsigned_integers;  ///< unsigned integer attributes, exactly
  std::vector<unsigned char> raw;                ///< numeric attributes' stored bytes (for compare)
};

/// Reads any string or numeric attribute; throws runtime_error for other classes.
AttributeValue read_attribute(hid_t object, const std::string& name);

/// One-line rendering: strings quoted when short, numbers with full precision.
std::string attribute_text(const AttributeValue& value);

}  // namespace phyflow::io::detail
