// PrefetchLoader: a reader thread per epoch feeding a bounded queue (prefetch_loader.hpp).
#include "phyflow/ml/prefetch_loader.hpp"

#include "phyflow/core/error.hpp"

#include <torch/torch.h>

namespace phyflow::ml {

PrefetchLoader::PrefetchLoader(const Dataset& data, StepPlan plan, std::uint64_t seed, int rank,
                               torch::ScalarType dtype, int depth)
    : data_(data), plan_(plan), seed_(seed), rank_(rank), dtype_(dtype),
      depth_(std::size_t(std::max(1, depth))) {}

PrefetchLoader::~PrefetchLoader() { stop(); }

void PrefetchLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (worker_.joinable()) worker_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  queue_.clear();
  error_ = nullptr;
  stopping_ = false;
}

void PrefetchLoader::start_epoch(std::uint64_t epoch, std::int64_t first_step) {
  stop();
  worker_ = std::thread([this, epoch, first_step] { produce(epoch, first_step); });
}

void PrefetchLoader::produce(std::uint64_t epoch, std::int64_t first_step) {
  try {
    const auto order = epoch_permutation(seed_, epoch, plan_.samples);
    for (std::int64_t s = first_step; s < plan_.steps_per_epoch(); ++s) {
      const auto [a, b] = plan_.local_range(s, rank_);
      std::vector<std::int64_t> index(order.begin() + a, order.begin() + b);
      Batch batch = data_.gather(index, dtype_);
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || queue_.size() < depth_; });
      if (stopping_) return;
      queue_.push_back(std::move(batch));
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
    changed_.notify_all();
  }
}

Batch PrefetchLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !queue_.empty() || error_; });
  if (queue_.empty()) std::rethrow_exception(error_);
  Batch b = std::move(queue_.front());
  queue_.pop_front();
  changed_.notify_all();
  return b;
}

}  // namespace phyflow::ml
