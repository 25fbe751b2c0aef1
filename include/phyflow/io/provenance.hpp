// What a phyflow output file says about how it was made (DESIGN.md §7): written as root
// attributes by OutputFile::write_provenance, printed by `phyflow inspect`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace phyflow::io {

/// The run-specific part of the provenance; the build and machine parts (version, git sha,
/// ranks, Kokkos backend, time, HDF5 version) are filled in by write_provenance.
struct Provenance {
  std::string workflow;       ///< the deck's `workflow:` value
  std::string deck_text;      ///< the deck file exactly as the user wrote it
  std::string deck_resolved;  ///< the deck after defaults and --set overrides (YAML)
  std::uint64_t seed = 0;
};

/// Root attribute names written by write_provenance, in the order inspect prints them.
const std::vector<std::string>& provenance_attribute_names();

/// Root attributes that legitimately differ between two runs of the same deck (time, rank
/// count, build, backend): compare_datasets ignores them by default.
const std::vector<std::string>& volatile_provenance_attribute_names();

}  // namespace phyflow::io
