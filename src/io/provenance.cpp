// Provenance root attributes: how a file was made, written once per output (DESIGN.md §7).
#include "phyflow/io/provenance.hpp"

#include "hdf5_handle.hpp"
#include "phyflow/core/build_info.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/io/output_file.hpp"

#include <ctime>

namespace phyflow::io {

const std::vector<std::string>& provenance_attribute_names() {
  static const std::vector<std::string> names = {
      "phyflow_version", "git_sha",      "workflow",    "seed",          "mpi_ranks",
      "kokkos_backend",  "hdf5_version", "created_utc", "deck_resolved", "deck"};
  return names;
}

const std::vector<std::string>& volatile_provenance_attribute_names() {
  static const std::vector<std::string> names = {"created_utc", "mpi_ranks", "git_sha",
                                                 "kokkos_backend"};
  return names;
}

namespace {

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string hdf5_library_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

}  // namespace

void OutputFile::write_provenance(const Provenance& provenance) {
  // Attribute values must be identical on all ranks: the clock is read on rank 0 only.
  std::string created = rank() == 0 ? utc_now_iso8601() : std::string(20, ' ');
  check_mpi(MPI_Bcast(created.data(), static_cast<int>(created.size()), MPI_CHAR, 0, comm()),
            "MPI_Bcast");
  set_attribute("/", "phyflow_version", PHYFLOW_VERSION);
  set_attribute("/", "git_sha", PHYFLOW_GIT_SHA);
  set_attribute("/", "workflow", provenance.workflow);
  set_attribute("/", "seed", provenance.seed);
  set_attribute("/", "mpi_ranks", size());
  set_attribute("/", "kokkos_backend", Runtime::kokkos_backend());
  set_attribute("/", "hdf5_version", hdf5_library_version());
  set_attribute("/", "created_utc", created);
  set_attribute("/", "deck_resolved", provenance.deck_resolved);
  set_attribute("/", "deck", provenance.deck_text);
}

}  // namespace phyflow::io
