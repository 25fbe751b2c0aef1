// Data-free training of a flow by the reverse Kullback-Leibler divergence (AKS arXiv:1904.12072,
// tutorial arXiv:2101.08176): loss = mean over the batch of log q(phi) + beta S(phi), phi drawn
// from the flow. Data-parallel through the training runtime (ml/gradient_reducer.hpp,
// ml/optimizer.hpp): the global batch of each step is split into contiguous blocks over ranks,
// and configuration i of step t comes from the prior's Philox stream keyed by (seed, i, t), so
// the batch is a pure function of (seed, t) and the model does not depend on the rank count
// beyond the order of the gradient reduction. Checkpoints (the flow as a model file, the
// optimiser, the step and the loss history) are written atomically every N steps, after
// checkpoint.stop_after steps and on SIGTERM/SIGUSR1; a restart continues bitwise.
// Annealing: beta ramps linearly from anneal_start to 1 over the first anneal_steps steps.
// Forward KL (objective "forward_kl"): loss = mean over the batch of -log q(x), x drawn from
// given samples of the target (Monte Carlo data, e.g. the phi4 workflow's fields); sample i of
// step t is data[Philox(seed, "flow_data", i, t) mod N], so the batch is again a pure function
// of (seed, t). The batch ESS is still that of a batch drawn from the flow (no gradient).
// Both (objective "mixed"): loss = mean of log q(phi) + beta S(phi) + w (-log q(x)), the flow's
// samples phi and the data batch x of the same step, w = forward_weight: the reverse term keeps
// the flow on the target's modes, the forward term makes it cover what reverse KL alone drops
// (its samples never show it the configurations it under-covers).
// Devices: the trainer works where the flow is (move it before constructing the trainer). The
// noise and the data batches are drawn on the host, as on the CPU, and moved there; the
// reducer (ml::make_gradient_reducer) takes NCCL for CUDA parameters where built with it;
// checkpoints hold host tensors (weights and optimiser state) and restore onto the device.
// Divergence: a non-finite loss stops training at once; a finite one that blows up (the median
// of a block of 50 steps above its reference by `divergence` times max(1, |reference|), see
// loss_blow_up) stops it too, with one message naming the step and the fix.
#pragma once

#include <mpi.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "phyflow/flows/flow.hpp"
#include "phyflow/ml/gradient_reducer.hpp"
#include "phyflow/ml/optimizer.hpp"

namespace phyflow::io {
class OutputFile;
}

namespace phyflow::flows {

struct ReverseKlOptions {
  std::uint64_t seed = 1;
  std::int64_t steps = 100;
  std::int64_t batch = 64;            ///< global batch (split over ranks)
  ml::OptimizerOptions optimizer;     ///< lr, Adam by default
  std::string schedule = "constant";  ///< constant | cosine (ml::LrSchedule)
  double clip = 0.0;                  ///< max gradient norm (0: off)
  double time_limit_s = 0.0;          ///< stop training after this long (0: no limit)
  std::int64_t anneal_steps = 0;
  double anneal_start = 1.0;
  std::int64_t checkpoint_every = 0;
  std::int64_t stop_after = 0;
  std::string checkpoint_path;
  double progress_interval = 5.0;
  ml::ReducerOptions reducer;
  std::string objective = "reverse_kl";  ///< reverse_kl | forward_kl | mixed
  torch::Tensor data;                    ///< forward_kl, mixed: samples (N, L, ..., L), float64
  double forward_weight = 1.0;           ///< mixed: w of the forward term
  double divergence = 100.0;             ///< blow-up factor of loss_blow_up (0: never stop)
};

struct ReverseKlState {
  std::int64_t step = 0;
  std::vector<double> loss;  ///< per step: mean of log q + beta S (reverse KL) or of -log q of
                             ///< the data (forward KL), or their sum with weight w (mixed), over
                             ///< the global batch
  std::vector<double> ess;   ///< per step: ESS per sample of the batch (beta = 1 weights)
};

enum class TrainEnd { finished, time_limit, interrupted };

/// Purpose of the prior draws of the training batches ("flow_train").
std::uint32_t train_purpose();
/// Purpose of the data indices of forward-KL batches ("flow_data").
std::uint32_t data_purpose();

/// A loss that blew up: the steps (1-based, inclusive) of the block, its median, the reference.
struct LossBlowUp {
  std::int64_t first_step = 0, last_step = 0;
  double median = 0.0, reference = 0.0;
};
/// Whether a loss history (one entry per step) has just blown up. Called when a step completes;
/// looks only when the steps after `from` (an annealing ramp, whose loss changes with beta, is
/// left out) fill whole blocks of `block` steps. The reference is the smallest of the first
/// loss after `from` (the flow as it started) and the earlier blocks' medians (the best it
/// reached); the last block's median blew up when it exceeds the reference by more than
/// factor x max(1, |reference|). Medians: a single batch's outlier does not count. Training
/// lowers the loss; a rise of 100 times its own scale is a flow whose steps overshoot (seen
/// here: a mixed objective at w = 10 went from ~10^3 to 10^20-10^32 within a few steps and
/// stayed above 10^8).
/// `watch` (optional) carries the reference from one call to the next, so that a long run does
/// not recompute every block's median each time; a watch that does not match the history (a
/// restart) is rebuilt from it, so the verdicts are the same either way.
struct BlowUpWatch {
  std::int64_t from = -1, blocks = 0;
  double reference = 0.0;
};
std::optional<LossBlowUp> loss_blow_up(const std::vector<double>& loss, std::int64_t from,
                                       std::int64_t block, double factor,
                                       BlowUpWatch* watch = nullptr);

class ReverseKlTrainer {
 public:
  ReverseKlTrainer(MPI_Comm comm, std::shared_ptr<Flow> flow, std::shared_ptr<const Target> target,
                   ReverseKlOptions options);
  ~ReverseKlTrainer();

  /// Adds attributes to each checkpoint (the deck), called on rank 0.
  std::function<void(io::OutputFile&)> annotate_checkpoint;
  /// Every rank reads the checkpoint.
  void restore(const std::string& checkpoint);
  /// Trains to options.steps, the time limit, or an interruption (checkpoint written). Collective.
  TrainEnd run();
  /// One step (collective); returns the global batch's mean loss. Benchmarks time it.
  double step(bool& stop);
  void write_checkpoint();
  const ReverseKlState& state() const { return state_; }
  bool signalled() const { return signalled_; }
  double beta(std::int64_t step) const;

 private:
  MPI_Comm comm_;
  int rank_ = 0, ranks_ = 1;
  std::shared_ptr<Flow> flow_;
  std::shared_ptr<const Target> target_;
  ReverseKlOptions o_;
  ml::LrSchedule schedule_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<ml::GradientReducer> reducer_;
  ReverseKlState state_;
  bool signalled_ = false;
  double started_ = 0.0;
  bool time_over_ = false;
  BlowUpWatch blow_up_watch_;
};

/// ESS per sample of importance weights log w: exp(2 LSE(log w) - LSE(2 log w)) / N. A NaN log w
/// (a sample where the flow or the action overflowed: its weight is undefined) counts as weight
/// zero: it stays in N and out of the sums, so one such sample does not make the ESS NaN.
double ess_per_sample(const std::vector<double>& log_w);
/// log-sum-exp.
double log_sum_exp(const std::vector<double>& v, double scale = 1.0);

}  // namespace phyflow::flows
