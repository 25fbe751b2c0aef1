// Regression data from files: CSV with a header row, or HDF5 (one 1-D dataset per column at
// the root, or one 2-D dataset, rows x columns, whose `columns` attribute names the columns as
// a string array or a comma-separated string). Every problem -- an empty file, a ragged or
// non-numeric row, NaN or inf, an unknown column, a constant target -- is an input error
// naming the file, the column and (CSV) the line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "phyflow/sr/evaluate.hpp"

namespace phyflow::sr {

struct DataSpec {
  std::string path;
  std::string target;
  std::string weights;                ///< column of row weights ("": none)
  std::vector<std::string> features;  ///< input columns (empty: every other column)
  std::string dataset;                ///< HDF5: the 2-D dataset to read ("": auto)
};

Dataset load_dataset(const DataSpec& spec);

/// A table of named columns as read from a file, before target/feature selection.
struct Table {
  std::vector<std::string> names;
  std::vector<std::vector<double>> columns;
};
Table read_csv(const std::string& path);
Table read_hdf5_table(const std::string& path, const std::string& dataset);

/// The rows to regress on, in increasing order: `samples` rows evenly strided over the pool
/// (all of it when samples >= its size), where the pool is every row less the fraction
/// `trim_largest` (0 <= f < 1; at least one row is kept) with the largest |target|, ties
/// broken by row order (the later row is left out first). Trimming keeps heavy-tailed targets
/// (close encounters of an inverse-power force) from dominating a squared-error fit.
std::vector<std::int64_t> select_rows(const std::vector<double>& target, std::int64_t samples,
                                      double trim_largest = 0.0);

}  // namespace phyflow::sr
