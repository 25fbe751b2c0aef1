// Which samples each rank trains on at each step. Every epoch visits the training set in a
// permutation that is a pure function of (seed, epoch) -- Philox-driven Fisher-Yates -- so the
// order does not depend on the rank count; global step s takes the next ranks x batch entries
// of it, and rank r the r-th block of `batch` among them. One rank with batch 2B and two ranks
// with batch B therefore see the same global batches.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace phyflow::ml {

/// The permutation of [0, n) for one epoch.
std::vector<std::int64_t> epoch_permutation(std::uint64_t seed, std::uint64_t epoch, std::int64_t n);

struct StepPlan {
  std::int64_t samples = 0;      ///< training samples
  std::int64_t local_batch = 1;  ///< per rank
  int ranks = 1;
  bool drop_last = false;        ///< drop a last global batch smaller than ranks x batch

  std::int64_t global_batch() const { return local_batch * ranks; }
  std::int64_t steps_per_epoch() const;
  /// Samples in global step `step` (the last one may be short).
  std::int64_t global_count(std::int64_t step) const;
  /// Positions [first, second) of the epoch's permutation that `rank` takes at `step`
  /// (empty for a rank beyond the end of a short last batch).
  std::pair<std::int64_t, std::int64_t> local_range(std::int64_t step, int rank) const;
};

/// Contiguous blocks of `chunk` samples dealt to ranks in order (rank r gets chunks
/// [r*c/R, (r+1)*c/R)): evaluation and prediction split data this way, so every chunk is
/// computed with the same shapes whatever the rank count and gives the same bits.
std::pair<std::int64_t, std::int64_t> chunked_share(std::int64_t samples, std::int64_t chunk,
                                                    int rank, int ranks);

}  // namespace phyflow::ml
