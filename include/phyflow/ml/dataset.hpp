// Training data from phyflow's own HDF5 files (DESIGN.md §8): the Ising layout (/t0, /t1, ...
// groups of spins + energy, beta from each group's attribute), the N-body layout (/data and
// /accel; one sample is one frame of one simulation) and the generic regression layout (/x, /y).
// A file is validated when opened; samples are gathered by global index into a Batch.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace phyflow::ml {

enum class DataLayout { ising, nbody, regression };
std::string layout_name(DataLayout layout);
/// What a file of this layout holds, for messages ("an Ising file (/t0, ... with spins)").
std::string layout_description(DataLayout layout);

/// The per-sample shapes a model is built for.
struct DataShape {
  DataLayout layout = DataLayout::regression;
  std::vector<std::int64_t> x;  ///< ising {L, L}; nbody {n, 2d+2}; regression {k}
  std::vector<std::int64_t> y;  ///< ising {} (energy); nbody {n, d}; regression {m}
  /// regression files of workflow: dataset: their root attribute dataset_kind ("o5", "inertia",
  /// "lorentz", "pendulum"), which says how /x's columns group into vectors; "" otherwise.
  std::string kind;
  std::string text() const;     ///< "ising x [8, 8] -> y []", "regression (o5) x [10] -> y [1]"
};

/// A set of samples: inputs x (B, x...), targets y (B, y...), and for Ising data the inverse
/// temperature of each sample (B). `index` holds the samples' global indices. In a training
/// step the trainer also sets the run's seed and the global step, so that a model's own random
/// numbers (augmentation, sampled messages) can be keyed by (seed, sample index, step) and be
/// the same on any rank count; step is -1 outside training.
struct Batch {
  torch::Tensor x, y, beta;
  std::vector<std::int64_t> index;
  std::uint64_t seed = 0;
  std::int64_t step = -1;
  std::int64_t size() const { return static_cast<std::int64_t>(index.size()); }
};

/// A contiguous run of samples with common metadata: one /tN group of an Ising file (its
/// beta), or the whole file for the other layouts (name "").
struct SampleGroup {
  std::string name;
  std::int64_t begin = 0, count = 0;
  double beta = 0.0;
};

enum class CacheMode {
  automatic,  ///< memory when the samples fit in cache_bytes, else stream
  memory,     ///< read everything once
  stream,     ///< read the requested samples from the file on every gather
};

/// HDF5 (as built by Debian) is not thread safe: every ml HDF5 call, on any thread, holds this.
std::recursive_mutex& hdf5_mutex();

class Dataset {
 public:
  /// Opens and validates `path` (what: the deck key naming it, for messages). The layout is
  /// detected from the file; input_error naming the file and the problem otherwise.
  static Dataset open(const std::string& path, const std::string& what,
                      CacheMode cache = CacheMode::automatic,
                      std::uint64_t cache_bytes = std::uint64_t(2) << 30);

  Dataset(Dataset&&) noexcept;
  Dataset& operator=(Dataset&&) noexcept;
  ~Dataset();

  const std::string& path() const;
  DataLayout layout() const;
  const DataShape& shape() const;
  std::int64_t size() const;
  const std::vector<SampleGroup>& groups() const;
  bool cached() const;
  /// N-body files: frames per simulation (sample i is simulation i / nt, frame i % nt); 1 else.
  std::int64_t frames_per_simulation() const;

  /// Input error naming the file and the key `what` unless this file has `expected` layout and
  /// (where given) the same per-sample shapes.
  void require(DataLayout expected, const std::string& model_kind) const;
  void require_shape(const DataShape& expected, const std::string& model_kind) const;

  /// The samples with these global indices, in this order, as tensors of `dtype` on the CPU.
  /// Safe to call from a prefetch thread (file reads hold hdf5_mutex()).
  Batch gather(const std::vector<std::int64_t>& index, torch::ScalarType dtype) const;
  /// Samples [begin, begin + count).
  Batch range(std::int64_t begin, std::int64_t count, torch::ScalarType dtype) const;

 private:
  struct State;
  explicit Dataset(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace phyflow::ml
