// Reverse-KL training of flows (reverse_kl.hpp).
#include "phyflow/flows/reverse_kl.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/progress.hpp"
#include "phyflow/core/rng.hpp"
#include "phyflow/core/signals.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/ml/dataset.hpp"
#include "phyflow/ml/flat_parameters.hpp"
#include "phyflow/ml/model_file.hpp"

namespace phyflow::flows {

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

std::uint32_t train_purpose() { return rng::purpose("flow_train"); }
std::uint32_t data_purpose() { return rng::purpose("flow_data"); }

double log_sum_exp(const std::vector<double>& v, double scale) {
  double m = -std::numeric_limits<double>::infinity();
  for (double x : v) m = std::max(m, scale * x);
  if (!std::isfinite(m)) return m;
  double s = 0.0;
  for (double x : v) s += std::exp(scale * x - m);
  return m + std::log(s);
}

double ess_per_sample(const std::vector<double>& log_w) {
  if (log_w.empty()) return 0.0;
  std::vector<double> defined;
  defined.reserve(log_w.size());
  for (const double lw : log_w)
    if (!std::isnan(lw)) defined.push_back(lw);
  if (defined.empty()) return 0.0;
  return std::exp(2.0 * log_sum_exp(defined) - log_sum_exp(defined, 2.0)) / double(log_w.size());
}

std::optional<LossBlowUp> loss_blow_up(const std::vector<double>& loss, std::int64_t from,
                                       std::int64_t block, double factor, BlowUpWatch* watch) {
  const auto n = std::int64_t(loss.size());
  from = std::max<std::int64_t>(0, from);
  if (factor <= 0 || block < 1 || n - from < block || (n - from) % block != 0) return std::nullopt;
  const auto median = [&](std::int64_t begin) {
    std::vector<double> b(loss.begin() + begin, loss.begin() + begin + block);
    const auto mid = b.begin() + block / 2;
    std::nth_element(b.begin(), mid, b.end());
    if (block % 2 == 1) return *mid;
    return 0.5 * (*mid + *std::max_element(b.begin(), mid));
  };
  const std::int64_t blocks = (n - from) / block;  // the last one included
  double reference = loss[std::size_t(from)];
  if (watch && watch->from == from && watch->blocks == blocks - 1) {
    reference = watch->reference;
  } else {
    for (std::int64_t k = 0; k + 1 < blocks; ++k)
      reference = std::min(reference, median(from + k * block));
  }
  const double last = median(n - block);
  if (watch) *watch = BlowUpWatch{from, blocks, std::min(reference, last)};
  if (!(last > reference + factor * std::max(1.0, std::abs(reference)))) return std::nullopt;
  return LossBlowUp{n - block + 1, n, last, reference};
}

ReverseKlTrainer::ReverseKlTrainer(MPI_Comm comm, std::shared_ptr<Flow> flow,
                                   std::shared_ptr<const Target> target, ReverseKlOptions options)
    : comm_(comm), flow_(std::move(flow)), target_(std::move(target)), o_(std::move(options)) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &ranks_);
  const auto& fs = flow_->config().shape;
  if (target_->shape().dims != fs.dims || target_->shape().L != fs.L)
    throw runtime_error("ReverseKlTrainer: the target (" + target_->describe() +
                        ") and the flow (d = " + std::to_string(fs.dims) +
                        ", L = " + std::to_string(fs.L) + ") are on different lattices");
  if (o_.batch < ranks_)
    throw input_error("train.batch (" + std::to_string(o_.batch) + ", the global batch) is " +
                      "smaller than the number of ranks (" + std::to_string(ranks_) +
                      "): raise train.batch or run on fewer ranks");
  if (o_.objective != "reverse_kl" && o_.objective != "forward_kl" && o_.objective != "mixed")
    throw input_error("unknown train.objective '" + o_.objective +
                      "' (known: reverse_kl, forward_kl, mixed)");
  if (o_.objective == "mixed" && !(o_.forward_weight >= 0.0))
    throw input_error("train.forward_weight must be >= 0");
  if (o_.objective != "reverse_kl") {
    if (!o_.data.defined() || o_.data.size(0) < 1)
      throw input_error("train.objective " + o_.objective +
                        " needs samples of the target (train.data)");
    auto want = fs.batch(o_.data.size(0));
    if (o_.data.sizes() != c10::IntArrayRef(want))
      throw input_error("the forward-KL samples have shape " + c10::str(o_.data.sizes()) +
                        "; the flow's lattice needs (N, " + std::to_string(fs.L) + " x " +
                        std::to_string(fs.dims) + ")");
    o_.data = o_.data.to(torch::kCPU, torch::kFloat64).contiguous();  // batches are moved
  }
  for (auto& p : flow_->parameters())
    if (p.requires_grad()) params_.push_back(p);
  ml::flatten_parameters(params_);
  optimizer_ = ml::make_optimizer(params_, o_.optimizer);
  reducer_ = ml::make_gradient_reducer(comm_, params_, o_.reducer);
  std::vector<torch::Tensor> all;
  for (auto& [name, t] : ml::named_tensors(*flow_)) all.push_back(t);
  reducer_->broadcast(all);
  schedule_.kind = o_.schedule;
  schedule_.lr = o_.optimizer.lr;
  schedule_.total_steps = std::max<std::int64_t>(1, o_.steps);
}

ReverseKlTrainer::~ReverseKlTrainer() = default;

double ReverseKlTrainer::beta(std::int64_t step) const {
  if (o_.anneal_steps <= 0 || step >= o_.anneal_steps) return 1.0;
  return o_.anneal_start + (1.0 - o_.anneal_start) * double(step) / double(o_.anneal_steps);
}

double ReverseKlTrainer::step(bool& stop) {
  const std::int64_t first = o_.batch * rank_ / ranks_;
  const std::int64_t n = o_.batch * (rank_ + 1) / ranks_ - first;
  const double b = beta(state_.step);
  ml::set_learning_rate(*optimizer_, schedule_.at(state_.step));
  ml::zero_gradients(params_);
  reducer_->begin_backward();
  torch::Tensor terms, S, log_q;
  // This rank's data batch: indices keyed by global sample index and step, gathered on the
  // host and moved to the flow's device.
  const auto data_batch = [&] {
    const rng::Stream stream(o_.seed, data_purpose());
    const auto N = std::uint64_t(o_.data.size(0));
    std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      const auto w = stream(std::uint64_t(first + i), std::uint64_t(state_.step));
      idx[std::size_t(i)] =
          std::int64_t(((std::uint64_t(w.w[1]) << 32 | std::uint64_t(w.w[0])) % N));
    }
    return o_.data.index_select(0, torch::tensor(idx, torch::kInt64))
        .to(flow_->device(), flow_->config().scalar_type());
  };
  if (o_.objective == "forward_kl") {
    terms = -flow_->log_q(data_batch());
    (terms.sum() * (double(ranks_) / double(o_.batch))).backward();
    // The flow as a sampler: ESS of a batch drawn from it (no gradient).
    torch::NoGradGuard no_grad;
    auto drawn = flow_->sample(first, n, o_.seed, train_purpose(), std::uint64_t(state_.step));
    S = target_->action(drawn.first);
    log_q = drawn.second;
  } else {
    auto drawn = flow_->sample(first, n, o_.seed, train_purpose(), std::uint64_t(state_.step));
    log_q = drawn.second;
    S = target_->action(drawn.first);
    terms = log_q + b * S;
    if (o_.objective == "mixed") terms = terms - o_.forward_weight * flow_->log_q(data_batch());
    // This rank's sum scaled so that the reducer's mean over ranks is the global batch mean.
    (terms.sum() * (double(ranks_) / double(o_.batch))).backward();
  }
  reducer_->finish_backward();
  if (o_.clip > 0) torch::nn::utils::clip_grad_norm_(params_, o_.clip);
  optimizer_->step();

  // Global loss, ESS of the batch, and whether to stop (a signal anywhere, rank 0's clock), in
  // one collective: each rank contributes its log-weights and three numbers (its loss sum, its
  // stop request, its clock's verdict). One synchronisation per step fewer than a gather and a
  // reduction: on 2 ranks each synchronisation waits for the slower rank.
  const auto lw = (-S - log_q).detach().to(torch::kFloat64).to(torch::kCPU).contiguous();
  constexpr int extra = 3;
  const bool over_time = rank_ == 0 && o_.time_limit_s > 0 && now_s() - started_ >= o_.time_limit_s;
  std::vector<double> local(lw.data_ptr<double>(), lw.data_ptr<double>() + n);
  local.push_back(terms.detach().sum().item<double>());
  local.push_back(signals::stop_requested() ? 1.0 : 0.0);
  local.push_back(over_time ? 1.0 : 0.0);
  std::vector<double> gathered(static_cast<std::size_t>(o_.batch + extra * ranks_));
  std::vector<int> counts(static_cast<std::size_t>(ranks_)),
      displs(static_cast<std::size_t>(ranks_));
  for (int r = 0; r < ranks_; ++r) {
    displs[std::size_t(r)] = int(o_.batch * r / ranks_) + extra * r;
    counts[std::size_t(r)] = int(o_.batch * (r + 1) / ranks_ - o_.batch * r / ranks_) + extra;
  }
  check_mpi(MPI_Allgatherv(local.data(), int(n) + extra, MPI_DOUBLE, gathered.data(),
                           counts.data(), displs.data(), MPI_DOUBLE, comm_),
            "MPI_Allgatherv (flow training weights and loss)");
  std::vector<double> all;
  all.reserve(static_cast<std::size_t>(o_.batch));
  double sums[3] = {0.0, 0.0, 0.0};
  for (int r = 0; r < ranks_; ++r) {
    const auto* rec = gathered.data() + displs[std::size_t(r)];
    const int m = counts[std::size_t(r)] - extra;
    all.insert(all.end(), rec, rec + m);
    for (int k = 0; k < extra; ++k) sums[k] += rec[m + k];
  }
  const double loss = sums[0] / double(o_.batch);
  if (!std::isfinite(loss))
    // The loss is gathered from every rank: all ranks stop here together, one message.
    throw runtime_error("flow training diverged: the loss is " + log::number(loss) + " at step " +
                        std::to_string(state_.step + 1) + "; lower train.lr or set train.clip")
        .agreed_from(0);
  state_.loss.push_back(loss);
  // The loss is the same number on every rank: so is this verdict.
  constexpr std::int64_t divergence_block = 50;
  if (const auto up = loss_blow_up(state_.loss, o_.anneal_steps, divergence_block, o_.divergence,
                                   &blow_up_watch_))
    throw runtime_error(
        "flow training diverged: the median loss of steps " + std::to_string(up->first_step) + "-" +
        std::to_string(up->last_step) + " is " + log::number(up->median) + " against " +
        log::number(up->reference) +
        " at the start (the first loss, or the best 50-step median since), more than "
        "train.divergence = " +
        log::number(o_.divergence) + " times max(1, |" + log::number(up->reference) +
        "|) higher; lower train.lr" +
        (o_.objective == "mixed" ? std::string(" or train.forward_weight") : std::string()) +
        ", or set train.clip (train.divergence: 0 trains on regardless)")
        .agreed_from(0);
  state_.ess.push_back(ess_per_sample(all));
  ++state_.step;
  stop = sums[1] > 0;
  time_over_ = sums[2] > 0;
  return loss;
}

TrainEnd ReverseKlTrainer::run() {
  started_ = now_s();
  Progress progress("flow train", std::uint64_t(o_.steps), "steps", o_.progress_interval);
  std::int64_t run_steps = 0;
  flow_->train();
  double ess_avg = 0.0;
  while (state_.step < o_.steps) {
    bool stop = false;
    const double loss = step(stop);
    ++run_steps;
    ess_avg = run_steps == 1 ? state_.ess.back() : 0.9 * ess_avg + 0.1 * state_.ess.back();
    progress.update(std::uint64_t(state_.step));
    if (o_.progress_interval > 0 && (state_.step % std::max<std::int64_t>(1, o_.steps / 10) == 0))
      log::info("flow train: step " + std::to_string(state_.step) + "/" + std::to_string(o_.steps) +
                ": loss " + log::number(loss) + ", batch ESS " + log::number(ess_avg));
    const bool bounded = o_.stop_after > 0 && run_steps >= o_.stop_after;
    if (stop || bounded) {
      signalled_ = stop;
      write_checkpoint();
      return TrainEnd::interrupted;
    }
    if (time_over_) {
      log::info("flow train: train.time_limit_s reached after " + std::to_string(state_.step) +
                " steps");
      progress.finish(static_cast<std::uint64_t>(state_.step));
      return TrainEnd::time_limit;
    }
    if (o_.checkpoint_every > 0 && state_.step % o_.checkpoint_every == 0) write_checkpoint();
  }
  progress.finish();
  return TrainEnd::finished;
}

void ReverseKlTrainer::write_checkpoint() {
  if (o_.checkpoint_path.empty()) return;
  if (rank_ == 0) {
    std::lock_guard<std::recursive_mutex> lock(ml::hdf5_mutex());
    auto f = io::OutputFile::create(MPI_COMM_SELF, o_.checkpoint_path, /*overwrite=*/true);
    write_flow(f, "/model", *flow_);
    const auto b = ml::optimizer_state(*optimizer_);
    f.write_array("/optimizer", b.data(), {b.size()}, "optimizer state (LibTorch archive)",
                  "bytes");
    f.write_array("/history/loss", state_.loss.data(), {state_.loss.size()},
                  "reverse-KL loss per step", "1");
    f.write_array("/history/ess", state_.ess.data(), {state_.ess.size()},
                  "batch ESS per sample, per step", "1");
    f.set_attribute("/", "step", state_.step);
    if (annotate_checkpoint) annotate_checkpoint(f);
    f.commit();
  }
  check_mpi(MPI_Barrier(comm_), "MPI_Barrier (checkpoint)");
  log::info("checkpoint " + o_.checkpoint_path + " at step " + std::to_string(state_.step));
}

void ReverseKlTrainer::restore(const std::string& checkpoint) {
  std::lock_guard<std::recursive_mutex> lock(ml::hdf5_mutex());
  const auto f = io::InputFile::open(checkpoint, MPI_COMM_SELF);
  ml::load_weights(f, "/model", *flow_);
  ml::restore_optimizer_state(*optimizer_, f.read<std::uint8_t>("/optimizer"));
  state_.step = f.attribute_int("/", "step");
  state_.loss = f.read<double>("/history/loss");
  state_.ess = f.read<double>("/history/ess");
}

}  // namespace phyflow::flows
