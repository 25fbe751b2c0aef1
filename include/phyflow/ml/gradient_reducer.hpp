// Data parallelism across ranks (DESIGN.md §8): every rank holds the same weights (broadcast
// from rank 0 once) and, after each backward pass, the gradients averaged over ranks. The
// trainer sees only this interface, so a CUDA build can reduce device tensors with NCCL or a
// CUDA-aware MPI without touching it.
//
// MpiBucketReducer follows PyTorch DDP: parameters are packed, in reverse registration order
// (gradients become ready roughly backwards), into a few contiguous buckets of at most
// `bucket_bytes`; with `overlap`, a gradient hook copies each gradient into its bucket as
// autograd produces it and starts the bucket's MPI_Iallreduce as soon as it is complete, so
// communication overlaps the rest of the backward pass. Device tensors are staged through
// host buckets. In builds with CUDA LibTorch and NCCL (PHYFLOW_HAVE_NCCL), the NCCL reducer
// keeps device gradients on the GPU (nccl_gradient_reducer.cpp); make_gradient_reducer picks it
// for parameters on a CUDA device.
#pragma once

#include <mpi.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace phyflow::ml {

class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  /// Makes every rank's tensors equal to rank 0's (parameters and buffers, once at start).
  virtual void broadcast(const std::vector<torch::Tensor>& tensors) = 0;
  /// Called before a backward pass whose gradients are to be reduced.
  virtual void begin_backward() = 0;
  /// After the backward pass: every parameter's .grad() is the mean over ranks (a parameter
  /// that got no gradient on a rank counts as zero there).
  virtual void finish_backward() = 0;
  /// Bytes of gradient reduced per step, and the number of buckets.
  virtual std::int64_t bytes() const = 0;
  virtual int buckets() const = 0;
};

struct ReducerOptions {
  std::int64_t bucket_bytes = 25ll << 20;  ///< as DDP's bucket_cap_mb = 25
  bool overlap = true;                     ///< launch buckets from gradient hooks
  /// Deck key `parallel.reducer`: "auto" (NCCL for CUDA parameters on several ranks where
  /// built with it, else MPI, which does nothing on one rank), "mpi" (always MPI; device gradients staged through host buckets: for ranks that
  /// share a GPU, which NCCL refuses, or a broken NCCL) or "nccl" (an input error where NCCL
  /// is not built in or the parameters are not on a GPU).
  std::string backend = "auto";
};


/// Averages over `comm` with MPI. Takes part in collectives on every call: all ranks must
/// call it the same number of times.
std::unique_ptr<GradientReducer> make_mpi_reducer(MPI_Comm comm,
                                                  const std::vector<torch::Tensor>& parameters,
                                                  const ReducerOptions& options = {});

#if PHYFLOW_HAVE_NCCL
/// Averages device tensors over `comm` with NCCL (all parameters on one CUDA device).
std::unique_ptr<GradientReducer> make_nccl_reducer(MPI_Comm comm,
                                                   const std::vector<torch::Tensor>& parameters,
                                                   const ReducerOptions& options = {});
#endif

/// Deck check of `parallel.reducer` against the `device` key, before anything runs: "nccl"
/// needs a build with NCCL and a GPU device (input_error naming the key otherwise).
void check_reducer_backend(const std::string& backend, const std::string& device);

/// The reducer for these parameters and options.backend: by default NCCL for CUDA parameters
/// on several ranks when built with it, else MPI.
std::unique_ptr<GradientReducer> make_gradient_reducer(MPI_Comm comm,
                                                       const std::vector<torch::Tensor>& parameters,
                                                       const ReducerOptions& options = {});

}  // namespace phyflow::ml
