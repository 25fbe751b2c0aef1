#include "phyflow/workflows/ising_deck.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/lattice/cart_decomposition.hpp"
#include "phyflow/lattice/spin_field.hpp"



namespace phyflow::workflows {

config::Schema ising_schema() {
  config::Schema s("ising");
  s.choice("workflow", "ising", {"ising"}, "what to run");
  s.integer("seed", 42, 0, 4294967295.0, "seed of every random draw (Philox key)");
  s.integer("lattice.dims", 2, 2, 3, "dimension d of the periodic L^d lattice");
  s.integer("lattice.L", 16, 2, 1 << 16, "linear size L (even for the checkerboard algorithms)");
  s.int_list("lattice.proc_grid", std::nullopt, 1, 1 << 16,
             "MPI process grid, one entry per dimension (default: MPI_Dims_create)");
  s.real("model.J", 1.0, std::nullopt, std::nullopt, "coupling J in H = -J sum s_i s_j - h sum s_i");
  s.real("model.h", 0.0, std::nullopt, std::nullopt, "external field h");
  s.real_list("temperatures", std::nullopt, 1e-6, 1e6,
              "temperatures T (k_B = 1), one group /t0, /t1, ... each, in this order");
  s.real_list("betas", std::nullopt, 0.0, 1e6, "inverse temperatures (instead of temperatures)");
  s.choice("algorithm", "metropolis", {"metropolis", "heatbath", "single_flip"},
           "checkerboard Metropolis, checkerboard heat bath, or sequential single-spin flips "
           "(every attempted flip is one step, as in the watch-and-learn seed)");
  s.choice("start", "hot", {"hot", "cold"}, "initial configuration: random (hot) or all +1 (cold)");
  s.integer("sweeps.thermalize", 1000, 0, 1e15,
            "sweeps discarded before measuring (single_flip: attempted flips)");
  s.integer("sweeps.between_samples", 1, 1, 1e12,
            "sweeps from one stored sample to the next (single_flip: attempted flips)");
  s.integer("sweeps.samples", 1000, 1, 1e12, "samples stored per temperature");
  s.boolean("sweeps.decorrelate", false,
            "measure tau_int in a pilot run and widen between_samples to factor*tau_int");
  s.integer("sweeps.pilot", 2000, 10, 1e12, "length of the pilot run used by decorrelate");
  s.real("sweeps.decorrelate_factor", 2.0, 0.1, 100.0, "between_samples >= factor * tau_int(E)");
  s.string("output.path", std::string("ising.h5"), "output HDF5 file (written as PATH.partial, renamed when complete)");
  s.boolean("output.store_spins", true, "store the configurations (false: energies and magnetisations only)");
  s.boolean("io.collective", true, "collective MPI-IO transfers (H5FD_MPIO_COLLECTIVE)");
  s.integer("io.alignment", 0, 0, 1e12, "HDF5 object alignment in bytes (0: HDF5 default), e.g. the file system stripe size");
  s.integer("checkpoint.every", 0, 0, 1e15,
            "write a checkpoint every N sweeps (0: only when SIGTERM/SIGUSR1 arrives)");
  s.integer("checkpoint.stop_after", 0, 0, 1e15,
            "checkpoint and stop (exit code 3) after N sweeps of this run, e.g. to fit a time slot (0: never)");
  s.real("progress.interval", 5.0, 0.0, 1e6, "seconds between progress lines");
  s.table_list("splits",
               "several output files from one deck, e.g. train/val/test; each entry: name, seed, "
               "samples, temperatures; files are named OUTPUT_<name>.h5");
  s.string("splits[].name", std::nullopt, "split name, appended to output.path").required();
  s.integer("splits[].seed", std::nullopt, 0, 4294967295.0, "seed of this split (default: seed + index)");
  s.integer("splits[].samples", std::nullopt, 1, 1e12, "samples per temperature (default: sweeps.samples)");
  s.real_list("splits[].temperatures", std::nullopt, 1e-6, 1e6, "temperatures of this split (default: the deck's)");
  return s;
}

std::string split_output_path(const std::string& path, const std::string& split) {
  if (split.empty()) return path;
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash))
    return path.substr(0, dot) + "_" + split + path.substr(dot);
  return path + "_" + split;
}



IsingSettings ising_settings(const config::Deck& deck, int ranks) {
  IsingSettings s;
  const std::string where = "deck '" + deck.origin() + "'";
  s.dims = int(deck.integer("lattice.dims"));
  s.L = int(deck.integer("lattice.L"));
  s.J = deck.real("model.J");
  s.h = deck.real("model.h");
  s.algorithm = deck.string("algorithm");
  s.start = deck.string("start");
  s.thermalize = std::uint64_t(deck.integer("sweeps.thermalize"));
  s.between_samples = std::uint64_t(deck.integer("sweeps.between_samples"));
  s.decorrelate = deck.boolean("sweeps.decorrelate");
  s.pilot = std::uint64_t(deck.integer("sweeps.pilot"));
  s.decorrelate_factor = deck.real("sweeps.decorrelate_factor");
  s.store_spins = deck.boolean("output.store_spins");
  s.collective_io = deck.boolean("io.collective");
  s.alignment = std::uint64_t(deck.integer("io.alignment"));
  s.checkpoint_every = std::uint64_t(deck.integer("checkpoint.every"));
  s.stop_after = std::uint64_t(deck.integer("checkpoint.stop_after"));
  s.progress_interval = deck.real("progress.interval");

  std::vector<double> temps;
  const bool has_t = deck.has("temperatures"), has_b = deck.has("betas");
  if (has_t == has_b)
    throw input_error(where + (has_t ? ": give either temperatures or betas, not both"
                                     : ": no temperatures given; add e.g. 'temperatures: [2.0, 2.269, 3.0]' (or 'betas: [...]')"));
  if (has_t) {
    temps = deck.real_list("temperatures");
  } else {
    for (double b : deck.real_list("betas")) temps.push_back(b > 0 ? 1.0 / b : HUGE_VAL);
  }

  // Process grid: the lattice must divide over it and suit the colour-split storage, checked
  // by the lattice module itself (single_flip replicates the lattice, so it has no grid).
  if (s.algorithm != "single_flip") {
    const std::vector<int> extent(std::size_t(s.dims), s.L);
    std::vector<int> grid;
    if (deck.has("lattice.proc_grid"))
      for (long long g : deck.int_list("lattice.proc_grid")) grid.push_back(int(g));
    try {
      grid = lattice::CartDecomposition::plan_grid(extent, grid, ranks);
      lattice::SpinField::check_geometry(extent, grid);
    } catch (const Error& e) {
      throw input_error(where + ": " + e.what());
    }
    if (deck.has("lattice.proc_grid")) s.proc_grid = grid;
  }

  const std::string path = deck.string("output.path");
  const std::uint64_t seed = std::uint64_t(deck.integer("seed"));
  const std::uint64_t samples = std::uint64_t(deck.integer("sweeps.samples"));
  if (deck.has("splits")) {
    const auto& rows = deck.at("splits");
    std::size_t i = 0;
    for (const auto& row : rows) {
      IsingSplit sp;
      sp.name = row.at("name").get<std::string>();
      if (sp.name.empty() || sp.name.find_first_of("/ ") != std::string::npos)
        throw input_error(where + ": splits[" + std::to_string(i) + "].name '" + sp.name +
                          "' must be a non-empty word (it becomes part of the file name)");
      for (const auto& other : s.splits)
        if (other.name == sp.name)
          throw input_error(where + ": two splits are named '" + sp.name + "'");
      sp.path = split_output_path(path, sp.name);
      sp.seed = row.contains("seed") ? row.at("seed").get<std::uint64_t>() : seed + i;
      sp.samples = row.contains("samples") ? row.at("samples").get<std::uint64_t>() : samples;
      sp.temperatures = row.contains("temperatures") ? row.at("temperatures").get<std::vector<double>>() : temps;
      s.splits.push_back(sp);
      ++i;
    }
  } else {
    s.splits.push_back(IsingSplit{"", path, seed, samples, temps});
  }
  return s;
}

}  // namespace phyflow::workflows
