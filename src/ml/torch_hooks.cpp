// libphyflow_ml's side of core's TorchHooks (runtime.hpp): when this library is loaded (linked
// into a test or benchmark, or opened by workflows::ml_plugin()), a static initialiser hands
// core the two things it needs from LibTorch: the intra-op thread pool and a description for
// `phyflow info`.
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <string>

#include "phyflow/core/runtime.hpp"

namespace phyflow::ml {
namespace {

void set_threads(int threads) { at::set_num_threads(threads); }

std::string describe() {
  std::string s = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                  "." + std::to_string(TORCH_VERSION_PATCH);
  s += at::hasCUDA() ? " (CUDA)" : " (CPU only)";
  s += ", " + std::to_string(at::get_num_threads()) + " threads per rank";
  return s;
}

const bool registered = [] {
  phyflow::detail::register_torch_hooks({set_threads, describe});
  return true;
}();

}  // namespace
}  // namespace phyflow::ml
