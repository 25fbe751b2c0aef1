// AppendableDataset<T>: collective, chunked, extendible sample series (see the header).
#include "phyflow/io/appendable_dataset.hpp"

#include "attributes.hpp"
#include "dataset_writes.hpp"
#include "output_file_state.hpp"

#include <algorithm>
#include <exception>

namespace phyflow::io {

// ---- SampleBlock ------------------------------------------------------------------------------

SampleBlock SampleBlock::whole(const std::vector<std::uint64_t>& sample_shape) {
  return SampleBlock{std::vector<std::uint64_t>(sample_shape.size(), 0), sample_shape, true};
}

SampleBlock SampleBlock::none(std::size_t sample_rank) {
  return SampleBlock{std::vector<std::uint64_t>(sample_rank, 0),
                     std::vector<std::uint64_t>(sample_rank, 0), false};
}

SampleBlock SampleBlock::whole_if(bool this_rank_writes,
                                  const std::vector<std::uint64_t>& sample_shape) {
  return this_rank_writes ? whole(sample_shape) : none(sample_shape.size());
}

std::uint64_t SampleBlock::elements() const {
  if (!writes) return 0;
  std::uint64_t n = 1;
  for (auto c : count) n *= c;
  return n;
}

// ---- chunk layout -------------------------------------------------------------------------------

namespace {
// HDF5 chunks must stay below 4 GiB; we keep them to 1 GiB so a chunk fits in memory easily.
constexpr std::uint64_t max_chunk_bytes = std::uint64_t{1} << 30;
// A chunk index entry per chunk costs metadata; more than this many samples per chunk buys
// nothing for reads along the sample axis.
constexpr std::uint64_t max_samples_per_chunk = std::uint64_t{1} << 20;
}  // namespace

std::uint64_t samples_per_chunk(std::uint64_t sample_bytes, std::size_t chunk_bytes,
                                std::uint64_t samples_hint) {
  std::uint64_t k = sample_bytes == 0 ? 1 : static_cast<std::uint64_t>(chunk_bytes) / sample_bytes;
  k = std::clamp<std::uint64_t>(k, 1, max_samples_per_chunk);
  if (samples_hint > 0) k = std::min(k, samples_hint);
  return k;
}

namespace {

/// Chunk dimensions [k, sample...]; a sample too large for one chunk is split along its
/// largest axes (only for samples above 1 GiB).
std::vector<hsize_t> chunk_dims(const std::vector<std::uint64_t>& sample_shape,
                                std::uint64_t element_bytes, const ParallelIOConfig& config,
                                std::uint64_t samples_hint) {
  std::uint64_t sample_bytes = element_bytes;
  for (auto d : sample_shape) sample_bytes *= d;
  std::vector<hsize_t> dims;
  dims.push_back(samples_per_chunk(sample_bytes, config.chunk_bytes, samples_hint));
  for (auto d : sample_shape) dims.push_back(d);
  auto bytes = [&] {
    std::uint64_t b = element_bytes;
    for (auto d : dims) b *= d;
    return b;
  };
  while (bytes() > max_chunk_bytes) {
    auto largest = std::max_element(dims.begin() + 1, dims.end());
    *largest = (*largest + 1) / 2;
  }
  return dims;
}

std::string block_text(const SampleBlock& block) {
  if (!block.writes) return "(nothing)";
  return "offset " + detail::shape_text(block.offset) + " count " + detail::shape_text(block.count);
}

/// The block fits the sample; returns "" or what is wrong.
std::string block_problem(const SampleBlock& block, const std::vector<std::uint64_t>& shape) {
  if (!block.writes) return {};
  if (block.offset.size() != shape.size() || block.count.size() != shape.size())
    return "block " + block_text(block) + " does not have the sample's rank " +
           std::to_string(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i)
    if (block.offset[i] + block.count[i] > shape[i])
      return "block " + block_text(block) + " reaches outside the sample shape " +
             detail::shape_text(shape);
  return {};
}

/// Every element of a sample is written by exactly one rank: otherwise some bytes would be
/// whatever the disk held (fill values are off) or two ranks would race for them.
std::string coverage_problem(MPI_Comm comm, const SampleBlock& block,
                             const std::vector<std::uint64_t>& shape) {
  const std::size_t d = shape.size();
  int size = 1;
  MPI_Comm_size(comm, &size);
  // Each rank's box as 2d numbers, an empty box (all counts 0) when it writes nothing.
  std::vector<std::uint64_t> mine(2 * d, 0), all(2 * d * static_cast<std::size_t>(size), 0);
  if (block.elements() > 0) {
    std::copy(block.offset.begin(), block.offset.end(), mine.begin());
    std::copy(block.count.begin(), block.count.end(), mine.begin() + static_cast<long>(d));
  }
  std::uint64_t total_written = block.elements();
  if (d > 0) {
    check_mpi(MPI_Allgather(mine.data(), static_cast<int>(2 * d), MPI_UINT64_T, all.data(),
                            static_cast<int>(2 * d), MPI_UINT64_T, comm),
              "MPI_Allgather");
  }
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, &total_written, 1, MPI_UINT64_T, MPI_SUM, comm),
            "MPI_Allreduce");
  std::uint64_t sample_elements = 1;
  for (auto s : shape) sample_elements *= s;
  if (total_written != sample_elements)
    return "the ranks' blocks cover " + std::to_string(total_written) +
           " elements of a sample of " + std::to_string(sample_elements) +
           " (each element must be written by exactly one rank; a series of scalars is written "
           "by one rank: SampleBlock::whole_if(rank == 0, {}))";
  // A scalar sample is covered once exactly when the count matches; boxes need the pairwise test.
  for (int a = 0; a < size && d > 0; ++a)
    for (int b = a + 1; b < size; ++b) {
      const std::uint64_t* pa = &all[2 * d * static_cast<std::size_t>(a)];
      const std::uint64_t* pb = &all[2 * d * static_cast<std::size_t>(b)];
      bool overlap = true;
      for (std::size_t i = 0; i < d && overlap; ++i) {
        const bool empty = pa[d + i] == 0 || pb[d + i] == 0;
        overlap = !empty && pa[i] < pb[i] + pb[d + i] && pb[i] < pa[i] + pa[d + i];
      }
      if (overlap)
        return "the blocks of ranks " + std::to_string(a) + " and " + std::to_string(b) +
               " overlap (each element must be written by exactly one rank)";
    }
  return {};
}

}  // namespace

// ---- AppendableDataset --------------------------------------------------------------------------

template <class T>
struct AppendableDataset<T>::State {
  std::shared_ptr<detail::OutputFileState> file;
  detail::Handle dataset;
  std::string path;
  std::vector<std::uint64_t> sample_shape;
  SampleBlock block;
  std::uint64_t size = 0;
  std::uint64_t chunk_samples = 1;
  int uncaught_at_creation = 0;

  std::string where() const { return file->where(path); }
  hid_t require_open(const std::string& what) const {
    file->require_open(what + " dataset " + where());
    return dataset.get();
  }
};

namespace {

template <class T>
void check_block_collectively(detail::OutputFileState& file, const std::string& path,
                              const SampleBlock& block, const std::vector<std::uint64_t>& shape) {
  const std::string local = block_problem(block, shape);
  if (!detail::all_succeeded(file.comm, local.empty())) {
    throw runtime_error("dataset " + file.where(path) + ": " +
                        (local.empty() ? std::string("another rank's block is invalid")
                                       : "rank " + std::to_string(file.rank) + "'s " + local));
  }
  const std::string coverage = coverage_problem(file.comm, block, shape);
  if (!coverage.empty()) throw runtime_error("dataset " + file.where(path) + ": " + coverage);
}

}  // namespace

template <class T>
AppendableDataset<T>::AppendableDataset(std::unique_ptr<State> state) : state_(std::move(state)) {}

template <class T>
AppendableDataset<T>::AppendableDataset(OutputFile& file, const std::string& path,
                                        const std::vector<std::uint64_t>& sample_shape,
                                        const SampleBlock& block, const std::string& meaning,
                                        const std::string& units, std::uint64_t samples_hint)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.file = file.state_;
  s.path = detail::normalize_path(path);
  s.sample_shape = sample_shape;
  s.block = block;
  s.uncaught_at_creation = std::uncaught_exceptions();
  const hid_t fid = s.file->require_open("create dataset " + s.where());
  for (auto d : sample_shape)
    if (d == 0)
      throw runtime_error("cannot create dataset " + s.where() + " with sample shape " +
                          detail::shape_text(sample_shape) + ": every axis needs length >= 1");
  check_block_collectively<T>(*s.file, s.path, block, sample_shape);
  if (detail::object_exists(fid, s.path))
    throw runtime_error("cannot create dataset " + s.where() +
                        ": it exists already "
                        "(use AppendableDataset::open to continue it)");
  const std::size_t slash = s.path.find_last_of('/');
  if (slash > 0) file.create_group(s.path.substr(0, slash));

  std::vector<hsize_t> dims{0}, max_dims{H5S_UNLIMITED};
  for (auto d : sample_shape) {
    dims.push_back(d);
    max_dims.push_back(d);
  }
  const std::vector<hsize_t> chunk =
      chunk_dims(sample_shape, sizeof(T), s.file->config, samples_hint);
  s.chunk_samples = chunk[0];

  s.dataset = detail::create_chunked_dataset(fid, s.path, detail::little_endian_type<T>(), dims,
                                             max_dims, chunk, meaning, units, s.where());
}

template <class T>
AppendableDataset<T> AppendableDataset<T>::open(OutputFile& file, const std::string& path,
                                                const SampleBlock& block) {
  auto state = std::make_unique<State>();
  State& s = *state;
  s.file = file.state_;
  s.path = detail::normalize_path(path);
  s.block = block;
  s.uncaught_at_creation = std::uncaught_exceptions();
  const hid_t fid = s.file->require_open("open dataset " + s.where());
  if (!detail::object_exists(fid, s.path))
    throw input_error("cannot continue dataset " + s.where() +
                      ": it does not exist (was the .partial file written by another deck?); "
                      "start again with --overwrite");
  s.dataset = detail::dataset(H5Dopen2(fid, s.path.c_str(), H5P_DEFAULT));
  if (!s.dataset) throw runtime_error("cannot open dataset " + s.where() + detail::hdf5_reason());

  detail::Handle type = detail::datatype(H5Dget_type(s.dataset.get()));
  const std::string found = detail::dtype_name(type.get());
  const std::string wanted = detail::dtype_name_of<T>();
  detail::Handle space = detail::dataspace(H5Dget_space(s.dataset.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0))), max_dims(dims.size());
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), max_dims.data());
  if (found != wanted || rank < 1 || max_dims[0] != H5S_UNLIMITED)
    throw input_error("cannot continue dataset " + s.where() + ": it is " + found + " " +
                      detail::shape_text(detail::to_u64(dims)) + ", expected an extendible " +
                      wanted + " sample series; start again with --overwrite");
  s.size = dims[0];
  s.sample_shape.assign(dims.begin() + 1, dims.end());
  detail::Handle dcpl(H5Dget_create_plist(s.dataset.get()), H5Pclose);
  std::vector<hsize_t> chunk(dims.size(), 1);
  if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED)
    H5Pget_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
  s.chunk_samples = chunk[0];
  check_block_collectively<T>(*s.file, s.path, block, s.sample_shape);
  return AppendableDataset(std::move(state));
}

template <class T>
AppendableDataset<T>::AppendableDataset(AppendableDataset&&) noexcept = default;
template <class T>
AppendableDataset<T>& AppendableDataset<T>::operator=(AppendableDataset&&) noexcept = default;

template <class T>
AppendableDataset<T>::~AppendableDataset() {
  if (!state_) return;
  // After commit/close the file close already closed the dataset (H5F_CLOSE_STRONG); during
  // exception unwinding other ranks may be elsewhere, so no HDF5 call that might synchronise.
  if (!state_->file->is_open() || std::uncaught_exceptions() > state_->uncaught_at_creation)
    state_->dataset.release();
}

template <class T>
void AppendableDataset<T>::append(const T* local, std::uint64_t n_samples) {
  State& s = *state_;
  const hid_t set = s.require_open("append to");
  // Mismatched counts would make the ranks' H5Dset_extent calls disagree: check first.
  std::uint64_t range[2] = {n_samples, ~n_samples};  // max(n) and ~min(n) in one reduction
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, range, 2, MPI_UINT64_T, MPI_MAX, s.file->comm),
            "MPI_Allreduce");
  if (range[0] != ~range[1])
    throw runtime_error("append to dataset " + s.where() +
                        ": ranks disagree on the number of "
                        "samples (" +
                        std::to_string(~range[1]) + " to " + std::to_string(range[0]) +
                        "); append is collective");
  if (n_samples == 0) return;
  const bool writes = s.block.elements() > 0;
  if (writes && local == nullptr)
    throw runtime_error("append to dataset " + s.where() + ": null data on a rank that writes");

  std::vector<hsize_t> extent{s.size + n_samples};
  for (auto d : s.sample_shape) extent.push_back(d);
  const herr_t extended = H5Dset_extent(set, extent.data());
  const std::string why = extended < 0 ? detail::hdf5_reason() : std::string();
  if (!detail::all_succeeded(s.file->comm, extended >= 0))
    throw runtime_error("cannot extend dataset " + s.where() + " to " +
                        std::to_string(s.size + n_samples) + " samples" + why +
                        " (is the disk full?)");

  std::vector<hsize_t> start{s.size}, count{n_samples};
  for (std::size_t i = 0; writes && i < s.sample_shape.size(); ++i) {
    start.push_back(s.block.offset[i]);
    count.push_back(s.block.count[i]);
  }
  detail::write_box_collectively(*s.file, set, detail::native_type<T>(), writes, start, count,
                                 local, std::to_string(n_samples) + " samples to", s.where());
  s.size += n_samples;
}

template <class T>
void AppendableDataset<T>::truncate(std::uint64_t n) {
  State& s = *state_;
  const hid_t set = s.require_open("truncate");
  if (n > s.size)
    throw runtime_error("cannot truncate dataset " + s.where() + " to " + std::to_string(n) +
                        " samples: it holds only " + std::to_string(s.size));
  if (n == s.size) return;
  std::vector<hsize_t> extent{n};
  for (auto d : s.sample_shape) extent.push_back(d);
  const herr_t status = H5Dset_extent(set, extent.data());
  const std::string reason = status < 0 ? detail::hdf5_reason() : std::string();
  if (!detail::all_succeeded(s.file->comm, status >= 0))
    throw runtime_error("cannot truncate dataset " + s.where() + reason);
  // Shrinking rewrites the last partial chunk (elements past the new end get fill values)
  // through HDF5's chunk cache; collective writes bypass that cache, so without a flush here
  // the cached chunk would later be written over the samples appended after the truncation.
  const herr_t flushed = H5Fflush(set, H5F_SCOPE_LOCAL);
  const std::string flush_reason = flushed < 0 ? detail::hdf5_reason() : std::string();
  if (!detail::all_succeeded(s.file->comm, flushed >= 0))
    throw runtime_error("cannot flush after truncating dataset " + s.where() + flush_reason);
  s.size = n;
}

template <class T>
std::uint64_t AppendableDataset<T>::size() const {
  return state_->size;
}
template <class T>
const std::vector<std::uint64_t>& AppendableDataset<T>::sample_shape() const {
  return state_->sample_shape;
}
template <class T>
const SampleBlock& AppendableDataset<T>::block() const {
  return state_->block;
}
template <class T>
std::uint64_t AppendableDataset<T>::samples_per_chunk() const {
  return state_->chunk_samples;
}
template <class T>
const std::string& AppendableDataset<T>::path() const {
  return state_->path;
}

template class AppendableDataset<std::int8_t>;
template class AppendableDataset<std::int32_t>;
template class AppendableDataset<std::int64_t>;
template class AppendableDataset<float>;
template class AppendableDataset<double>;

}  // namespace phyflow::io
