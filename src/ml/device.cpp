// Training devices (device.hpp).
#include "phyflow/ml/device.hpp"

#include "phyflow/core/error.hpp"

#include <ATen/Context.h>
#include <torch/cuda.h>

namespace phyflow::ml {

torch::Device resolve_device(const std::string& spec, MPI_Comm comm, const std::string& key) {
  if (spec == "cpu") return torch::Device(torch::kCPU);
  const std::string where = key + ": " + spec;
  int index = -1;
  if (spec.rfind("cuda:", 0) == 0) {
    const std::string digits = spec.substr(5);
    if (digits.empty() || digits.size() > 4 || digits.find_first_not_of("0123456789") != std::string::npos)
      throw input_error(where + " is not a device; use cpu, cuda (one GPU per rank) or cuda:N");
    index = std::stoi(digits);
  } else if (spec != "cuda") {
    throw input_error(where + " is not a device; use cpu, cuda (one GPU per rank) or cuda:N");
  }
  if (!torch::cuda::is_available()) {
    const bool built = at::hasCUDA();
    throw input_error(where + ": " +
                      (built ? std::string("no GPU is visible to this process (check "
                                           "CUDA_VISIBLE_DEVICES and the job's --gpus-per-task)")
                             : std::string("this LibTorch is built without CUDA (build against "
                                           "a CUDA LibTorch: docs/install.md)")) +
                      "; or set " + key + ": cpu");
  }
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (index < 0) {
    // One GPU per rank of a node: the node-local rank picks it.
    MPI_Comm node = MPI_COMM_NULL;
    int local = 0;
    check_mpi(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node),
              "MPI_Comm_split_type");
    MPI_Comm_rank(node, &local);
    MPI_Comm_free(&node);
    index = local % count;
  } else if (index >= count) {
    throw input_error(where + ": this process sees " + std::to_string(count) +
                      " GPU(s), numbered from 0; choose a smaller index or cuda");
  }
  return torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(index));
}

Batch to_device(const Batch& batch, const torch::Device& device) {
  if (device.is_cpu()) return batch;
  Batch out = batch;
  const auto move = [&](torch::Tensor& t) {
    if (t.defined() && t.device() != device) t = t.to(device, /*non_blocking=*/true);
  };
  move(out.x);
  move(out.y);
  move(out.beta);
  return out;
}

}  // namespace phyflow::ml
