// The only core file that sees LibTorch: it sets the intra-op thread pool per rank.
#include "phyflow/core/build_info.hpp"

#include <string>

#if PHYFLOW_HAVE_TORCH
#include <ATen/Parallel.h>
#include <torch/version.h>
#include <ATen/Context.h>
#endif

namespace phyflow::detail {

void set_torch_threads(int threads) {
#if PHYFLOW_HAVE_TORCH
  at::set_num_threads(threads);
#else
  (void)threads;
#endif
}

std::string torch_description() {
#if PHYFLOW_HAVE_TORCH
  std::string s = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                  "." + std::to_string(TORCH_VERSION_PATCH);
  s += at::hasCUDA() ? " (CUDA)" : " (CPU only)";
  s += ", " + std::to_string(at::get_num_threads()) + " threads per rank";
  return s;
#else
  return "not built in";
#endif
}

}  // namespace phyflow::detail
