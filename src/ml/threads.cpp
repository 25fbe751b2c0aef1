// The training workflows' LibTorch thread rule (threads.hpp).
#include "phyflow/ml/threads.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>

namespace phyflow::ml {

int set_intra_op_threads(int deck_value) {
  int threads = deck_value;
  if (threads == 0 && std::getenv("OMP_NUM_THREADS")) threads = std::atoi(std::getenv("OMP_NUM_THREADS"));
  at::set_num_threads(std::max(1, threads));
  return at::get_num_threads();
}

}  // namespace phyflow::ml
