#include "phyflow/workflows/run_keys.hpp"

#include "phyflow/core/error.hpp"

namespace phyflow::workflows {

void add_run_keys(config::Schema& s, const std::string& checkpoint_unit) {
  s.boolean("io.collective", true, "collective MPI-IO transfers (H5FD_MPIO_COLLECTIVE)");
  s.integer("io.alignment", 0, 0, 1e12,
            "HDF5 object alignment in bytes (0: HDF5 default), e.g. the file system stripe size");
  s.integer("checkpoint.every", 0, 0, 1e15,
            "write a checkpoint every N " + checkpoint_unit +
                " (0: only when SIGTERM/SIGUSR1 arrives)");
  s.integer("checkpoint.stop_after", 0, 0, 1e15,
            "checkpoint and stop (exit code 3) after N " + checkpoint_unit +
                " of this run, e.g. to fit a time slot (0: never)");
  s.real("progress.interval", 5.0, 0.0, 1e6, "seconds between progress lines");
}

void add_split_keys(config::Schema& s, const std::string& split_keys) {
  s.table_list("splits", "several output files from one deck, e.g. train/val/test; each entry: "
                         "name, seed, " + split_keys + "; files are named OUTPUT_<name>.h5");
  s.string("splits[].name", std::nullopt, "split name, appended to output.path").required();
  s.integer("splits[].seed", std::nullopt, 0, 4294967295.0,
            "seed of this split (default: seed + index)");
}

RunKeys run_keys(const config::Deck& deck) {
  RunKeys k;
  k.collective_io = deck.boolean("io.collective");
  k.alignment = std::uint64_t(deck.integer("io.alignment"));
  k.checkpoint_every = std::uint64_t(deck.integer("checkpoint.every"));
  k.stop_after = std::uint64_t(deck.integer("checkpoint.stop_after"));
  k.progress_interval = deck.real("progress.interval");
  return k;
}

std::vector<SplitEntry> split_entries(const config::Deck& deck) {
  const std::string where = "deck '" + deck.origin() + "'";
  const std::string path = deck.string("output.path");
  const std::uint64_t seed = std::uint64_t(deck.integer("seed"));
  std::vector<SplitEntry> out;
  if (!deck.has("splits")) {
    out.push_back(SplitEntry{"", path, seed, nlohmann::json::object()});
    return out;
  }
  std::uint64_t i = 0;
  for (const auto& row : deck.at("splits")) {
    SplitEntry e;
    e.name = row.at("name").get<std::string>();
    if (e.name.empty() || e.name.find_first_of("/ ") != std::string::npos)
      throw input_error(where + ": splits[" + std::to_string(i) + "].name '" + e.name +
                        "' must be a non-empty word (it becomes part of the file name)");
    for (const auto& other : out)
      if (other.name == e.name) throw input_error(where + ": two splits are named '" + e.name + "'");
    e.path = split_output_path(path, e.name);
    e.seed = row.contains("seed") ? row.at("seed").get<std::uint64_t>() : seed + i;
    e.row = row;
    out.push_back(e);
    ++i;
  }
  return out;
}

std::string split_output_path(const std::string& path, const std::string& split) {
  if (split.empty()) return path;
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash))
    return path.substr(0, dot) + "_" + split + path.substr(dot);
  return path + "_" + split;
}

}  // namespace phyflow::workflows
