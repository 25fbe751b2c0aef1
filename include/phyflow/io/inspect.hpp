// `phyflow inspect FILE.h5`: a human-readable account of an HDF5 file -- its provenance, the
// tree of groups and datasets with dtype, shape, chunking, meaning and units, and summary
// statistics of every numeric dataset, streamed so that files larger than memory are fine.
#pragma once

#include <string>

namespace phyflow::io {

struct InspectOptions {
  bool statistics = true;  ///< count, mean, std, min, max per numeric dataset (reads all data)
  bool deck = true;        ///< print the deck text stored in the provenance
};

/// The report as text (ends with a newline). Input errors as InputFile::open; `.partial` files
/// are accepted and flagged as incomplete.
std::string inspect(const std::string& path, const InspectOptions& options = {});

}  // namespace phyflow::io
