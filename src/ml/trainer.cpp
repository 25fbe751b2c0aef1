// The distributed training loop (trainer.hpp).
#include "phyflow/ml/trainer.hpp"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/progress.hpp"
#include "phyflow/core/signals.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/ml/device.hpp"
#include "phyflow/ml/flat_parameters.hpp"
#include "phyflow/ml/model_file.hpp"
#include "phyflow/ml/prefetch_loader.hpp"

namespace phyflow::ml {

namespace {}  // namespace

Trainer::Trainer(MPI_Comm comm, ModelPtr model, const Dataset& train, const Dataset* val,
                 TrainerOptions options, const Dataset* test)
    : comm_(comm), model_(std::move(model)), train_(train), val_(val), o_(std::move(options)),
      test_(test) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &ranks_);
  model_->to(o_.device);  // before the optimiser and the reducer see the parameters
  for (auto& p : model_->parameters())
    if (p.requires_grad()) params_.push_back(p);
  flatten_parameters(params_);
  optimizer_ = make_optimizer(params_, o_.optimizer);
  reducer_ = make_gradient_reducer(comm_, params_, o_.reducer);
  std::vector<torch::Tensor> all;
  for (auto& [name, t] : named_tensors(*model_)) all.push_back(t);
  reducer_->broadcast(all);
  o_.schedule.lr = o_.optimizer.lr;
  o_.schedule.steps_per_epoch = steps_per_epoch();
  o_.schedule.total_steps = std::max<std::int64_t>(1, steps_per_epoch() * o_.epochs);
  state_.best = std::numeric_limits<double>::infinity();
}

Trainer::~Trainer() = default;

std::int64_t Trainer::steps_per_epoch() const {
  return StepPlan{train_.size(), o_.batch, ranks_, o_.drop_last}.steps_per_epoch();
}

void Trainer::step(const Batch& batch, double& loss_sum, bool& stop) {
  const StepPlan plan{train_.size(), o_.batch, ranks_, o_.drop_last};
  const std::int64_t n = batch.size(), global_n = plan.global_count(state_.step_in_epoch);
  set_learning_rate(*optimizer_, o_.schedule.at(state_.global_step));
  zero_gradients(params_);
  reducer_->begin_backward();
  double local = 0.0;
  if (n > 0) {
    Batch keyed = to_device(batch, o_.device);  // on the host: the same tensors, not copies
    keyed.seed = o_.seed;
    keyed.step = state_.global_step;
    const auto loss = model_->loss(keyed);
    // Each rank's mean, weighted by its share of the global batch: averaged over ranks by
    // the reducer this is the gradient of the global batch's mean loss.
    (loss * (double(n) * ranks_ / double(global_n))).backward();
    local = loss.item<double>() * double(n);
  }
  reducer_->finish_backward();
  if (o_.clip > 0) torch::nn::utils::clip_grad_norm_(params_, o_.clip);
  optimizer_->step();
  double sums[2] = {local, signals::stop_requested() ? 1.0 : 0.0};
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, comm_), "MPI_Allreduce");
  loss_sum = sums[0];
  stop = sums[1] > 0;
  if (!std::isfinite(loss_sum)) {
    // loss_sum is the all-reduced loss: every rank stops here together, with one message.
    if (state_.global_step == 0)  // no update has been made: the initial model overflows
      throw runtime_error("the loss is " + log::number(loss_sum) +
                          " at the first step, before any "
                          "update: the model's output overflows at its initial weights (an "
                          "unbounded activation such as softplus or relu in a model that is "
                          "integrated in time, or data far outside the unit scale); choose "
                          "model.activation tanh or rescale the data")
          .agreed_from(0);
    throw runtime_error("training diverged: the loss is " + log::number(loss_sum) + " at step " +
                        std::to_string(state_.global_step + 1) +
                        "; lower optim.lr or set optim.clip (gradient norm clipping)")
        .agreed_from(0);
  }
}

TrainOutcome Trainer::run() {
  const StepPlan plan{train_.size(), o_.batch, ranks_, o_.drop_last};
  const std::int64_t spe = plan.steps_per_epoch();
  if (spe == 0)
    throw input_error("the training set '" + train_.path() + "' has " +
                      std::to_string(train_.size()) + " samples, fewer than one global batch (" +
                      std::to_string(plan.global_batch()) + " = optim.batch x ranks) with "
                      "optim.drop_last: lower optim.batch");
  PrefetchLoader loader(train_, plan, o_.seed, rank_, o_.dtype, o_.prefetch);
  Progress progress("train", std::uint64_t(o_.epochs * spe), "steps", o_.progress_interval);
  std::int64_t run_steps = 0;
  model_->train();
  while (state_.epoch < o_.epochs && !state_.stopped_early) {
    loader.start_epoch(std::uint64_t(state_.epoch), state_.step_in_epoch);
    const auto t0 = std::chrono::steady_clock::now();
    std::int64_t samples = 0;
    while (state_.step_in_epoch < spe) {
      const Batch batch = loader.next();
      double loss_sum = 0;
      bool stop = false;
      samples += plan.global_count(state_.step_in_epoch);
      step(batch, loss_sum, stop);
      state_.epoch_loss_sum += loss_sum;
      ++state_.step_in_epoch;
      ++state_.global_step;
      ++run_steps;
      progress.update(std::uint64_t(state_.global_step));
      const bool bounded = o_.stop_after > 0 && run_steps >= o_.stop_after;
      if (stop || bounded) {
        signalled_ = stop;
        write_checkpoint();
        return TrainOutcome::interrupted;
      }
      if (o_.checkpoint_every > 0 && state_.global_step % o_.checkpoint_every == 0) write_checkpoint();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    end_of_epoch(seconds, samples);
  }
  progress.finish();
  return TrainOutcome::finished;
}

void Trainer::end_of_epoch(double seconds, std::int64_t samples) {
  const StepPlan plan{train_.size(), o_.batch, ranks_, o_.drop_last};
  const std::int64_t epoch_samples = std::min(plan.samples, plan.steps_per_epoch() * plan.global_batch());
  nlohmann::json m;
  m["epoch"] = state_.epoch + 1;
  m["step"] = state_.global_step;
  m["lr"] = o_.schedule.at(std::max<std::int64_t>(0, state_.global_step - 1));
  m["train_loss"] = state_.epoch_loss_sum / double(epoch_samples);
  m["train_seconds"] = seconds;
  m["samples_per_s"] = seconds > 0 ? double(samples) / seconds : 0.0;
  double monitored = m["train_loss"].get<double>();
  if (val_) {
    EvaluationOptions eo;
    eo.chunk = o_.eval_chunk;
    eo.max_samples = o_.val_max;
    eo.dtype = o_.dtype;
    eo.device = o_.device;
    const auto t0 = std::chrono::steady_clock::now();
    const Evaluation ev = evaluate(comm_, *model_, *val_, eo);
    for (const auto& [k, v] : ev.metrics) m["val_" + k] = v;
    m["val_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    monitored = ev.metrics.at(o_.monitor);
  }
  if (test_ && o_.test_each_epoch) {
    EvaluationOptions eo;
    eo.chunk = o_.eval_chunk;
    eo.dtype = o_.dtype;
    eo.device = o_.device;
    for (const auto& [k, v] : evaluate(comm_, *model_, *test_, eo).metrics) m["test_" + k] = v;
  }
  if (monitored < state_.best - o_.min_delta) {
    state_.best = monitored;
    state_.best_epoch = state_.epoch;
    state_.bad_epochs = 0;
    best_.clear();
    for (auto& [name, t] : named_tensors(*model_)) best_.push_back(t.detach().clone());
  } else {
    ++state_.bad_epochs;
    if (o_.patience > 0 && state_.bad_epochs >= o_.patience) state_.stopped_early = true;
  }
  m["best_epoch"] = state_.best_epoch + 1;
  m["monitor"] = val_ ? "val_" + o_.monitor : "train_loss";
  state_.history.push_back(m);
  if (rank_ == 0 && on_epoch) on_epoch(m);
  std::string line = "epoch " + std::to_string(state_.epoch + 1) + "/" + std::to_string(o_.epochs) +
                     ": train loss " + log::number(m["train_loss"].get<double>());
  if (val_) line += ", val " + o_.monitor + " " + log::number(monitored);
  line += " (best epoch " + std::to_string(state_.best_epoch + 1) + "), " +
          log::number(m["samples_per_s"].get<double>()) + " samples/s";
  if (state_.stopped_early)
    line += "; stopping early: no improvement for " + std::to_string(state_.bad_epochs) + " epochs";
  log::info(line);
  ++state_.epoch;
  state_.step_in_epoch = 0;
  state_.epoch_loss_sum = 0.0;
}

void Trainer::use_best_weights() {
  if (best_.empty()) return;
  torch::NoGradGuard no_grad;
  auto tensors = named_tensors(*model_);
  for (std::size_t k = 0; k < tensors.size(); ++k) tensors[k].second.copy_(best_[k]);
}

void Trainer::write_checkpoint() {
  if (o_.checkpoint_path.empty()) return;
  if (rank_ == 0) {
    std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
    auto f = io::OutputFile::create(MPI_COMM_SELF, o_.checkpoint_path, /*overwrite=*/true);
    write_model(f, "/model", *model_);
    if (!best_.empty()) {
      auto best = named_tensors(*model_);
      for (std::size_t k = 0; k < best.size(); ++k) best[k].second = best_[k];
      write_tensors(f, "/best", best, "best weights so far:");
    }
    const auto b = optimizer_state(*optimizer_);
    f.write_array("/optimizer", b.data(), {b.size()}, "optimizer state (LibTorch archive)",
                  "bytes");
    auto rng = at::detail::getDefaultCPUGenerator().get_state().contiguous();
    f.write_array("/torch_rng", rng.data_ptr<std::uint8_t>(), {std::uint64_t(rng.numel())},
                  "LibTorch CPU generator state", "bytes");
    f.set_attribute("/", "epoch", state_.epoch);
    f.set_attribute("/", "step_in_epoch", state_.step_in_epoch);
    f.set_attribute("/", "global_step", state_.global_step);
    f.set_attribute("/", "epoch_loss_sum", state_.epoch_loss_sum);
    f.set_attribute("/", "best", state_.best);
    f.set_attribute("/", "best_epoch", state_.best_epoch);
    f.set_attribute("/", "bad_epochs", state_.bad_epochs);
    f.set_attribute("/", "stopped_early", std::int64_t(state_.stopped_early));
    f.set_attribute("/", "history", state_.history.dump());
    if (annotate_checkpoint) annotate_checkpoint(f);
    f.commit();
  }
  check_mpi(MPI_Barrier(comm_), "MPI_Barrier (checkpoint)");
  log::info("checkpoint " + o_.checkpoint_path + " at step " + std::to_string(state_.global_step));
}

void Trainer::restore(const std::string& checkpoint) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  const auto f = io::InputFile::open(checkpoint, MPI_COMM_SELF);
  best_.clear();
  if (f.is_group("/best")) {
    load_weights(f, "/best", *model_);
    for (auto& [name, t] : named_tensors(*model_)) best_.push_back(t.detach().clone());
  }
  load_weights(f, "/model", *model_);
  restore_optimizer_state(*optimizer_, f.read<std::uint8_t>("/optimizer"));
  auto rng = f.read<std::uint8_t>("/torch_rng");
  auto generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(
      torch::from_blob(rng.data(), {std::int64_t(rng.size())}, torch::kUInt8).clone());
  state_.epoch = f.attribute_int("/", "epoch");
  state_.step_in_epoch = f.attribute_int("/", "step_in_epoch");
  state_.global_step = f.attribute_int("/", "global_step");
  state_.epoch_loss_sum = f.attribute_double("/", "epoch_loss_sum");
  state_.best = f.attribute_double("/", "best");
  state_.best_epoch = f.attribute_int("/", "best_epoch");
  state_.bad_epochs = f.attribute_int("/", "bad_epochs");
  state_.stopped_early = f.attribute_int("/", "stopped_early") != 0;
  state_.history = nlohmann::json::parse(f.attribute_string("/", "history"));
}

}  // namespace phyflow::ml
