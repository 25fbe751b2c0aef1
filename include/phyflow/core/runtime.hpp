// phyflow::Runtime: the one owner of process-wide initialisation (DESIGN.md §3).
// Construction initialises, in order, MPI, PETSc (on the same communicator), Kokkos and the
// thread budget per rank (OpenBLAS now, LibTorch's pool when libphyflow_ml is or gets loaded);
// destruction finalises them in reverse, exactly once, like Kokkos::ScopeGuard. Nothing else
// in phyflow calls MPI_Init or Kokkos::initialize.
#pragma once

#include <mpi.h>

#include <string>

namespace phyflow {

struct RuntimeOptions {
  bool log_all_ranks = false;
  bool init_petsc = true;   ///< ignored when built without PETSc
  int threads = 0;          ///< LibTorch/OpenMP threads per rank; 0: leave the default
};

class Runtime {
 public:
  Runtime(int& argc, char**& argv, const RuntimeOptions& options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  MPI_Comm comm() const { return MPI_COMM_WORLD; }
  int rank() const { return rank_; }
  int size() const { return size_; }

  /// Name of the Kokkos default execution space ("Serial", "OpenMP", "Cuda", ...).
  static std::string kokkos_backend();
  /// Multi-line description of versions and backends (the `phyflow info` text).
  static std::string describe();

  /// Stops every rank after a fatal error: prints nothing itself, finalises what can be
  /// finalised and exits with `code` (MPI_Abort when only some ranks failed).
  [[noreturn]] static void abort_all(int code, bool all_ranks_failed);

  /// Threads per rank chosen at start (0: left to the libraries' defaults).
  int threads() const { return threads_; }

 private:
  int rank_ = 0, size_ = 1, threads_ = 0;
  bool owns_mpi_ = false, owns_petsc_ = false, owns_kokkos_ = false;
  std::string session_base_;  ///< an isolated singleton's own Open MPI session base (removed at the end)
};

namespace detail {
/// What core needs from LibTorch, provided by libphyflow_ml when it is loaded (linked, or
/// opened by workflows::ml_plugin()), so that libphyflow itself never loads LibTorch.
struct TorchHooks {
  void (*set_threads)(int threads) = nullptr;  ///< LibTorch's intra-op pool
  std::string (*describe)() = nullptr;         ///< version, CUDA, threads
};
/// Called by libphyflow_ml's static initialiser; applies the running Runtime's thread budget.
void register_torch_hooks(const TorchHooks& hooks);
const TorchHooks& torch_hooks();
}  // namespace detail

}  // namespace phyflow
