// Block-wise streaming of datasets along axis 0 (see dataset_blocks.hpp).
#include "dataset_blocks.hpp"

#include <algorithm>

namespace phyflow::io::detail {

BlockReader::BlockReader(hid_t dataset, hid_t mem_type, std::size_t block_bytes, std::string file,
                         std::string object)
    : dataset_(dataset), mem_type_(mem_type), file_(std::move(file)), object_(std::move(object)) {
  shape_ = dataset_shape(dataset);
  for (std::size_t i = 1; i < shape_.size(); ++i) row_elements_ *= shape_[i];
  rows_ = shape_.empty() ? 1 : shape_[0];
  if (row_elements_ == 0) rows_ = 0;
  const std::uint64_t row_bytes = std::max<std::uint64_t>(1, row_elements_ * H5Tget_size(mem_type));
  rows_per_block_ = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(block_bytes) / row_bytes);
  buffer_.resize(std::min(rows_, rows_per_block_) * row_elements_ * H5Tget_size(mem_type));
  file_space_ = dataspace(H5Dget_space(dataset));
}

bool BlockReader::next() {
  const std::uint64_t start_row = started_ ? first_row_ + rows_in_block_ : 0;
  started_ = true;
  first_row_ = start_row;
  rows_in_block_ = 0;
  if (start_row >= rows_) return false;
  rows_in_block_ = std::min(rows_per_block_, rows_ - start_row);
  herr_t status = 0;
  if (shape_.empty()) {
    status = H5Dread(dataset_, mem_type_, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer_.data());
  } else {
    std::vector<hsize_t> start(shape_.size(), 0), count = to_hsize(shape_);
    start[0] = start_row;
    count[0] = rows_in_block_;
    H5Sselect_hyperslab(file_space_.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                        nullptr);
    Handle mem_space =
        dataspace(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr));
    status = H5Dread(dataset_, mem_type_, mem_space.get(), file_space_.get(), H5P_DEFAULT,
                     buffer_.data());
  }
  if (status < 0)
    throw input_error(
        unreadable_file_message(file_, "cannot read dataset '" + object_ + "'" + hdf5_reason()));
  return true;
}

}  // namespace phyflow::io::detail
