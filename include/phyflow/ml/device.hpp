// Where a training run computes (deck key `device`): "cpu", "cuda" (each rank takes GPU
// local-rank mod the GPUs it sees, the usual one-rank-per-GPU layout under Slurm's
// --gpus-per-task or --gpu-bind), or "cuda:N". Batches are gathered on the host by the
// prefetching reader and moved to the device one step at a time; metrics and predictions
// come back to the host in float64.
#pragma once

#include "phyflow/ml/dataset.hpp"

#include <mpi.h>
#include <torch/types.h>

#include <string>

namespace phyflow::ml {

/// The device for this rank, checked against what this LibTorch and machine have: an input
/// error (exit code 2) naming `key` when CUDA is asked of a CPU-only LibTorch, no GPU is
/// visible, or the index is out of range. Collective over comm (node-local rank).
torch::Device resolve_device(const std::string& spec, MPI_Comm comm, const std::string& key = "device");

/// The batch's tensors on `device` (the same tensors when they are there already).
Batch to_device(const Batch& batch, const torch::Device& device);

}  // namespace phyflow::ml
