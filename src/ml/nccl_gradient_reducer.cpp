// NCCL all-reduce of device gradients (gradient_reducer.hpp), compiled in only when LibTorch has
// CUDA and NCCL is found (PHYFLOW_HAVE_NCCL). Gradients stay on the GPU: each bucket is one
// device tensor, reduced in place by ncclAllReduce with ncclAvg on the current torch CUDA
// stream, so the copies in and out and the reduction are ordered with the backward pass
// without host synchronisation. One NCCL communicator per reducer, over the ranks of `comm`
// (its unique id is sent from rank 0 by MPI). Buckets are launched after the backward pass
// (no gradient hooks: device autograd runs on torch's own threads).
#include "phyflow/ml/gradient_reducer.hpp"

#include "phyflow/core/error.hpp"

#include <c10/cuda/CUDAStream.h>
#include <nccl.h>
#include <torch/torch.h>

#include <vector>

namespace phyflow::ml {
namespace {

void check_nccl(ncclResult_t rc, const char* call) {
  if (rc != ncclSuccess)
    throw runtime_error(std::string(call) + " failed: " + ncclGetErrorString(rc));
}

// NCCL refuses two ranks on one GPU (ncclCommInitRank: "invalid usage"). Checked first, on
// every rank together, so the user gets the reason and the fix instead of NCCL's code (seen
// with 2 ranks on one H200).
void require_one_gpu_per_rank(MPI_Comm comm, int device) {
  MPI_Comm node = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node),
            "MPI_Comm_split_type");
  int size = 0;
  MPI_Comm_size(node, &size);
  std::vector<int> devices(static_cast<std::size_t>(size));
  check_mpi(MPI_Allgather(&device, 1, MPI_INT, devices.data(), 1, MPI_INT, node), "MPI_Allgather");
  MPI_Comm_free(&node);
  int shared = 0;
  for (int a = 0; a < size && !shared; ++a)
    for (int b = a + 1; b < size; ++b)
      if (devices[a] == devices[b]) shared = 1;
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, &shared, 1, MPI_INT, MPI_MAX, comm), "MPI_Allreduce");
  if (shared)
    throw input_error("parallel.reducer: NCCL needs one GPU per rank, and ranks of one node share "
                      "a GPU; give each rank its own GPU (Slurm: --gpus-per-task=1) or set "
                      "parallel.reducer: mpi");
}

ncclDataType_t nccl_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kFloat16: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    case torch::kInt64: return ncclInt64;
    case torch::kInt32: return ncclInt32;
    default:
      throw runtime_error(std::string("NCCL gradient reducer: tensors of type ") +
                          c10::toString(t) + " are not supported");
  }
}

class NcclBucketReducer final : public GradientReducer {
 public:
  NcclBucketReducer(MPI_Comm comm, const std::vector<torch::Tensor>& params,
                    const ReducerOptions& o)
      : params_(params) {
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &ranks_);
    require_one_gpu_per_rank(comm, params.empty() ? 0 : params.front().device().index());
    ncclUniqueId id;
    if (rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    check_mpi(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm), "MPI_Bcast (NCCL id)");
    check_nccl(ncclCommInitRank(&nccl_, ranks_, id, rank), "ncclCommInitRank");
    // Buckets as in the MPI reducer: reverse registration order, one dtype, <= bucket_bytes.
    for (std::size_t k = params_.size(); k-- > 0;) {
      const auto& p = params_[k];
      const std::int64_t bytes = p.numel() * std::int64_t(p.element_size());
      if (buckets_.empty() || buckets_.back().dtype != p.scalar_type() ||
          (buckets_.back().bytes > 0 && buckets_.back().bytes + bytes > o.bucket_bytes))
        buckets_.push_back(Bucket{p.scalar_type(), {}, 0, 0, {}});
      Bucket& b = buckets_.back();
      b.members.push_back(k);
      b.numel += p.numel();
      b.bytes += bytes;
    }
    for (auto& b : buckets_)
      b.flat = torch::zeros({b.numel},
                            torch::TensorOptions().dtype(b.dtype).device(params_.front().device()));
  }

  ~NcclBucketReducer() override { ncclCommDestroy(nccl_); }

  void broadcast(const std::vector<torch::Tensor>& tensors) override {
    if (ranks_ == 1) return;
    torch::NoGradGuard no_grad;
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();
    for (const auto& t : tensors) {
      auto c = t.detach().contiguous();
      check_nccl(ncclBroadcast(c.data_ptr(), c.data_ptr(), size_t(c.numel()),
                               nccl_type(c.scalar_type()), 0, nccl_, stream),
                 "ncclBroadcast");
      if (!c.is_same(t)) t.detach().copy_(c);
    }
  }

  void begin_backward() override {}

  void finish_backward() override {
    if (ranks_ == 1) return;
    torch::NoGradGuard no_grad;
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();
    for (auto& b : buckets_) {
      std::int64_t off = 0;
      for (std::size_t k : b.members) {
        const auto& p = params_[k];
        auto view = b.flat.narrow(0, off, p.numel());
        if (p.grad().defined()) view.copy_(p.grad().detach().reshape({-1}));
        else view.zero_();
        off += p.numel();
      }
      check_nccl(ncclAllReduce(b.flat.data_ptr(), b.flat.data_ptr(), size_t(b.numel),
                               nccl_type(b.dtype), ncclAvg, nccl_, stream),
                 "ncclAllReduce (gradients)");
      off = 0;
      for (std::size_t k : b.members) {
        auto& p = params_[k];
        auto avg = b.flat.narrow(0, off, p.numel()).view(p.sizes());
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        p.mutable_grad().copy_(avg);
        off += p.numel();
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
    torch::ScalarType dtype;
    std::vector<std::size_t> members;
    std::int64_t numel, bytes;
    torch::Tensor flat;
  };
  std::vector<torch::Tensor> params_;
  int ranks_ = 1;
  ncclComm_t nccl_ = nullptr;
  std::vector<Bucket> buckets_;
};

}  // namespace

std::unique_ptr<GradientReducer> make_nccl_reducer(MPI_Comm comm,
                                                   const std::vector<torch::Tensor>& parameters,
                                                   const ReducerOptions& options) {
  for (const auto& p : parameters)
    if (!p.is_cuda() || p.device() != parameters.front().device())
      throw runtime_error("NCCL gradient reducer: every parameter must be on the same CUDA device");
  return std::make_unique<NcclBucketReducer>(comm, parameters, options);
}

}  // namespace phyflow::ml
