// Private to the io module: what an InputFile holds, shared with inspect and compare, which
// stream datasets block by block through the raw HDF5 id.
#pragma once

#include "hdf5_handle.hpp"

#include <string>
#include <vector>

namespace phyflow::io::detail {

struct InputFileState {
  std::string path;
  Handle file;

  /// "'/t0/spins' in 'run.h5'"
  std::string where(const std::string& object) const {
    return "'" + normalize_path(object) + "' in '" + path + "'";
  }
  /// Opens a dataset, or an input error naming the file and what it does hold.
  Handle open_dataset(const std::string& dataset) const;
  /// Opens a group or dataset, or an input error.
  Handle open_object(const std::string& object) const;

  /// Runs `read` (HDF5 calls on this file). The io helpers report a failed HDF5 call as a
  /// runtime error, right for output files; on an input file it means the file is unreadable,
  /// which is bad input (exit 2) with the same message as a file that does not open.
  template <class F>
  decltype(auto) guarded(F&& read) const {
    try {
      return read();
    } catch (const Error& e) {
      if (e.code() != ExitCode::runtime_failure) throw;
      throw input_error(unreadable_file_message(path, e.what()));
    }
  }
};

/// Orders "/t2" before "/t10": runs of digits compare as numbers.
bool natural_less(const std::string& a, const std::string& b);

}  // namespace phyflow::io::detail
