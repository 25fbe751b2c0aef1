// Optimiser factory and learning-rate schedules (optimizer.hpp).
#include "phyflow/ml/optimizer.hpp"

#include "phyflow/core/error.hpp"

#include <torch/optim.h>

#include <torch/serialize.h>

#include <cmath>
#include <sstream>

namespace phyflow::ml {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& params,
                                                        const OptimizerOptions& o) {
  using namespace torch::optim;
  if (o.name == "adam")
    return std::make_unique<Adam>(params, AdamOptions(o.lr)
                                              .betas({o.beta1, o.beta2})
                                              .eps(o.eps)
                                              .weight_decay(o.weight_decay));
  if (o.name == "adamw")
    return std::make_unique<AdamW>(params, AdamWOptions(o.lr)
                                               .betas({o.beta1, o.beta2})
                                               .eps(o.eps)
                                               .weight_decay(o.weight_decay));
  if (o.name == "sgd")
    return std::make_unique<SGD>(params,
                                 SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  throw input_error("optim.name '" + o.name + "' is not one of adam, adamw, sgd");
}

std::vector<std::uint8_t> optimizer_state(torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  const std::string b = bytes.str();
  return std::vector<std::uint8_t>(b.begin(), b.end());
}

void restore_optimizer_state(torch::optim::Optimizer& optimizer,
                             const std::vector<std::uint8_t>& bytes) {
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  torch::serialize::InputArchive archive;
  archive.load_from(in);
  optimizer.load(archive);
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

double LrSchedule::at(std::int64_t step) const {
  const double pi = 3.14159265358979323846;
  const auto cos_anneal = [pi](double from, double to, double frac) {
    return to + (from - to) * 0.5 * (1.0 + std::cos(pi * frac));
  };
  if (kind == "constant") return lr;
  if (kind == "step") {
    const std::int64_t epoch = step / std::max<std::int64_t>(1, steps_per_epoch);
    return lr * std::pow(gamma, double(epoch / std::max<std::int64_t>(1, step_size)));
  }
  if (kind == "cosine")
    return cos_anneal(lr, lr_min, std::min(1.0, double(step) / double(std::max<std::int64_t>(1, total_steps))));
  if (kind == "one_cycle") {
    // torch.optim.lr_scheduler.OneCycleLR, three_phase=False, anneal_strategy='cos'.
    const double initial = lr / div_factor, final_lr = initial / final_div_factor;
    const double up_end = pct_start * double(total_steps) - 1.0;
    const double down_end = double(total_steps) - 1.0;
    const double s = double(step);
    if (s <= up_end) return cos_anneal(initial, lr, up_end > 0 ? s / up_end : 1.0);
    return cos_anneal(lr, final_lr, std::min(1.0, (s - up_end) / std::max(1e-300, down_end - up_end)));
  }
  throw input_error("optim.schedule '" + kind + "' is not one of constant, step, cosine, one_cycle");
}

}  // namespace phyflow::ml
