// Where the ranks run: host, the CPUs each rank may use (its affinity mask, as srun's
// --cpu-bind or mpiexec's binding left it) and the GPUs it sees. Printed at the start of a
// multi-rank run and by `phyflow info`, so a binding mistake (every rank on one core, two
// ranks on one GPU) shows before the run, not in its timings.
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

namespace phyflow {

/// One rank's place.
struct RankPlacement {
  int rank = 0;
  std::string host;  ///< gethostname()
  std::string cpus;  ///< the affinity mask as a compact list, "0-3,8" ("?" when unknown)
  std::string gpus;  ///< CUDA_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES, or ""
};

/// This process's place (rank filled in by the caller).
RankPlacement this_placement();

/// "0-3,8": a sorted list of CPU numbers with runs folded.
std::string compact_cpu_list(const std::vector<int>& cpus);

/// The placement report, one line per host, e.g.
///   "vm: rank 0 cpus 0,1; rank 1 cpus 0,1"
///   "gpu07: rank 4 cpus 0-15 gpu 0; rank 5 cpus 16-31 gpu 1"
/// Collective over `comm`: every rank sends its place to rank 0, which returns the lines
/// (the other ranks get an empty vector).
std::vector<std::string> placement_report(MPI_Comm comm);

}  // namespace phyflow
