// Private to the io module: the state an OutputFile shares with the AppendableDatasets written
// into it, so a dataset can tell when its file has been committed or closed under it.
#pragma once

#include "hdf5_handle.hpp"
#include "phyflow/io/parallel_io_config.hpp"

#include <mpi.h>
#include <string>

namespace phyflow::io::detail {

struct OutputFileState {
  MPI_Comm comm = MPI_COMM_NULL;  ///< our own duplicate: our barriers never meet the user's
  int rank = 0, size = 1;
  std::string path;     ///< final name
  std::string partial;  ///< name while writing
  ParallelIOConfig config;
  Handle file;
  Handle transfer;               ///< dataset transfer list: collective or independent MPI-IO
  int uncaught_at_creation = 0;  ///< std::uncaught_exceptions() when the file was opened

  OutputFileState() = default;
  OutputFileState(const OutputFileState&) = delete;
  OutputFileState& operator=(const OutputFileState&) = delete;
  ~OutputFileState();

  bool is_open() const { return file.valid(); }
  /// The file id, or a runtime_error saying `what` was attempted after commit/close.
  hid_t require_open(const std::string& what) const;
  /// "'/t0/spins' in 'run.h5.partial'" -- how messages name an object of this file.
  std::string where(const std::string& object) const;
};

/// Raises on every rank the error that `root` found (or nothing when its message is empty).
/// Checks that involve the file system are made once, on rank 0, and shared so that all ranks
/// throw the same Error together instead of some hanging in the next collective call.
void share_verdict(MPI_Comm comm, int root, bool failed, ExitCode code, const std::string& message);

/// Whether `ok` holds on every rank (an all-reduce). HDF5 calls fail on all ranks or none in
/// practice; agreeing first keeps a rank-local surprise from becoming a hang.
bool all_succeeded(MPI_Comm comm, bool ok);

}  // namespace phyflow::io::detail
