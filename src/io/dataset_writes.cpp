// Shared creation and collective box writes of the io module's datasets (see the header).
#include "dataset_writes.hpp"

namespace phyflow::io::detail {

Handle create_chunked_dataset(hid_t file, const std::string& path, hid_t file_type,
                              const std::vector<hsize_t>& dims,
                              const std::vector<hsize_t>& max_dims,
                              const std::vector<hsize_t>& chunk, const std::string& meaning,
                              const std::string& units, const std::string& where) {
  Handle space =
      dataspace(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), max_dims.data()));
  Handle dcpl = property_list(H5P_DATASET_CREATE);
  check(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()),
        "H5Pset_chunk failed for dataset " + where);
  H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
  H5Pset_obj_track_times(dcpl.get(), false);
  Handle set = dataset(H5Dcreate2(file, path.c_str(), file_type, space.get(), H5P_DEFAULT,
                                  dcpl.get(), H5P_DEFAULT));
  if (!set) throw runtime_error("cannot create dataset " + where + hdf5_reason());
  if (!write_string_attribute(set.get(), "meaning", meaning) ||
      !write_string_attribute(set.get(), "units", units))
    throw runtime_error("cannot write meaning/units attributes of dataset " + where +
                        hdf5_reason());
  return set;
}

void write_box_collectively(const OutputFileState& file, hid_t set, hid_t mem_type, bool writes,
                            const std::vector<hsize_t>& start, const std::vector<hsize_t>& count,
                            const void* data, const std::string& what, const std::string& where) {
  Handle file_space = dataspace(H5Dget_space(set));
  Handle mem_space;
  if (writes) {
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                        nullptr);
    mem_space = dataspace(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr));
  } else {
    // Nothing to write, but the collective write needs every rank.
    H5Sselect_none(file_space.get());
    const hsize_t one = 1;
    mem_space = dataspace(H5Screate_simple(1, &one, nullptr));
    H5Sselect_none(mem_space.get());
  }
  const herr_t status =
      H5Dwrite(set, mem_type, mem_space.get(), file_space.get(), file.transfer.get(), data);
  const std::string reason = status < 0 ? hdf5_reason() : std::string();
  if (!all_succeeded(file.comm, status >= 0))
    throw runtime_error("cannot write " + what + " dataset " + where + reason +
                        " (is the disk full?)");
}

}  // namespace phyflow::io::detail
