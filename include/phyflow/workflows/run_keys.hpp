// Deck keys every workflow run shares, declared and read in one place: I/O (io.collective,
// io.alignment), checkpoints (checkpoint.every, checkpoint.stop_after), progress.interval,
// and the splits (several output files from one deck, e.g. train/val/test). The Ising and
// N-body decks use it now; the training, flow and regression runs will too.
#pragma once

#include "phyflow/core/config.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace phyflow::workflows {

/// Adds io.*, checkpoint.* and progress.interval. `checkpoint_unit` says what
/// checkpoint.every and stop_after count ("sweeps", "batches", "steps").
void add_run_keys(config::Schema& schema, const std::string& checkpoint_unit);
/// Adds splits and splits[].name / splits[].seed, for workflows writing several files from one
/// deck. `split_keys` names the workflow's own per-split keys for the help text; the caller
/// declares those keys (splits[].KEY) itself.
void add_split_keys(config::Schema& schema, const std::string& split_keys);

struct RunKeys {
  bool collective_io = true;
  std::uint64_t alignment = 0;         ///< HDF5 object alignment in bytes (0: default)
  std::uint64_t checkpoint_every = 0;  ///< in the workflow's unit; 0: only on a signal
  std::uint64_t stop_after = 0;        ///< checkpoint and stop after this many (0: never)
  double progress_interval = 5.0;      ///< seconds between progress lines
};
RunKeys run_keys(const config::Deck& deck);

/// One output file of a run: `name` ("" without splits:), `path` (output.path, with _NAME
/// before the extension for a named split), `seed` (splits[i].seed, default seed + i) and
/// the split's deck entry `row` (empty without splits:) for the workflow's own keys.
struct SplitEntry {
  std::string name;
  std::string path;
  std::uint64_t seed = 0;
  nlohmann::json row = nlohmann::json::object();
};
/// The splits of a deck, or the one unnamed split; input_error for an empty, non-word or
/// repeated name.
std::vector<SplitEntry> split_entries(const config::Deck& deck);

/// "runs/x.h5" + "train" -> "runs/x_train.h5".
std::string split_output_path(const std::string& path, const std::string& split);

}  // namespace phyflow::workflows
