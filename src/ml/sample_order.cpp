// Epoch permutations and the per-rank share of each step (sample_order.hpp).
#include "phyflow/ml/sample_order.hpp"

#include "phyflow/core/rng.hpp"

#include <algorithm>
#include <numeric>

namespace phyflow::ml {

std::vector<std::int64_t> epoch_permutation(std::uint64_t seed, std::uint64_t epoch,
                                            std::int64_t n) {
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  std::iota(p.begin(), p.end(), std::int64_t{0});
  const rng::Stream stream(seed, rng::purpose("epoch_shuffle"));
  // Fisher-Yates from the top; the swap partner of position i is uniform in [0, i] from a
  // 64-bit draw (bias < 2^-30 for any n below 2^34, far below anything observable).
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto w = stream(static_cast<std::uint64_t>(i), epoch);
    const std::uint64_t r = (std::uint64_t(w.w[0]) << 32) | w.w[1];
    const auto j = static_cast<std::int64_t>(r % static_cast<std::uint64_t>(i + 1));
    std::swap(p[std::size_t(i)], p[std::size_t(j)]);
  }
  return p;
}

std::int64_t StepPlan::steps_per_epoch() const {
  const std::int64_t g = global_batch();
  return drop_last ? samples / g : (samples + g - 1) / g;
}

std::int64_t StepPlan::global_count(std::int64_t step) const {
  return std::max<std::int64_t>(0, std::min(global_batch(), samples - step * global_batch()));
}

std::pair<std::int64_t, std::int64_t> StepPlan::local_range(std::int64_t step, int rank) const {
  const std::int64_t first = step * global_batch() + rank * local_batch;
  const std::int64_t last = std::min(first + local_batch, samples);
  return {std::min(first, samples), std::max(std::min(first, samples), last)};
}

std::pair<std::int64_t, std::int64_t> chunked_share(std::int64_t samples, std::int64_t chunk,
                                                    int rank, int ranks) {
  const std::int64_t chunks = (samples + chunk - 1) / chunk;
  const std::int64_t c0 = chunks * rank / ranks, c1 = chunks * (rank + 1) / ranks;
  return {std::min(samples, c0 * chunk), std::min(samples, c1 * chunk)};
}

}  // namespace phyflow::ml
