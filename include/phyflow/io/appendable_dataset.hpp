// phyflow::io::AppendableDataset<T>: an extendible HDF5 dataset of shape
// [n_samples (unlimited), sample_shape...] chunked along the sample axis, to which all ranks
// append samples together, each writing its own block of every sample (DESIGN.md §7).
#pragma once

#include "phyflow/io/output_file.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace phyflow::io {

/// The part of every sample that one rank writes: the box [offset, offset + count) in sample
/// coordinates (for a lattice: this rank's sub-lattice). A rank with `writes == false`, or with
/// a zero count, writes nothing but still takes part in the collective calls.
/// Aggregate: `SampleBlock{offset, count}` or the helpers below.
struct SampleBlock {
  std::vector<std::uint64_t> offset;
  std::vector<std::uint64_t> count;
  bool writes = true;

  /// The whole sample (scalar series: sample_shape {}).
  static SampleBlock whole(const std::vector<std::uint64_t>& sample_shape);
  /// Nothing, but taking part: e.g. every rank except the one writing a scalar series.
  static SampleBlock none(std::size_t sample_rank);
  /// The whole sample on the rank where `this_rank_writes`, nothing elsewhere: the usual way
  /// to store a series every rank knows (energies after an all-reduce) from rank 0 only.
  static SampleBlock whole_if(bool this_rank_writes,
                              const std::vector<std::uint64_t>& sample_shape);

  /// Elements of one sample this rank writes (0 when it writes nothing).
  std::uint64_t elements() const;
};

/// T is one of std::int8_t, std::int32_t, std::int64_t, float, double. All member functions
/// except the accessors are collective over the file's communicator.
template <class T>
class AppendableDataset {
 public:
  /// Creates the dataset (and missing parent groups) with zero samples and attributes
  /// "meaning" and "units". `samples_hint`, when known (the number of samples this run will
  /// store), caps the chunk so a short series does not occupy a whole chunk_bytes chunk.
  AppendableDataset(OutputFile& file, const std::string& path,
                    const std::vector<std::uint64_t>& sample_shape, const SampleBlock& block,
                    const std::string& meaning, const std::string& units,
                    std::uint64_t samples_hint = 0);

  /// The same with the block given as offset and count (this rank writes when every count is
  /// > 0). A scalar series (sample_shape {}) needs the SampleBlock form, since exactly one rank
  /// may write it: SampleBlock::whole_if(rank == 0, {}).
  AppendableDataset(OutputFile& file, const std::string& path,
                    const std::vector<std::uint64_t>& sample_shape,
                    const std::vector<std::uint64_t>& local_offset,
                    const std::vector<std::uint64_t>& local_count, const std::string& meaning,
                    const std::string& units, std::uint64_t samples_hint = 0)
      : AppendableDataset(file, path, sample_shape, SampleBlock{local_offset, local_count, true},
                          meaning, units, samples_hint) {}

  /// Opens an existing dataset of the file (restart); its sample shape comes from the file and
  /// the block must lie inside it; the element type must be T.
  static AppendableDataset open(OutputFile& file, const std::string& path,
                                const SampleBlock& block);
  static AppendableDataset open(OutputFile& file, const std::string& path,
                                const std::vector<std::uint64_t>& local_offset,
                                const std::vector<std::uint64_t>& local_count) {
    return open(file, path, SampleBlock{local_offset, local_count, true});
  }

  AppendableDataset(AppendableDataset&&) noexcept;
  AppendableDataset& operator=(AppendableDataset&&) noexcept;
  AppendableDataset(const AppendableDataset&) = delete;
  AppendableDataset& operator=(const AppendableDataset&) = delete;
  ~AppendableDataset();

  /// Extends the dataset by n_samples and writes this rank's block of each, from `local`
  /// (n_samples x block.count, C order, samples slowest) in one H5Dwrite. n_samples must be
  /// the same on all ranks (checked); `local` may be null where the rank writes nothing.
  void append(const T* local, std::uint64_t n_samples);
  /// Shrinks the dataset to its first n samples (restart from a checkpoint taken at n).
  void truncate(std::uint64_t n);

  std::uint64_t size() const;  ///< samples stored
  const std::vector<std::uint64_t>& sample_shape() const;
  const SampleBlock& block() const;
  std::uint64_t samples_per_chunk() const;
  const std::string& path() const;

 private:
  struct State;
  explicit AppendableDataset(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

extern template class AppendableDataset<std::int8_t>;
extern template class AppendableDataset<std::int32_t>;
extern template class AppendableDataset<std::int64_t>;
extern template class AppendableDataset<float>;
extern template class AppendableDataset<double>;

/// Samples per chunk for a sample of `sample_bytes` bytes: as many whole samples as fit in
/// chunk_bytes, at least 1, at most samples_hint when that is > 0. Public so tests and
/// benchmarks can predict the layout.
std::uint64_t samples_per_chunk(std::uint64_t sample_bytes, std::size_t chunk_bytes,
                                std::uint64_t samples_hint = 0);

}  // namespace phyflow::io
