#include "phyflow/workflows/phi4_deck.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/lattice/cart_decomposition.hpp"
#include "phyflow/lattice/phi4_field.hpp"

#include <cmath>
#include <sstream>

namespace phyflow::workflows {

void add_phi4_action_keys(config::Schema& s, const std::vector<std::string>& extra_kinds) {
  std::vector<std::string> kinds{"phi4"};
  kinds.insert(kinds.end(), extra_kinds.begin(), extra_kinds.end());
  s.choice("action.kind", "phi4", kinds, "the target action (phi4: lattice phi^4 theory)");
  s.integer("action.dims", 2, 1, 4, "dimension d of the periodic L^d lattice");
  s.integer("action.L", 8, 2, 1 << 16, "linear size L (even)");
  s.choice("action.convention", "aks", {"aks", "normflow", "hopping"},
           "couplings given as AKS (m2, lambda), normflow (kappa, m_sq, lambda) or hopping "
           "(kappa, lambda = lambda_h); all run as AKS (docs/phi4.md)");
  s.real("action.m2", std::nullopt, std::nullopt, std::nullopt,
         "AKS mass term m2 in S = sum (2d + m2) phi^2 - 2 phi phi' + lambda phi^4 (convention aks)");
  s.real("action.lambda", std::nullopt, 0.0, std::nullopt,
         "quartic coupling: AKS lambda, normflow lambda, or hopping lambda_h (> 0)");
  s.real("action.kappa", std::nullopt, 1e-12, std::nullopt,
         "normflow kappa (kinetic prefactor) or hopping parameter kappa");
  s.real("action.m_sq", std::nullopt, std::nullopt, std::nullopt,
         "normflow mass term m_sq in S = sum kappa/2 (d phi)^2 + m_sq/2 phi^2 + lambda phi^4");
}

std::size_t Phi4ActionSpec::volume() const { return lattice::phi4_volume(dims, L); }

Phi4ActionSpec phi4_action_from_deck(const config::Deck& deck) {
  const std::string where = "deck '" + deck.origin() + "': ";
  Phi4ActionSpec a;
  a.dims = int(deck.integer("action.dims"));
  a.L = int(deck.integer("action.L"));
  a.convention = deck.string("action.convention");
  auto need = [&](const std::string& key, const std::string& example) {
    if (!deck.has(key))
      throw input_error(where + "action." + key.substr(7) + " is required with action.convention = " +
                        a.convention + "; add e.g. '" + example + "' to the action section");
    return deck.real(key);
  };
  auto refuse = [&](const std::string& key) {
    if (deck.has(key))
      throw input_error(where + key + " is not a coupling of action.convention = " + a.convention +
                        "; remove it (aks: m2, lambda; normflow: kappa, m_sq, lambda; hopping: "
                        "kappa, lambda)");
  };
  if (a.convention == "aks") {
    refuse("action.kappa");
    refuse("action.m_sq");
    a.couplings.m2 = need("action.m2", "m2: -4.0");
    a.couplings.lambda = need("action.lambda", "lambda: 8.0");
  } else if (a.convention == "normflow") {
    refuse("action.m2");
    lattice::Phi4Normflow nf;
    nf.kappa = need("action.kappa", "kappa: 2.0");
    nf.m_sq = need("action.m_sq", "m_sq: -8.0");
    nf.lambda = need("action.lambda", "lambda: 8.0");
    const lattice::Phi4InAks in = lattice::from_normflow(nf);
    a.couplings = in.couplings;
    a.field_scale = in.field_scale;
  } else {
    refuse("action.m2");
    refuse("action.m_sq");
    lattice::Phi4Hopping h;
    h.kappa = need("action.kappa", "kappa: 0.2");
    h.lambda = need("action.lambda", "lambda: 0.02");
    if (!(h.lambda > 0.0))
      throw input_error(where + "action.lambda = " + std::to_string(h.lambda) +
                        " must be positive in the hopping convention (lambda_h > 0; lambda_h = 0 "
                        "is the free field, give it as convention aks with lambda: 0)");
    const lattice::Phi4InAks in = lattice::from_hopping(h, a.dims);
    a.couplings = in.couplings;
    a.field_scale = in.field_scale;
  }
  if (!std::isfinite(a.couplings.m2) || !std::isfinite(a.couplings.lambda))
    throw input_error(where + "the action's couplings are not finite numbers");
  // A bounded action: lambda > 0, or lambda = 0 with a positive mass (free field).
  if (a.couplings.lambda == 0.0 && !(a.couplings.m2 > 0.0))
    throw input_error(where + "lambda = 0 needs m2 > 0 (the free field; m2 = " +
                      std::to_string(a.couplings.m2) +
                      " leaves the action unbounded below): set action.m2 > 0 or lambda > 0");
  try {
    (void)lattice::phi4_volume(a.dims, a.L);
    a.normflow = lattice::to_normflow(a.couplings,
                                      a.convention == "normflow" ? deck.real("action.kappa") : 2.0);
    if (a.couplings.lambda > 0.0 || 2 * a.dims + a.couplings.m2 > 0.0)
      a.hopping = lattice::to_hopping(a.couplings, a.dims);
  } catch (const Error& e) {
    throw input_error(where + e.what());
  }
  return a;
}

config::Schema phi4_schema() {
  config::Schema s("phi4");
  s.choice("workflow", "phi4", {"phi4"}, "what to run");
  s.integer("seed", 42, 0, 4294967295.0, "seed of every random draw (Philox key)");
  add_phi4_action_keys(s);
  s.int_list("lattice.proc_grid", std::nullopt, 1, 1 << 16,
             "MPI process grid, one entry per dimension (default: MPI_Dims_create)");
  s.choice("algorithm", "hmc", {"metropolis", "hmc"},
           "checkerboard local Metropolis or hybrid Monte Carlo");
  s.real("metropolis.step", 1.0, 1e-12, 1e6, "proposal phi -> phi + step (2u - 1)");
  s.integer("metropolis.hits", 1, 1, 1000, "Metropolis hits per site per sweep");
  s.choice("hmc.integrator", "omelyan", {"leapfrog", "omelyan"},
           "molecular-dynamics integrator (Omelyan: 2nd-order minimum norm, lambda = 0.1932)");
  s.integer("hmc.steps", 10, 1, 1e6, "integrator steps per trajectory");
  s.real("hmc.trajectory_length", 1.0, 1e-9, 1e6, "trajectory length tau (step size tau/steps)");
  s.choice("start", "hot", {"hot", "cold"}, "initial field: uniform in [-1, 1) (hot) or 0 (cold)");
  s.integer("thermalize", 1000, 0, 1e15, "updates (sweeps or trajectories) discarded first");
  s.integer("samples", 1000, 2, 1e12, "samples stored");
  s.integer("between_samples", 1, 1, 1e12, "updates from one stored sample to the next");
  s.string("output.path", std::string("phi4.h5"),
           "output HDF5 file (written as PATH.partial, renamed when complete)");
  s.boolean("output.store_fields", true,
            "store the configurations /t0/phi (false: observables only)");
  add_run_keys(s, "updates");
  return s;
}

Phi4Settings phi4_settings(const config::Deck& deck, int ranks) {
  Phi4Settings s;
  const std::string where = "deck '" + deck.origin() + "': ";
  if (deck.string("action.kind") != "phi4")
    throw input_error(where + "action.kind must be phi4 for workflow: phi4");
  s.action = phi4_action_from_deck(deck);
  s.seed = std::uint64_t(deck.integer("seed"));
  s.algorithm = deck.string("algorithm");
  s.metropolis_step = deck.real("metropolis.step");
  s.metropolis_hits = int(deck.integer("metropolis.hits"));
  s.integrator = deck.string("hmc.integrator");
  s.hmc_steps = int(deck.integer("hmc.steps"));
  s.trajectory_length = deck.real("hmc.trajectory_length");
  s.start = deck.string("start");
  s.thermalize = std::uint64_t(deck.integer("thermalize"));
  s.samples = std::uint64_t(deck.integer("samples"));
  s.between_samples = std::uint64_t(deck.integer("between_samples"));
  s.store_fields = deck.boolean("output.store_fields");
  s.output = deck.string("output.path");
  static_cast<RunKeys&>(s) = run_keys(deck);

  const std::vector<int> extent(std::size_t(s.action.dims), s.action.L);
  std::vector<int> grid;
  if (deck.has("lattice.proc_grid"))
    for (long long g : deck.int_list("lattice.proc_grid")) grid.push_back(int(g));
  try {
    lattice::Phi4Field::check_geometry(extent);
    grid = lattice::CartDecomposition::plan_grid(extent, grid, ranks);
  } catch (const Error& e) {
    // The decomposition names the Ising deck's key; a phi^4 deck sets the size in action.L.
    std::string msg = e.what();
    for (std::size_t at; (at = msg.find("lattice.L")) != std::string::npos;)
      msg.replace(at, 9, "action.L");
    throw input_error(where + msg);
  }
  if (deck.has("lattice.proc_grid")) s.proc_grid = grid;
  return s;
}

}  // namespace phyflow::workflows
