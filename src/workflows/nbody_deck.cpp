// The N-body deck: schema and cross-key checks (see nbody_deck.hpp).
#include "phyflow/workflows/nbody_deck.hpp"

#include "phyflow/core/error.hpp"

#include <cmath>

namespace phyflow::workflows {

config::Schema nbody_schema() {
  config::Schema s("nbody");
  s.choice("workflow", "nbody", {"nbody"}, "what to run");
  s.integer("seed", 1, 0, 4294967295.0,
            "seed of the initial conditions (Philox key; the seed project used 1/2/3 for "
            "train/val/test)");
  s.choice("system.law", "spring",
           {"spring", "r1", "r2", "charge", "damped", "discontinuous", "gravity", "power"},
           "pair force law (r' = r + 0.01): spring (r'-1)^2, r1 m1 m2 ln r', r2 -m1 m2/r', "
           "charge q1 q2/r', damped spring + the seed's damping, discontinuous 0 if r'<2 else "
           "(r'-1)^2, gravity -G m1 m2/sqrt(r^2+eps^2), power A c12 r'^p (system.power.*)");
  s.integer("system.n", 4, std::nullopt, 1e9, "bodies per simulation (>= 2)");
  s.integer("system.dims", 2, 1, 3, "spatial dimension");
  s.real("system.G", 1.0, 0.0, std::nullopt, "gravity: coupling G");
  s.real("system.softening", 0.01, 0.0, std::nullopt, "gravity: Plummer softening length eps");
  s.real("system.power.A", 1.0, std::nullopt, std::nullopt, "power: amplitude A in U = A c12 r'^p");
  s.real("system.power.exponent", -1.0, -12.0, 12.0,
         "power: exponent p (0 means U = A c12 ln r')");
  s.choice("system.power.coupling", "mass", {"none", "mass", "charge"},
           "power: c12 = 1, m1 m2 or q1 q2");
  s.integer("ensemble.ns", 1000, 1, 1e12, "independent simulations (the seed: 10 000)");
  s.integer("ensemble.batch", 0, 0, 1e12,
            "simulations integrated together over all ranks before a write (0: chosen so a "
            "rank's frames take about 4 MiB per host thread, 256 MiB on a GPU); does not "
            "change the results");
  s.choice("parallel.distribute", "simulations", {"simulations", "bodies"},
           "simulations: each rank integrates a block of the ensemble; bodies: every "
           "simulation is spread over all ranks by particles with a ring pass (large n)");
  s.integer("parallel.tile", 256, 1, 1e9,
            "distribute=bodies: bodies per tile; forces are summed per tile in a fixed order, "
            "so results do not depend on the rank count (ranks <= tiles)");
  s.real("time.dt", 0.01, std::nullopt, std::nullopt,
         "nominal step: the nt frames span dt * nt, at t_k = k dt nt/(nt-1) (seed: spring 1e-2, "
         "r1 5e-3, r2 1e-3, charge 1e-3, damped 2e-2, discontinuous 1e-2)");
  s.integer("time.nt", 500, 2, 1e9, "stored frames per simulation (frame 0 = initial state)");
  s.integer("time.substeps", 1, 1, 1e9, "verlet/rk4: fixed steps between two frames");
  s.choice("integrator.method", "rk45", {"rk45", "verlet", "rk4"},
           "rk45: Dormand-Prince 5(4), adaptive per simulation (the seed's odeint); verlet: "
           "velocity Verlet (symplectic); rk4: classical Runge-Kutta");
  s.choice("integrator.engine", "auto", {"auto", "kokkos", "petsc"},
           "kokkos: batched kernels; petsc: one PETSc TS per simulation (TSRK 5dp / TSRK 4 / "
           "TSBASICSYMPLECTIC vv), the reference; auto: kokkos, the fast engine");
  s.real("integrator.rtol", 1.4e-8, 1e-15, 1.0, "rk45: relative tolerance");
  s.real("integrator.atol", 1.4e-8, 1e-300, 1e6, "rk45: absolute tolerance");
  s.integer("integrator.max_steps_per_frame", 2000, 1, 1e12,
            "rk45: a simulation needing more steps between two frames is marked failed (its "
            "frames NaN from there, status in /diagnostics/status)");
  s.string("output.path", std::string("nbody.h5"),
           "output HDF5 file (written as PATH.partial, renamed when complete)");
  add_run_keys(s, "batches (distribute: bodies: frames)");
  add_split_keys(s, "ns");
  s.integer("splits[].ns", std::nullopt, 1, 1e12, "simulations of this split (default: ensemble.ns)");
  return s;
}

NbodySettings nbody_settings(const config::Deck& deck, int ranks) {
  NbodySettings s;
  const std::string where = "deck '" + deck.origin() + "'";
  s.law.law = nbody::parse_force_law(deck.string("system.law"));
  s.law.gravity_G = deck.real("system.G");
  s.law.gravity_eps = deck.real("system.softening");
  s.law.power_A = deck.real("system.power.A");
  s.law.power_exponent = deck.real("system.power.exponent");
  const std::string coupling = deck.string("system.power.coupling");
  s.law.power_coupling = coupling == "none"   ? nbody::PowerLaw::none
                         : coupling == "charge" ? nbody::PowerLaw::charge
                                                : nbody::PowerLaw::mass;
  const long long n = deck.integer("system.n");
  if (n < 2)
    throw input_error(where + ": system.n = " + std::to_string(n) +
                      ": a simulation needs at least 2 bodies; set system.n >= 2");
  s.n = int(n);
  s.dims = int(deck.integer("system.dims"));
  s.grid.dt = deck.real("time.dt");
  if (!(s.grid.dt > 0.0) || !std::isfinite(s.grid.dt))
    throw input_error(where + ": time.dt = " + deck.at("time.dt").dump() +
                      ": the time step must be positive and finite, e.g. time.dt: 0.01");
  s.grid.nt = int(deck.integer("time.nt"));
  s.grid.substeps = int(deck.integer("time.substeps"));
  s.integrator.method = nbody::parse_method(deck.string("integrator.method"));
  const std::string engine = deck.string("integrator.engine");
  // auto is the fast engine for every method (issue 13: rk45 on PETSc TS was 10x slower);
  // PETSc TS stays the reference a user asks for by name.
  s.integrator.engine = engine == "auto" ? nbody::Engine::kokkos : nbody::parse_engine(engine);
  s.integrator.rtol = deck.real("integrator.rtol");
  s.integrator.atol = deck.real("integrator.atol");
  s.integrator.max_steps_per_frame = int(deck.integer("integrator.max_steps_per_frame"));
  s.distribution = deck.string("parallel.distribute") == "bodies" ? Distribution::bodies
                                                                  : Distribution::simulations;
  s.batch = std::uint64_t(deck.integer("ensemble.batch"));
  s.tile = int(deck.integer("parallel.tile"));
  static_cast<RunKeys&>(s) = run_keys(deck);

  if (s.integrator.engine == nbody::Engine::petsc && s.integrator.method == nbody::Method::verlet &&
      s.law.law == nbody::ForceLaw::damped)
    throw input_error(where + ": integrator.method verlet with integrator.engine petsc "
                      "(TSBASICSYMPLECTIC) needs a velocity-independent force, and the damped law "
                      "depends on v; use integrator.method rk45 or rk4, or integrator.engine kokkos");
  if (s.distribution == Distribution::bodies) {
    if (s.integrator.method == nbody::Method::rk45 || s.integrator.engine == nbody::Engine::petsc)
      throw input_error(where + ": parallel.distribute = bodies integrates with the Kokkos "
                        "verlet or rk4 kernels; set integrator.method: verlet (or rk4) and "
                        "integrator.engine: kokkos (or auto)");
    const long long tiles = (n + s.tile - 1) / s.tile;
    if (tiles < ranks)
      throw input_error(where + ": parallel.distribute = bodies with system.n = " +
                        std::to_string(n) + " and parallel.tile = " + std::to_string(s.tile) +
                        " gives " + std::to_string(tiles) + " tiles for " + std::to_string(ranks) +
                        " ranks; every rank needs a tile: use fewer ranks, a smaller "
                        "parallel.tile, or distribute: simulations");
  }

  const std::uint64_t ns = std::uint64_t(deck.integer("ensemble.ns"));
  for (const SplitEntry& e : split_entries(deck)) {
    NbodySplit sp{e.name, e.path, e.seed, ns};
    if (e.row.contains("ns")) sp.ns = e.row.at("ns").get<std::uint64_t>();
    s.splits.push_back(sp);
  }
  return s;
}

}  // namespace phyflow::workflows
