// BoxDataset<T>: collective box writes into a fixed-shape chunked dataset (see the header).
#include "phyflow/io/box_dataset.hpp"

#include "attributes.hpp"
#include "dataset_writes.hpp"
#include "output_file_state.hpp"

#include <algorithm>
#include <exception>

namespace phyflow::io {

template <class T>
struct BoxDataset<T>::State {
  std::shared_ptr<detail::OutputFileState> file;
  detail::Handle dataset;
  std::string path;
  std::vector<std::uint64_t> shape;
  int uncaught_at_creation = 0;

  std::string where() const { return file->where(path); }
};


template <class T>
BoxDataset<T>::BoxDataset(std::unique_ptr<State> state) : state_(std::move(state)) {}

template <class T>
BoxDataset<T>::BoxDataset(OutputFile& file, const std::string& path,
                          const std::vector<std::uint64_t>& shape,
                          const std::vector<std::uint64_t>& chunk, const std::string& meaning,
                          const std::string& units)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.file = file.state_;
  s.path = detail::normalize_path(path);
  s.shape = shape;
  s.uncaught_at_creation = std::uncaught_exceptions();
  const hid_t fid = s.file->require_open("create dataset " + s.where());
  bool chunk_ok = chunk.size() == shape.size() && !shape.empty();
  for (std::size_t i = 0; chunk_ok && i < shape.size(); ++i)
    chunk_ok = shape[i] >= 1 && chunk[i] >= 1 && chunk[i] <= shape[i];
  if (!chunk_ok)
    throw runtime_error("cannot create dataset " + s.where() + " of shape " +
                        detail::shape_text(shape) + " with chunks " + detail::shape_text(chunk) +
                        ": every axis needs length >= 1 and a chunk within it");
  if (detail::object_exists(fid, s.path))
    throw runtime_error("cannot create dataset " + s.where() +
                        ": it exists already (use BoxDataset::open to continue it)");
  const std::size_t slash = s.path.find_last_of('/');
  if (slash > 0) file.create_group(s.path.substr(0, slash));

  const std::vector<hsize_t> dims(shape.begin(), shape.end());
  const std::vector<hsize_t> chunk_dims(chunk.begin(), chunk.end());
  s.dataset = detail::create_chunked_dataset(fid, s.path, detail::little_endian_type<T>(), dims,
                                             dims, chunk_dims, meaning, units, s.where());
}

template <class T>
BoxDataset<T> BoxDataset<T>::open(OutputFile& file, const std::string& path,
                                  const std::vector<std::uint64_t>& expected_shape) {
  auto state = std::make_unique<State>();
  State& s = *state;
  s.file = file.state_;
  s.path = detail::normalize_path(path);
  s.uncaught_at_creation = std::uncaught_exceptions();
  const hid_t fid = s.file->require_open("open dataset " + s.where());
  if (!detail::object_exists(fid, s.path))
    throw input_error("cannot continue dataset " + s.where() +
                      ": it does not exist (was the .partial file written by another deck?); "
                      "start again with --overwrite");
  s.dataset = detail::dataset(H5Dopen2(fid, s.path.c_str(), H5P_DEFAULT));
  if (!s.dataset) throw runtime_error("cannot open dataset " + s.where() + detail::hdf5_reason());
  detail::Handle type = detail::datatype(H5Dget_type(s.dataset.get()));
  detail::Handle space = detail::dataspace(H5Dget_space(s.dataset.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  s.shape = detail::to_u64(dims);
  const std::string found = detail::dtype_name(type.get());
  const std::string wanted = detail::dtype_name_of<T>();
  if (found != wanted || s.shape != expected_shape)
    throw input_error("cannot continue dataset " + s.where() + ": it is " + found + " " +
                      detail::shape_text(s.shape) + ", this deck writes " + wanted + " " +
                      detail::shape_text(expected_shape) + "; start again with --overwrite");
  return BoxDataset(std::move(state));
}

template <class T>
BoxDataset<T>::BoxDataset(BoxDataset&&) noexcept = default;
template <class T>
BoxDataset<T>& BoxDataset<T>::operator=(BoxDataset&&) noexcept = default;

template <class T>
BoxDataset<T>::~BoxDataset() {
  if (!state_) return;
  // As AppendableDataset: no HDF5 call that might synchronise after commit/close or while
  // unwinding an exception.
  if (!state_->file->is_open() || std::uncaught_exceptions() > state_->uncaught_at_creation)
    state_->dataset.release();
}

template <class T>
void BoxDataset<T>::write(const std::vector<std::uint64_t>& offset,
                          const std::vector<std::uint64_t>& count, const T* local) {
  State& s = *state_;
  s.file->require_open("write to dataset " + s.where());
  const hid_t set = s.dataset.get();
  bool writes = count.size() == s.shape.size();
  for (auto c : count) writes = writes && c > 0;
  std::string problem;
  if (writes) {
    if (offset.size() != s.shape.size()) problem = "offset rank differs from the dataset's";
    for (std::size_t i = 0; problem.empty() && i < s.shape.size(); ++i)
      if (offset[i] + count[i] > s.shape[i])
        problem = "box at " + detail::shape_text(offset) + " of " + detail::shape_text(count) +
                  " reaches outside " + detail::shape_text(s.shape);
    if (problem.empty() && local == nullptr) problem = "null data on a rank that writes";
  }
  if (!detail::all_succeeded(s.file->comm, problem.empty()))
    throw runtime_error("write to dataset " + s.where() + ": " +
                        (problem.empty() ? std::string("another rank's box is invalid")
                                         : "rank " + std::to_string(s.file->rank) + ": " + problem));

  const std::vector<hsize_t> start(offset.begin(), offset.end()), n(count.begin(), count.end());
  detail::write_box_collectively(*s.file, set, detail::native_type<T>(), writes, start, n, local,
                                 "a box to", s.where());
}

template <class T>
const std::vector<std::uint64_t>& BoxDataset<T>::shape() const {
  return state_->shape;
}
template <class T>
const std::string& BoxDataset<T>::path() const {
  return state_->path;
}

template class BoxDataset<std::int8_t>;
template class BoxDataset<std::int32_t>;
template class BoxDataset<std::int64_t>;
template class BoxDataset<std::uint8_t>;
template class BoxDataset<float>;
template class BoxDataset<double>;

}  // namespace phyflow::io
