// LibTorch intra-op threads of a training workflow (deck key threads.torch), one rule for
// train, flow and distill: the deck's value, else OMP_NUM_THREADS, else one (the BLAS threads
// do the matrix products; DESIGN.md §8, docs/PERFORMANCE.md).
#pragma once

namespace phyflow::ml {

/// Sets LibTorch's intra-op thread count from the deck value (0: the default rule above) and
/// returns the count in force.
int set_intra_op_threads(int deck_value);

}  // namespace phyflow::ml
