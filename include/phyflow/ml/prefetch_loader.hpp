// The training batches of one rank, read ahead on a background thread so the step never waits
// on the file: for an epoch it walks the steps of a StepPlan over that epoch's permutation and
// queues up to `depth` batches (DESIGN.md §8).
#pragma once

#include "phyflow/ml/dataset.hpp"
#include "phyflow/ml/sample_order.hpp"

#include <condition_variable>
#include <deque>
#include <exception>
#include <thread>

namespace phyflow::ml {

class PrefetchLoader {
 public:
  PrefetchLoader(const Dataset& data, StepPlan plan, std::uint64_t seed, int rank,
                 torch::ScalarType dtype, int depth = 2);
  ~PrefetchLoader();
  PrefetchLoader(const PrefetchLoader&) = delete;
  PrefetchLoader& operator=(const PrefetchLoader&) = delete;

  /// Starts reading the batches of `epoch` from step `first_step` on (a restart resumes
  /// mid-epoch); stops a previous epoch's reader.
  void start_epoch(std::uint64_t epoch, std::int64_t first_step = 0);
  /// The next batch of the epoch (blocks until it is read); an error of the reader is
  /// rethrown here.
  Batch next();
  const StepPlan& plan() const { return plan_; }

 private:
  void stop();
  void produce(std::uint64_t epoch, std::int64_t first_step);

  const Dataset& data_;
  StepPlan plan_;
  std::uint64_t seed_;
  int rank_;
  torch::ScalarType dtype_;
  std::size_t depth_;
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> queue_;
  std::exception_ptr error_;
  bool stopping_ = false;
};

}  // namespace phyflow::ml
