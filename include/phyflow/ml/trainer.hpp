// The training loop for any Model (DESIGN.md §8): rank-sharded shuffled batches from a
// PrefetchLoader, loss scaled so that the mean over ranks is the mean over the global batch,
// gradients averaged by a GradientReducer, optional clipping, an optimiser step with the
// scheduled learning rate; evaluation on the validation set each epoch, early stopping with
// patience on a monitored metric (keeping the best weights), checkpoints every N steps and
// on SIGTERM/SIGUSR1, and a progress line with rate and ETA.
#pragma once

#include "phyflow/ml/evaluation.hpp"
#include "phyflow/ml/gradient_reducer.hpp"
#include "phyflow/ml/model.hpp"
#include "phyflow/ml/optimizer.hpp"

#include <mpi.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace phyflow::ml {

struct TrainerOptions {
  std::uint64_t seed = 1;
  std::int64_t batch = 64;   ///< per rank; the global batch is batch x ranks
  std::int64_t epochs = 10;
  std::int64_t patience = 0; ///< epochs without improvement before stopping (0: never stop early)
  double min_delta = 0.0;    ///< improvement smaller than this does not count
  std::string monitor = "loss";  ///< validation metric watched for early stopping / best weights
  double clip = 0.0;         ///< max global gradient norm (0: no clipping)
  bool drop_last = false;
  OptimizerOptions optimizer;
  LrSchedule schedule;       ///< lr, total_steps and steps_per_epoch are filled in by the trainer
  ReducerOptions reducer;
  std::int64_t eval_chunk = 512;
  std::int64_t val_max = 0;  ///< validate on at most this many samples (0: all)
  std::int64_t checkpoint_every = 0;  ///< steps (0: only on a signal)
  std::int64_t stop_after = 0;        ///< checkpoint and stop after this many steps of this run
  std::string checkpoint_path;        ///< where checkpoints go ("" : none)
  double progress_interval = 5.0;
  int prefetch = 2;
  torch::ScalarType dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;  ///< the model and every batch live here (device.hpp)
  bool test_each_epoch = false;  ///< also evaluate the test set after every epoch
};

/// Where a run stands; all of it goes into a checkpoint.
struct TrainerState {
  std::int64_t epoch = 0;          ///< current epoch (0-based)
  std::int64_t step_in_epoch = 0;  ///< steps of it done
  std::int64_t global_step = 0;
  double epoch_loss_sum = 0.0;     ///< sum of loss x samples over this epoch's steps so far
  double best = 0.0;
  std::int64_t best_epoch = -1;
  std::int64_t bad_epochs = 0;
  bool stopped_early = false;
  nlohmann::json history = nlohmann::json::array();  ///< one object per finished epoch
};

enum class TrainOutcome { finished, interrupted };

class Trainer {
 public:
  /// `val` (optional) is evaluated after every epoch; `test` (optional) too when
  /// options.test_each_epoch (its metrics go into the history as test_*).
  Trainer(MPI_Comm comm, ModelPtr model, const Dataset& train, const Dataset* val,
          TrainerOptions options, const Dataset* test = nullptr);
  ~Trainer();

  /// Called on rank 0 after every epoch with its metrics (for JSON lines).
  std::function<void(const nlohmann::json&)> on_epoch;
  /// Called (rank 0, inside the checkpoint) to add attributes, e.g. the deck.
  std::function<void(io::OutputFile&)> annotate_checkpoint;

  /// Resumes from a checkpoint written by write_checkpoint (every rank reads it).
  void restore(const std::string& checkpoint);
  /// Trains until the epochs are done or early stopping; `interrupted` after writing a
  /// checkpoint on a stop signal or checkpoint.stop_after. Collective.
  TrainOutcome run();
  /// Why run() returned interrupted: by a signal (true) or stop_after.
  bool signalled() const { return signalled_; }

  /// Puts the best weights (by the monitored metric) into the model; no-op without any.
  void use_best_weights();
  const TrainerState& state() const { return state_; }
  Model& model() { return *model_; }
  GradientReducer& reducer() { return *reducer_; }
  std::int64_t steps_per_epoch() const;

  /// Writes a checkpoint (rank 0 writes; collective only through a barrier).
  void write_checkpoint();

  /// One optimisation step on this rank's share `batch` of the current global batch
  /// (collective): learning rate, backward, gradient reduction, clipping, optimiser step.
  /// Returns in `loss_sum` the global batch's summed loss and in `stop` whether a stop signal
  /// reached any rank. run() calls it; benchmarks time it.
  void step(const Batch& batch, double& loss_sum, bool& stop);

 private:
  void end_of_epoch(double seconds, std::int64_t samples);

  MPI_Comm comm_;
  int rank_ = 0, ranks_ = 1;
  ModelPtr model_;
  const Dataset& train_;
  const Dataset* val_;
  TrainerOptions o_;
  const Dataset* test_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<GradientReducer> reducer_;
  TrainerState state_;
  std::vector<torch::Tensor> best_;  // best weights (parameters and buffers)
  bool signalled_ = false;
};

}  // namespace phyflow::ml
