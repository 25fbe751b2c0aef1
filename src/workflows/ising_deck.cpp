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
  add_run_keys(s, "sweeps");
  add_split_keys(s, "samples, temperatures");
  s.integer("splits[].samples", std::nullopt, 1, 1e12, "samples per temperature (default: sweeps.samples)");
  s.real_list("splits[].temperatures", std::nullopt, 1e-6, 1e6, "temperatures of this split (default: the deck's)");
  return s;
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
  static_cast<RunKeys&>(s) = run_keys(deck);

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

  const std::uint64_t samples = std::uint64_t(deck.integer("sweeps.samples"));
  for (const SplitEntry& e : split_entries(deck)) {
    IsingSplit sp{e.name, e.path, e.seed, samples, temps};
    if (e.row.contains("samples")) sp.samples = e.row.at("samples").get<std::uint64_t>();
    if (e.row.contains("temperatures"))
      sp.temperatures = e.row.at("temperatures").get<std::vector<double>>();
    s.splits.push_back(sp);
  }
  return s;
}

}  // namespace phyflow::workflows
