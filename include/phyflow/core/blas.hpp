// The BLAS that LibTorch's matrix products run on, found at run time: Debian's LibTorch takes
// it from the libblas.so.3 alternative, which is the slow reference BLAS unless an optimised
// one (libopenblas0-pthread) is installed. `phyflow info` names it; the runtime sets its
// thread count so that ranks x (torch + BLAS threads) stays within the cores (DESIGN.md §8).
#pragma once

#include <string>

namespace phyflow::blas {

/// "OpenBLAS 0.3.21 ... (/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3), 1 thread",
/// or the loaded library's path when it is not OpenBLAS ("reference BLAS" when it is the
/// netlib one), or "none loaded".
std::string description();
/// True when the loaded BLAS is the unoptimised reference implementation.
bool is_reference();
/// Sets OpenBLAS's thread count (no effect on other BLAS libraries); returns whether it could.
bool set_threads(int threads);
/// OpenBLAS's thread count, or 0 when not known.
int threads();

}  // namespace phyflow::blas
