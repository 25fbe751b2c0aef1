// Parameters and gradients in flat buffers (flat_parameters.hpp).
#include "phyflow/ml/flat_parameters.hpp"

#include <torch/torch.h>

#include <set>

namespace phyflow::ml {

bool flatten_parameters(const std::vector<at::Tensor>& params) {
  if (params.empty()) return false;
  std::int64_t total = 0;
  std::set<const void*> storages;
  for (const auto& p : params) {
    if (!p.defined() || p.layout() != torch::kStrided ||
        p.scalar_type() != params[0].scalar_type() || p.device() != params[0].device())
      return false;
    // Tied weights (one storage for two parameters) would come apart.
    if (!storages.insert(p.storage().unsafeGetStorageImpl()).second) return false;
    total += p.numel();
  }
  torch::NoGradGuard no_grad;
  const auto options =
      torch::TensorOptions().dtype(params[0].scalar_type()).device(params[0].device());
  auto values = torch::empty({total}, options);
  auto grads = torch::zeros({total}, options);
  std::int64_t offset = 0;
  for (const auto& p : params) {
    const auto n = p.numel();
    auto value = values.narrow(0, offset, n).view(p.sizes());
    value.copy_(p);
    // The parameter keeps its identity (module, optimiser and autograd see the same tensor);
    // only its storage becomes the flat buffer's.
    at::Tensor(p).set_data(value);
    at::Tensor(p).mutable_grad() = grads.narrow(0, offset, n).view(p.sizes());
    offset += n;
  }
  return true;
}

at::Tensor flat_alias(const std::vector<at::Tensor>& parts) {
  if (parts.empty() || !parts[0].defined() || parts[0].layout() != torch::kStrided) return {};
  const auto& first = parts[0];
  const auto* storage = first.storage().unsafeGetStorageImpl();
  std::int64_t next = first.storage_offset();
  for (const auto& t : parts) {
    if (!t.defined() || t.layout() != torch::kStrided || t.scalar_type() != first.scalar_type() ||
        !t.is_contiguous() || t.storage().unsafeGetStorageImpl() != storage ||
        t.storage_offset() != next)
      return {};
    next += t.numel();
  }
  torch::NoGradGuard no_grad;
  return torch::empty({0}, first.options())
      .set_(first.storage(), first.storage_offset(), {next - first.storage_offset()}, {1});
}

std::vector<at::Tensor> gradients_of(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> grads;
  grads.reserve(params.size());
  for (const auto& p : params) grads.push_back(p.grad());
  return grads;
}

void zero_gradients(const std::vector<at::Tensor>& params) {
  torch::NoGradGuard no_grad;
  if (auto flat = flat_alias(gradients_of(params)); flat.defined()) {
    flat.zero_();
    return;
  }
  for (const auto& p : params)
    if (p.grad().defined()) at::Tensor(p).mutable_grad().zero_();
}

}  // namespace phyflow::ml
