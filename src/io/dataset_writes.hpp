// Private to the io module: the pieces AppendableDataset and BoxDataset share -- creating a
// chunked dataset with its meaning/units, and one collective write of this rank's box.
#pragma once

#include "attributes.hpp"
#include "hdf5_handle.hpp"
#include "output_file_state.hpp"

#include <string>
#include <type_traits>
#include <vector>

namespace phyflow::io::detail {

/// The little-endian file type of T: the same bytes whichever machine wrote the file.
template <class T>
hid_t little_endian_type() {
  if constexpr (std::is_same_v<T, double>) return H5T_IEEE_F64LE;
  if constexpr (std::is_same_v<T, float>) return H5T_IEEE_F32LE;
  if constexpr (std::is_same_v<T, std::int8_t>) return H5T_STD_I8LE;
  if constexpr (std::is_same_v<T, std::uint8_t>) return H5T_STD_U8LE;
  if constexpr (std::is_same_v<T, std::int32_t>) return H5T_STD_I32LE;
  if constexpr (std::is_same_v<T, std::int64_t>) return H5T_STD_I64LE;
  return native_type<T>();
}

/// Creates a chunked dataset of `file_type` (dims, max_dims, chunk of equal rank) with the
/// attributes meaning and units. No fill values: every element is written before it is read,
/// and filling first would double the I/O. Throws runtime_error naming `where`.
Handle create_chunked_dataset(hid_t file, const std::string& path, hid_t file_type,
                              const std::vector<hsize_t>& dims,
                              const std::vector<hsize_t>& max_dims,
                              const std::vector<hsize_t>& chunk, const std::string& meaning,
                              const std::string& units, const std::string& where);

/// One collective H5Dwrite: this rank writes the box [start, start + count) from `data`, or,
/// when !writes, takes part with an empty selection. The verdict is agreed over the file's
/// communicator; failure throws runtime_error "cannot write <what>" naming `where`.
void write_box_collectively(const OutputFileState& file, hid_t dataset, hid_t mem_type,
                            bool writes, const std::vector<hsize_t>& start,
                            const std::vector<hsize_t>& count, const void* data,
                            const std::string& what, const std::string& where);

}  // namespace phyflow::io::detail
