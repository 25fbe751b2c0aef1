// The tuning knobs of phyflow's parallel HDF5 output in one place (DESIGN.md §7), like
// Cabana's HDF5 config: how transfers and metadata go over MPI and how the file is laid out.
// The defaults suit a laptop and a Lustre/GPFS cluster alike; tune per machine, not per run.
#pragma once

#include <cstddef>
#include <cstdint>

namespace phyflow::io {

struct ParallelIOConfig {
  /// Dataset writes as one collective MPI-IO operation (H5FD_MPIO_COLLECTIVE) rather than
  /// independent writes per rank; collective lets MPI-IO aggregate many small blocks.
  bool collective_transfer = true;
  /// Metadata reads and writes done collectively (H5Pset_all_coll_metadata_ops and
  /// H5Pset_coll_metadata_write): one rank reads and broadcasts instead of every rank
  /// hammering the file system. Requires every metadata call to be made on every rank, which
  /// OutputFile's API guarantees (all its calls are collective).
  bool collective_metadata = true;
  /// H5Pset_alignment: objects of at least `alignment_threshold` bytes start at a multiple of
  /// `alignment` bytes (set it to the file system's stripe size, e.g. 1 MiB on Lustre).
  /// 0 leaves HDF5's default (no alignment).
  std::uint64_t alignment_threshold = 0;
  std::uint64_t alignment = 0;
  /// Target size of one chunk of an appendable dataset: chunks hold whole samples, as many as
  /// fit in chunk_bytes (at least one).
  std::size_t chunk_bytes = std::size_t{1} << 20;
};

}  // namespace phyflow::io
