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

/// How wide the vector instructions go: of an x86-64 CPU, or of an OpenBLAS kernel set.
enum class VectorLevel { unknown = 0, sse = 1, avx = 2, avx2 = 3, avx512 = 4 };
/// This CPU's level, from CPUID and the state the OS saves (x86-64 only; else unknown).
VectorLevel cpu_level();
/// The level of an OpenBLAS kernel set by its core name ("Prescott": sse, "Haswell": avx2,
/// "SkylakeX": avx512; case-insensitive); unknown for names outside the x86-64 table.
VectorLevel kernel_level(const std::string& core);
/// The OPENBLAS_CORETYPE that fits a CPU of level `cpu` where OpenBLAS chose `core`, or ""
/// when its choice already fits (or a level is unknown): "SkylakeX" for AVX-512, "Haswell"
/// for AVX2 + FMA, "Sandybridge" for AVX.
std::string better_coretype(const std::string& core, VectorLevel cpu);
/// The kernel set the loaded OpenBLAS runs ("SkylakeX"); "" when the BLAS is not OpenBLAS.
std::string kernels();

/// Called first thing in main(). OpenBLAS built for many CPUs (DYNAMIC_ARCH, as Debian's)
/// picks its kernels from the CPU model when it loads; a model newer than the library gets
/// the generic SSE3 "Prescott" ones (Debian 12's 0.3.21 on Emerald Rapids: the flow
/// conditioners' matrix products 3-5x slower than with its AVX-512 kernels). Where the loaded
/// OpenBLAS runs kernels below the CPU's level, this restarts the program (execv of
/// /proc/self/exe, same arguments, before MPI starts) with OPENBLAS_CORETYPE set, since the
/// library reads it only when it loads. Does nothing when OPENBLAS_CORETYPE is set (the user's
/// choice, or the restarted process) or when the BLAS is not OpenBLAS.
void retune_kernels(char** argv);
/// After such a restart, one line for the log saying what was changed; "" otherwise.
std::string retune_note();

}  // namespace phyflow::blas
