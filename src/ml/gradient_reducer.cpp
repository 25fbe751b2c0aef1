// Bucketed MPI all-reduce of gradients, overlapped with the backward pass (gradient_reducer.hpp).
#include "phyflow/ml/gradient_reducer.hpp"

#include <torch/torch.h>

#include <thread>

#include "phyflow/core/error.hpp"
#include "phyflow/ml/flat_parameters.hpp"

namespace phyflow::ml {
namespace {

MPI_Datatype mpi_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    default:
      throw runtime_error(std::string("gradient all-reduce: parameters of type ") +
                          c10::toString(t) + " are not supported (float32 or float64)");
  }
}

class MpiBucketReducer final : public GradientReducer {
 public:
  MpiBucketReducer(MPI_Comm comm, const std::vector<torch::Tensor>& params, const ReducerOptions& o)
      : comm_(comm), params_(params), overlap_(o.overlap), main_thread_(std::this_thread::get_id()) {
    MPI_Comm_size(comm_, &ranks_);
    // Buckets in reverse registration order, one dtype each, at most bucket_bytes (a larger
    // tensor gets a bucket of its own).
    for (std::size_t k = params_.size(); k-- > 0;) {
      const auto& p = params_[k];
      const std::int64_t bytes = p.numel() * std::int64_t(p.element_size());
      if (buckets_.empty() || buckets_.back().dtype != p.scalar_type() ||
          (buckets_.back().bytes > 0 && buckets_.back().bytes + bytes > o.bucket_bytes))
        {
        Bucket fresh;
        fresh.dtype = p.scalar_type();
        buckets_.push_back(std::move(fresh));
      }
      Bucket& b = buckets_.back();
      slot_.push_back({});
      b.members.push_back(k);
      b.offsets.push_back(b.numel);
      b.numel += p.numel();
      b.bytes += bytes;
    }
    std::vector<std::pair<std::size_t, std::int64_t>> where(params_.size());
    for (std::size_t bi = 0; bi < buckets_.size(); ++bi) {
      Bucket& b = buckets_[bi];
      b.flat = torch::zeros({b.numel}, torch::TensorOptions().dtype(b.dtype));
      for (std::size_t m = 0; m < b.members.size(); ++m) where[b.members[m]] = {bi, b.offsets[m]};
    }
    slot_ = where;
    filled_.assign(params_.size(), false);
    // With one bucket there is nothing to overlap: the all-reduce can start only after the
    // last gradient anyway, and a hook per parameter costs more than it saves (small models
    // have ~100 parameter tensors).
    overlap_ = overlap_ && buckets_.size() > 1;
    if (overlap_ && ranks_ > 1)
      for (std::size_t k = 0; k < params_.size(); ++k)
        if (params_[k].requires_grad())
          params_[k].register_hook([this, k](const torch::Tensor& grad) { on_gradient(k, grad); });
  }

  void broadcast(const std::vector<torch::Tensor>& tensors) override {
    if (ranks_ == 1) return;
    // Flatten by dtype so one call carries everything.
    for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
      std::vector<torch::Tensor> group;
      for (const auto& t : tensors)
        if (t.scalar_type() == dtype) group.push_back(t);
      if (group.empty()) continue;
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> flat_parts;
      for (const auto& t : group) flat_parts.push_back(t.detach().to(torch::kCPU).reshape({-1}));
      auto flat = torch::cat(flat_parts).contiguous();
      check_mpi(MPI_Bcast(flat.data_ptr(), int(flat.numel()), mpi_type(dtype), 0, comm_), "MPI_Bcast");
      std::int64_t off = 0;
      for (auto& t : group) {
        t.copy_(flat.narrow(0, off, t.numel()).view(t.sizes()));
        off += t.numel();
      }
    }
  }

  void begin_backward() override {
    armed_ = true;
    std::fill(filled_.begin(), filled_.end(), false);
    next_launch_ = 0;
    for (auto& b : buckets_) {
      b.ready = 0;
      b.launched = false;
    }
  }

  void finish_backward() override {
    armed_ = false;
    if (ranks_ == 1) return;
    // Gradients laid out flat (flatten_parameters) on the host and one bucket: nothing was
    // launched early, so all-reduce the flat gradient in place, no copies in or out of the
    // bucket. (Device gradients go through the host bucket: MPI may not read device memory.)
    if (buckets_.size() == 1)
      if (auto flat = flat_alias(gradients_of(params_)); flat.defined() && flat.is_cpu()) {
        check_mpi(MPI_Allreduce(MPI_IN_PLACE, flat.data_ptr(), int(flat.numel()),
                                mpi_type(flat.scalar_type()), MPI_SUM, comm_),
                  "MPI_Allreduce (gradients)");
        torch::NoGradGuard no_grad;
        flat.div_(double(ranks_));
        return;
      }
    // Parameters whose hook did not run (no gradient on this rank, or overlap off): take
    // .grad() or zero now, and launch the buckets not yet launched.
    for (std::size_t bi = 0; bi < buckets_.size(); ++bi) {
      Bucket& b = buckets_[bi];
      for (std::size_t m = 0; m < b.members.size(); ++m) {
        const std::size_t k = b.members[m];
        if (filled_[k]) continue;
        const auto& g = params_[k].grad();
        auto view = b.flat.narrow(0, b.offsets[m], params_[k].numel());
        if (g.defined()) view.copy_(g.detach().reshape({-1}));
        else view.zero_();
        filled_[k] = true;
        ++b.ready;
      }
    }
    launch_ready();
    for (auto& b : buckets_)
      check_mpi(MPI_Wait(&b.request, MPI_STATUS_IGNORE), "MPI_Wait (gradient all-reduce)");
    torch::NoGradGuard no_grad;
    for (auto& b : buckets_) {
      b.flat.div_(double(ranks_));
      for (std::size_t m = 0; m < b.members.size(); ++m) {
        auto& p = params_[b.members[m]];
        auto avg = b.flat.narrow(0, b.offsets[m], p.numel()).view(p.sizes());
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        p.mutable_grad().copy_(avg);
      }
    }
  }

  std::int64_t bytes() const override {
    std::int64_t s = 0;
    for (const auto& b : buckets_) s += b.bytes;
    return s;
  }
  int buckets() const override { return int(buckets_.size()); }

 private:
  struct Bucket {
    torch::ScalarType dtype = torch::kFloat32;
    std::vector<std::size_t> members;    // parameter indices
    std::vector<std::int64_t> offsets;   // element offsets in flat
    std::int64_t numel = 0, bytes = 0;
    torch::Tensor flat;
    std::size_t ready = 0;
    bool launched = false;
    MPI_Request request = MPI_REQUEST_NULL;
  };

  void on_gradient(std::size_t k, const torch::Tensor& grad) {
    // MPI is initialised FUNNELED: only the main thread may call it. LibTorch runs CPU
    // backward on the calling thread; elsewhere (device backward threads) defer to finish.
    if (!armed_ || filled_[k] || std::this_thread::get_id() != main_thread_) return;
    Bucket& b = buckets_[slot_[k].first];
    b.flat.narrow(0, slot_[k].second, params_[k].numel()).copy_(grad.detach().reshape({-1}));
    filled_[k] = true;
    ++b.ready;
    launch_ready();
    // Open MPI progresses non-blocking collectives inside MPI calls: give it a turn.
    for (auto& other : buckets_)
      if (other.launched) {
        int done = 0;
        MPI_Test(&other.request, &done, MPI_STATUS_IGNORE);
      }
  }

  // Non-blocking collectives must start in the same order on every rank: buckets start in
  // index order, each once it and all before it are complete.
  void launch_ready() {
    while (next_launch_ < buckets_.size() &&
           buckets_[next_launch_].ready == buckets_[next_launch_].members.size())
      launch(buckets_[next_launch_]);
  }

  void launch(Bucket& b) {
    ++next_launch_;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, b.flat.data_ptr(), int(b.numel), mpi_type(b.dtype),
                             MPI_SUM, comm_, &b.request),
              "MPI_Iallreduce (gradients)");
    b.launched = true;
  }

  MPI_Comm comm_;
  int ranks_ = 1;
  std::vector<torch::Tensor> params_;
  bool overlap_;
  bool armed_ = false;
  std::thread::id main_thread_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<std::size_t, std::int64_t>> slot_;  // bucket, offset
  std::vector<bool> filled_;
  std::size_t next_launch_ = 0;
};

}  // namespace

std::unique_ptr<GradientReducer> make_mpi_reducer(MPI_Comm comm,
                                                  const std::vector<torch::Tensor>& parameters,
                                                  const ReducerOptions& options) {
  return std::make_unique<MpiBucketReducer>(comm, parameters, options);
}

void check_reducer_backend(const std::string& backend, const std::string& device) {
  if (backend != "nccl") return;
#if PHYFLOW_HAVE_NCCL
  if (device == "cpu")
    throw input_error("parallel.reducer: nccl reduces GPU tensors, and device is cpu; set device: "
                      "cuda, or parallel.reducer: auto or mpi");
#else
  (void)device;
  throw input_error("parallel.reducer: nccl: this build has no NCCL (a CUDA LibTorch and NCCL "
                    "are needed: docs/install.md); use parallel.reducer: auto or mpi");
#endif
}

std::unique_ptr<GradientReducer> make_gradient_reducer(MPI_Comm comm,
                                                       const std::vector<torch::Tensor>& parameters,
                                                       const ReducerOptions& options) {
  const bool on_gpu = !parameters.empty() && parameters.front().is_cuda();
  if (options.backend == "mpi") return make_mpi_reducer(comm, parameters, options);
  if (options.backend == "nccl") {
#if PHYFLOW_HAVE_NCCL
    if (!on_gpu)
      throw input_error("parallel.reducer: nccl reduces GPU tensors; the model is on the CPU "
                        "(set device: cuda, or parallel.reducer: auto or mpi)");
    return make_nccl_reducer(comm, parameters, options);
#else
    throw input_error("parallel.reducer: nccl: this build has no NCCL (a CUDA LibTorch and NCCL "
                      "are needed: docs/install.md); use parallel.reducer: auto or mpi");
#endif
  }
  if (options.backend != "auto")
    throw input_error("parallel.reducer: '" + options.backend + "' is not a reducer; use auto, "
                      "mpi or nccl");
#if PHYFLOW_HAVE_NCCL
  // One rank has nothing to average: the MPI reducer then does nothing at all (no copies, no
  // hooks), while NCCL would still build and tear down a communicator.
  int ranks = 1;
  MPI_Comm_size(comm, &ranks);
  if (on_gpu && ranks > 1) return make_nccl_reducer(comm, parameters, options);
#endif
  (void)on_gpu;
  return make_mpi_reducer(comm, parameters, options);
}

}  // namespace phyflow::ml
