// Optimiser factory and learning-rate schedules (optimizer.hpp).
#include "phyflow/ml/optimizer.hpp"

#include <torch/optim.h>
#include <torch/serialize.h>

#include <cmath>
#include <sstream>
#include <type_traits>
#include <utility>

#include "phyflow/core/error.hpp"
#include "phyflow/ml/flat_parameters.hpp"

namespace phyflow::ml {

namespace {

// Adam with its moments in two flat buffers: one pass of ~10 tensor operations over all
// parameters instead of ~10 per parameter tensor. The small models of the flows and the
// equivariant issues have ~100 parameter tensors of a few hundred numbers each, where
// torch::optim::Adam's per-tensor loop (and its string-keyed state map) cost ~1.6 ms a step,
// a fixed cost that does not shrink when the batch is split over ranks.
// The arithmetic is torch::optim::Adam's (LibTorch 1.13 and 2.x, amsgrad off), element by
// element in the same order, so the parameters are bitwise those of torch's Adam
// (test_ml_optimizer). A parameter without a gradient is skipped, with its own step count,
// as torch does; then that step runs per parameter on views of the flat buffers.
class FlatAdam final : public torch::optim::Optimizer {
 public:
  FlatAdam(const std::vector<torch::Tensor>& params, const torch::optim::AdamOptions& options)
      : Optimizer({torch::optim::OptimizerParamGroup(params)},
                  std::make_unique<torch::optim::AdamOptions>(options)) {
    std::int64_t total = 0;
    for (const auto& p : params) {
      offsets_.push_back(total);
      total += p.numel();
    }
    steps_.assign(params.size(), 0);
    const auto like = params.empty() ? torch::TensorOptions() : params[0].options();
    exp_avg_ = torch::zeros({total}, like);
    exp_avg_sq_ = torch::zeros({total}, like);
    grad_ = torch::empty({total}, like);
    for (std::size_t i = 0; i < params.size(); ++i) {
      avg_views_.push_back(exp_avg_.narrow(0, offsets_[i], params[i].numel()).view(params[i].sizes()));
      sq_views_.push_back(exp_avg_sq_.narrow(0, offsets_[i], params[i].numel()).view(params[i].sizes()));
    }
  }

  /// Whether these parameters can share flat buffers (one dtype, one device, dense).
  static bool applies(const std::vector<torch::Tensor>& params) {
    for (const auto& p : params)
      if (p.scalar_type() != params[0].scalar_type() || p.device() != params[0].device() ||
          p.is_sparse())
        return false;
    return true;
  }

  torch::Tensor step(LossClosure closure = nullptr) override {
    torch::NoGradGuard no_grad;
    torch::Tensor loss;
    if (closure) {
      torch::AutoGradMode enable(true);
      loss = closure();
    }
    const auto& o = static_cast<const torch::optim::AdamOptions&>(param_groups()[0].options());
    if (o.amsgrad()) throw input_error("amsgrad is not supported");
    auto& params = param_groups()[0].params();
    bool all = true;
    for (std::size_t i = 0; i < params.size(); ++i)
      all = all && params[i].grad().defined() && steps_[i] == steps_[0];
    if (!all) {
      for (std::size_t i = 0; i < params.size(); ++i)
        if (params[i].grad().defined())
          update(params[i], params[i].grad(), avg_views_[i], sq_views_[i], ++steps_[i], o);
      return loss;
    }
    // Parameters and gradients laid out flat (flatten_parameters): no copies at all.
    auto flat = flat_alias(params);
    const auto flat_grad = flat.defined() ? flat_alias(gradients_of(params)) : torch::Tensor();
    if (flat_grad.defined()) {
      const auto delta = increment(flat, flat_grad, exp_avg_, exp_avg_sq_, ++steps_[0], o);
      for (std::size_t i = 1; i < steps_.size(); ++i) steps_[i] = steps_[0];
      flat.add_(delta);
      return loss;
    }
    std::vector<torch::Tensor> grads, values;
    grads.reserve(params.size());
    for (auto& p : params) grads.push_back(p.grad().reshape({-1}));
    torch::cat_out(grad_, grads);
    flat = torch::Tensor();  // the parameters themselves, for weight decay only
    if (o.weight_decay() != 0) {
      for (auto& p : params) values.push_back(p.reshape({-1}));
      flat = torch::cat(values);
    }
    const auto delta = increment(flat, grad_, exp_avg_, exp_avg_sq_, ++steps_[0], o);
    for (std::size_t i = 1; i < steps_.size(); ++i) steps_[i] = steps_[0];
    for (std::size_t i = 0; i < params.size(); ++i)
      params[i].add_(delta.narrow(0, offsets_[i], params[i].numel()).view(params[i].sizes()));
    return loss;
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    // Host tensors whatever the device: a checkpoint reads back anywhere (load copies them
    // into this optimiser's buffers, on its parameters' device).
    archive.write("flat_adam/steps", torch::tensor(steps_, torch::kInt64));
    archive.write("flat_adam/exp_avg", exp_avg_.to(torch::kCPU));
    archive.write("flat_adam/exp_avg_sq", exp_avg_sq_.to(torch::kCPU));
  }
  void load(torch::serialize::InputArchive& archive) override {
    torch::Tensor steps, avg, sq;
    archive.read("flat_adam/steps", steps);
    archive.read("flat_adam/exp_avg", avg);
    archive.read("flat_adam/exp_avg_sq", sq);
    if (steps.numel() != std::int64_t(steps_.size()) || avg.numel() != exp_avg_.numel())
      throw input_error("the checkpoint's optimiser state is for another model (" +
                        std::to_string(avg.numel()) + " moments, this model has " +
                        std::to_string(exp_avg_.numel()) + ")");
    torch::NoGradGuard no_grad;
    for (std::int64_t i = 0; i < steps.numel(); ++i) steps_[std::size_t(i)] = steps[i].item<std::int64_t>();
    exp_avg_.copy_(avg);
    exp_avg_sq_.copy_(sq);
  }

 private:
  // torch::optim::Adam::step for one tensor, in place.
  static void update(torch::Tensor& p, torch::Tensor grad, torch::Tensor& exp_avg,
                     torch::Tensor& exp_avg_sq, std::int64_t step,
                     const torch::optim::AdamOptions& o) {
    p.add_(increment(p, grad, exp_avg, exp_avg_sq, step, o));
  }
  // The moments updated in place and the parameter increment -step_size m / denom; torch's
  // p.addcdiv_(m, denom, -step_size) computes p + ((-step_size) m) / denom, the same numbers.
  // p is needed only for weight decay (grad + wd p).
  static torch::Tensor increment(const torch::Tensor& p, torch::Tensor grad, torch::Tensor& exp_avg,
                                 torch::Tensor& exp_avg_sq, std::int64_t step,
                                 const torch::optim::AdamOptions& o) {
    const auto beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    const auto bias_correction1 = 1 - std::pow(beta1, double(step));
    const auto bias_correction2 = 1 - std::pow(beta2, double(step));
    if (o.weight_decay() != 0) grad = grad.add(p, o.weight_decay());
    exp_avg.mul_(beta1).add_(grad, 1 - beta1);
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    const auto denom = (exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(o.eps());
    const auto step_size = o.lr() / bias_correction1;
    return exp_avg.mul(-step_size).div_(denom);
  }

  std::vector<std::int64_t> offsets_, steps_;
  torch::Tensor exp_avg_, exp_avg_sq_, grad_;
  std::vector<torch::Tensor> avg_views_, sq_views_;
};

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& params,
                                                        const OptimizerOptions& o) {
  using namespace torch::optim;
  if (o.name == "adam") {
    const auto options =
        AdamOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(o.weight_decay);
    if (FlatAdam::applies(params)) return std::make_unique<FlatAdam>(params, options);
    return std::make_unique<Adam>(params, options);
  }
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

namespace {

// The per-parameter state of LibTorch's own optimisers (make_optimizer: Adam where FlatAdam
// does not apply, AdamW, SGD): its tensors (none for another kind), and a copy of it with them
// on another device (runtime_error for another kind).
std::vector<torch::Tensor> state_tensors(const torch::optim::OptimizerParamState& s) {
  using namespace torch::optim;
  if (const auto* a = dynamic_cast<const AdamParamState*>(&s))
    return {a->exp_avg(), a->exp_avg_sq(), a->max_exp_avg_sq()};
  if (const auto* w = dynamic_cast<const AdamWParamState*>(&s))
    return {w->exp_avg(), w->exp_avg_sq(), w->max_exp_avg_sq()};
  if (const auto* g = dynamic_cast<const SGDParamState*>(&s)) return {g->momentum_buffer()};
  return {};  // another kind: written as it is
}

std::unique_ptr<torch::optim::OptimizerParamState> state_on(
    const torch::optim::OptimizerParamState& s, const torch::Device& device) {
  using namespace torch::optim;
  const auto to = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  auto copy = s.clone();
  if (auto* a = dynamic_cast<AdamParamState*>(copy.get())) {
    a->exp_avg(to(a->exp_avg())).exp_avg_sq(to(a->exp_avg_sq()));
    a->max_exp_avg_sq(to(a->max_exp_avg_sq()));
  } else if (auto* w = dynamic_cast<AdamWParamState*>(copy.get())) {
    w->exp_avg(to(w->exp_avg())).exp_avg_sq(to(w->exp_avg_sq()));
    w->max_exp_avg_sq(to(w->max_exp_avg_sq()));
  } else if (auto* g = dynamic_cast<SGDParamState*>(copy.get())) {
    g->momentum_buffer(to(g->momentum_buffer()));
  } else {
    throw runtime_error("optimiser state of an unknown kind: it cannot change device");
  }
  return copy;
}

bool on_host(const torch::optim::OptimizerParamState& s) {
  for (const auto& t : state_tensors(s))
    if (t.defined() && !t.is_cpu()) return false;
  return true;
}

// The state map's key of a parameter: its TensorImpl's address, as a string (LibTorch 1.x) or
// as a pointer (2.x).
template <typename Key>
Key state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

}  // namespace

std::vector<std::uint8_t> optimizer_state(torch::optim::Optimizer& optimizer) {
  // Device state is written as host tensors, so that a checkpoint reads back on any device:
  // LibTorch's optimisers' per-parameter states are swapped for host copies while the archive
  // is written, then put back (FlatAdam writes host tensors itself).
  using State = std::unique_ptr<torch::optim::OptimizerParamState>;
  std::vector<std::pair<State*, State>> swapped;  // slot in the state map, its device state
  struct PutBack {
    std::vector<std::pair<State*, State>>& swapped;
    ~PutBack() {
      for (auto& [slot, state] : swapped) *slot = std::move(state);
    }
  } put_back{swapped};
  for (auto& entry : optimizer.state()) {
    if (on_host(*entry.second)) continue;
    auto host = state_on(*entry.second, torch::kCPU);
    swapped.emplace_back(&entry.second, std::exchange(entry.second, std::move(host)));
  }
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  const std::string b = bytes.str();
  return std::vector<std::uint8_t>(b.begin(), b.end());
}

void restore_optimizer_state(torch::optim::Optimizer& optimizer,
                             const std::vector<std::uint8_t>& bytes) {
  // Loaded onto the host (whatever device the archive names), then each parameter's state is
  // moved to that parameter's device.
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  torch::serialize::InputArchive archive;
  archive.load_from(in, torch::Device(torch::kCPU));
  optimizer.load(archive);
  auto& states = optimizer.state();
  using Key = typename std::decay_t<decltype(states)>::key_type;
  for (auto& group : optimizer.param_groups())
    for (const auto& p : group.params()) {
      if (p.is_cpu()) continue;
      const auto it = states.find(state_key<Key>(p));
      if (it != states.end()) it->second = state_on(*it->second, p.device());
    }
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
