// Dataset-level comparison of two HDF5 files (`phyflow compare A B`, and the tests that prove
// outputs are bitwise identical on 1, 2 and 4 ranks): the same groups and datasets, and every
// dataset with the same dtype, shape and bytes -- never the file bytes, which hold timestamps.
#pragma once

#include "phyflow/io/provenance.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace phyflow::io {

struct CompareOptions {
  /// Root attributes allowed to differ (creation time, rank count, build, backend).
  std::vector<std::string> ignored_root_attributes = volatile_provenance_attribute_names();
  /// Compare group and dataset attributes too (values and types).
  bool attributes = true;
  /// Stop listing after this many differences (a summary line says how many were left out).
  std::size_t max_differences = 50;
};

/// Human-readable differences between files a and b, one per line; empty when they hold the
/// same data. Input errors when either file cannot be opened.
std::vector<std::string> compare_datasets(const std::string& a, const std::string& b,
                                          const CompareOptions& options = {});

}  // namespace phyflow::io
