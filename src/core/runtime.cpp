#include "phyflow/core/runtime.hpp"

#include <H5public.h>

#include <Kokkos_Core.hpp>

#include "phyflow/core/blas.hpp"
#include "phyflow/core/build_info.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#if PHYFLOW_HAVE_PETSC
#include <petscsys.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace phyflow {

namespace detail {
namespace {
TorchHooks g_torch_hooks;
}
const TorchHooks& torch_hooks() { return g_torch_hooks; }
}  // namespace detail

void check_mpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw runtime_error(std::string(call) + " failed: " + std::string(text, len));
}

namespace {
Runtime* g_runtime = nullptr;
}  // namespace

void detail::register_torch_hooks(const TorchHooks& hooks) {
  g_torch_hooks = hooks;
  if (g_runtime != nullptr && g_runtime->threads() > 0 && hooks.set_threads)
    hooks.set_threads(g_runtime->threads());
}

namespace {

int ranks_on_this_node() {
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int n = 1;
  MPI_Comm_size(node, &n);
  MPI_Comm_free(&node);
  return n;
}
}  // namespace

Runtime::Runtime(int& argc, char**& argv, const RuntimeOptions& options) {
  if (g_runtime != nullptr) throw runtime_error("phyflow::Runtime constructed twice");
  // A process started without mpiexec/srun is an MPI singleton. Open MPI 4 then starts an
  // orted daemon for it (0.37 s of MPI_Init here) unless told to stay isolated (0.25 s): phyflow
  // never spawns processes, so isolation costs nothing. Only singletons read the parameter,
  // and a value the user set wins.
  ::setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
  // A singleton also has no peer to reach over a network: the ob1 PML (shared memory and
  // self) serves it. Left to itself Open MPI 4 opens the cm PML and with it the PSM2 MTL, whose
  // library sleeps ~0.2 s in its constructor probing for Omni-Path hardware (measured:
  // `phyflow --version` 0.30 s -> 0.09 s). Launched ranks (mpiexec, srun) keep the site's
  // choice: they may need PSM2/OFI between nodes. A value the user set wins.
  const bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr ||
                        std::getenv("PMIX_RANK") != nullptr || std::getenv("PMI_RANK") != nullptr;
  if (!launched) ::setenv("OMPI_MCA_pml", "ob1", 0);
  // Isolated singletons all use job family 0, so they share one session directory, which the
  // first to exit removes; the shared-memory shared-file-pointer component of every other one
  // then prints "mca_sharedfp_sm_component_file_query: Error, unable to open file for mmap"
  // at each MPI-IO file open (seen: two runs on one workstation). phyflow's I/O (HDF5) never
  // uses shared file pointers, so singletons leave that component out. A value the user set wins.
  if (!launched) ::setenv("OMPI_MCA_sharedfp", "^sm", 0);
  // The shared job family also makes concurrent singletons race for that directory: one that
  // finalises removes it while another's MPI_Init is creating its place in it, and that MPI_Init
  // fails ("A call to mkdir was unable to create the desired directory: /tmp/ompi.<host>.0/jf.0";
  // measured: 9 of 300 `phyflow compare` singletons started 30 at a time; a CI run lost a test to
  // it). Each isolated singleton therefore gets a session base of its own (mkdtemp under
  // $TMPDIR or /tmp), removed after MPI_Finalize. A value the user set wins; a program that
  // initialised MPI itself before constructing the Runtime keeps its own.
  int initialized = 0;
  MPI_Initialized(&initialized);
  const char* isolated = std::getenv("OMPI_MCA_ess_singleton_isolated");
  if (!initialized && !launched && isolated != nullptr && std::string(isolated) == "1" &&
      std::getenv("OMPI_MCA_orte_tmpdir_base") == nullptr) {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/phyflow-mpi.XXXXXX";
    if (::mkdtemp(base.data()) != nullptr) {  // on failure Open MPI's default base serves
      session_base_ = base;
      ::setenv("OMPI_MCA_orte_tmpdir_base", base.c_str(), 1);
    }
  }
  if (!initialized) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    owns_mpi_ = true;
  }
  // Errors come back as codes and become phyflow::Error with a message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  log::configure(rank_, size_, options.log_all_ranks);
  if (const std::string note = blas::retune_note(); !note.empty()) log::info(note);

#if PHYFLOW_HAVE_PETSC
  if (options.init_petsc) {
    PetscBool petsc_up = PETSC_FALSE;
    PetscInitialized(&petsc_up);
    if (!petsc_up) {
      PETSC_COMM_WORLD = MPI_COMM_WORLD;
      // phyflow owns SIGTERM/SIGUSR1 (checkpoint on signal); PETSc options still come from
      // the PETSC_OPTIONS environment variable.
      PetscOptionsSetValue(nullptr, "-no_signal_handler", nullptr);
      if (PetscInitializeNoArguments() != 0) throw runtime_error("PetscInitialize failed");
      owns_petsc_ = true;
    }
  }
#endif

  if (!Kokkos::is_initialized()) {
    // Kokkos sees only its prefixed options (--kokkos-...): Kokkos 3.4 would otherwise take
    // the program's own --help and print its help instead.
    std::vector<char*> kokkos_args{argv[0]};
    for (int i = 1; i < argc; ++i)
      if (std::string(argv[i]).rfind("--kokkos-", 0) == 0) kokkos_args.push_back(argv[i]);
    int kokkos_argc = static_cast<int>(kokkos_args.size());
    kokkos_args.push_back(nullptr);
    char** kokkos_argv = kokkos_args.data();
    // A GPU build of Kokkos throws when the node shows no GPU (seen: the CUDA build under
    // CUDA_VISIBLE_DEVICES= ended in std::terminate). Every rank learns whether any failed, so
    // all stop together with one message instead of some hanging in their first collective.
    std::string failure;
    try {
      Kokkos::initialize(kokkos_argc, kokkos_argv);
      owns_kokkos_ = true;
    } catch (const std::exception& e) {
      failure = e.what();
    }
    int first_failed = failure.empty() ? size_ : rank_;
    MPI_Allreduce(MPI_IN_PLACE, &first_failed, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first_failed < size_) {
      if (rank_ == first_failed)
        std::fprintf(stderr,
                     "phyflow: error (rank %d): the Kokkos %s back end did not start: %s\n"
                     "  this phyflow runs its kernels on %s: run it where one is visible to "
                     "each rank (CUDA_VISIBLE_DEVICES, the job's --gpus-per-task), or use a CPU "
                     "build (docs/install.md)\n",
                     rank_, Kokkos::DefaultExecutionSpace::name(), failure.c_str(),
                     std::string(Kokkos::DefaultExecutionSpace::name()) == "Cuda"
                         ? "an NVIDIA GPU"
                         : "the back end's devices");
      if (owns_kokkos_) Kokkos::finalize();
#if PHYFLOW_HAVE_PETSC
      if (owns_petsc_) PetscFinalize();
#endif
      if (owns_mpi_) MPI_Finalize();
      std::exit(static_cast<int>(ExitCode::bad_input));
    }
  }

  // Threads per rank: explicit option, else OMP_NUM_THREADS, else share the node's cores
  // among its ranks so that N ranks on a node never oversubscribe it.
  int threads = options.threads;
  if (threads <= 0 && std::getenv("OMP_NUM_THREADS") == nullptr) {
    const int cores = int(std::thread::hardware_concurrency());
    threads = std::max(1, cores / std::max(1, ranks_on_this_node()));
  }
  threads_ = threads;
  if (threads > 0 && detail::torch_hooks().set_threads) detail::torch_hooks().set_threads(threads);
  // The BLAS gets the same per-rank budget unless the user set its own variable: torch calls
  // it from one thread for each matrix product, so the two pools do not run at once.
  if (threads > 0 && std::getenv("OPENBLAS_NUM_THREADS") == nullptr) blas::set_threads(threads);
  g_runtime = this;
}

Runtime::~Runtime() {
  g_runtime = nullptr;
  if (owns_kokkos_ && Kokkos::is_initialized()) Kokkos::finalize();
#if PHYFLOW_HAVE_PETSC
  if (owns_petsc_) PetscFinalize();
#endif
  if (owns_mpi_) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  if (!session_base_.empty()) {
    // Open MPI has removed its session directories inside; a run killed before this point
    // leaves the (small) directory behind, as Open MPI's own would be.
    std::error_code ignored;
    std::filesystem::remove_all(session_base_, ignored);
    session_base_.clear();
  }
}

std::string Runtime::kokkos_backend() { return Kokkos::DefaultExecutionSpace::name(); }

std::string Runtime::describe() {
  std::ostringstream out;
  unsigned h5maj = 0, h5min = 0, h5rel = 0;
  H5get_libversion(&h5maj, &h5min, &h5rel);
  char mpi_lib[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(mpi_lib, &len);
  std::string mpi_text(mpi_lib, len);
  if (auto nl = mpi_text.find_first_of("\r\n"); nl != std::string::npos) mpi_text.resize(nl);
  int mpi_major = 0, mpi_minor = 0;
  MPI_Get_version(&mpi_major, &mpi_minor);
  out << "phyflow " << PHYFLOW_VERSION << " (git " << PHYFLOW_GIT_SHA << ")\n"
      << "  Kokkos   " << KOKKOS_VERSION / 10000 << "." << (KOKKOS_VERSION / 100) % 100 << "."
      << KOKKOS_VERSION % 100 << ", default execution space " << kokkos_backend() << "\n"
      << "  MPI      " << mpi_major << "." << mpi_minor << " (" << mpi_text << ")\n"
      << "  HDF5     " << h5maj << "." << h5min << "." << h5rel << " (parallel)\n";
#if PHYFLOW_HAVE_PETSC
  out << "  PETSc    " << PETSC_VERSION_MAJOR << "." << PETSC_VERSION_MINOR << "."
      << PETSC_VERSION_SUBMINOR << "\n";
#else
  out << "  PETSc    not built in\n";
#endif
  if (detail::torch_hooks().describe)
    out << "  LibTorch " << detail::torch_hooks().describe() << " (libphyflow_ml)\n";
  else
    out << "  LibTorch " << (PHYFLOW_HAVE_TORCH ? "in libphyflow_ml, not loaded" : "not built in")
        << "\n";
  out << "  BLAS     " << blas::description() << "\n";
  if (const std::string k = blas::kernels(); !k.empty()) out << "  kernels  " << k << "\n";
  return out.str();
}

void Runtime::abort_all(int code, bool all_ranks_failed) {
  if (!all_ranks_failed) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }
  if (g_runtime != nullptr) g_runtime->~Runtime();
  std::exit(code);
}

}  // namespace phyflow
