// Optimisers (Adam, AdamW, SGD with momentum) and learning-rate schedules as pure functions of
// the global step, so a restart needs only the step counter to resume the schedule.
//   constant;  step: lr * gamma^floor(epoch / step_size);
//   cosine: lr_min + (lr - lr_min) (1 + cos(pi t / T)) / 2 over the T steps of the run;
//   one_cycle: PyTorch's OneCycleLR (cosine anneal): from lr/div_factor up to lr over the first
//   pct_start of the steps, then down to lr/(div_factor*final_div_factor). Momentum is not
//   cycled.
#pragma once

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace phyflow::ml {

struct OptimizerOptions {
  std::string name = "adam";  ///< adam | adamw | sgd
  double lr = 1e-3, weight_decay = 0.0, momentum = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& params,
                                                        const OptimizerOptions& options);
/// Sets the learning rate of every parameter group.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

/// The optimiser's state (moments, step counts) as bytes of a LibTorch archive, for
/// checkpoints, and back (the optimiser must have been built for the same parameters). The
/// archive holds host tensors whatever the parameters' device; restoring loads it onto the
/// host and moves each parameter's state to that parameter's device.
std::vector<std::uint8_t> optimizer_state(torch::optim::Optimizer& optimizer);
void restore_optimizer_state(torch::optim::Optimizer& optimizer,
                             const std::vector<std::uint8_t>& bytes);

struct LrSchedule {
  std::string kind = "constant";  ///< constant | step | cosine | one_cycle
  double lr = 1e-3;
  double lr_min = 0.0;        ///< cosine floor
  double gamma = 0.1;         ///< step decay factor
  std::int64_t step_size = 1; ///< step: epochs between decays
  double pct_start = 0.3, div_factor = 25.0, final_div_factor = 1e4;  ///< one_cycle
  std::int64_t total_steps = 1, steps_per_epoch = 1;

  /// The learning rate of global step `step` (0-based).
  double at(std::int64_t step) const;
};

}  // namespace phyflow::ml
