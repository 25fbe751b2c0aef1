// One large N-body system (n >= 10^4) spread over the ranks of a communicator by particles
// (DESIGN.md §6): each rank owns a contiguous range of whole tiles of bodies and forces come
// from a ring pass of positions. Every result is bitwise the same on any rank count: forces
// are summed per source tile, and the tile partials combined in a fixed tree over tile indices.
#pragma once

#include <mpi.h>

#include <Kokkos_Core.hpp>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "phyflow/nbody/force_laws.hpp"
#include "phyflow/nbody/integrators.hpp"

namespace phyflow::nbody {

/// Conserved quantities of the whole system; identical on every rank and for any rank count.
struct SystemDiagnostics {
  double kinetic = 0.0;    ///< sum_b m_b |v_b|^2 / 2
  double potential = 0.0;  ///< sum over pairs i < j of the pair energy (damped: the spring part)
  double total = 0.0;      ///< kinetic + potential
  std::array<double, 3> momentum{};  ///< sum_b m_b v_b (components >= d are zero)
  std::array<double, 3> force{};     ///< sum_b m_b a_b at the current state (Newton III: ~0)
};

/// The bodies a rank owns: [first_body, first_body + bodies) = tiles [first_tile, + tiles).
struct OwnedBodies {
  int first_tile = 0, tiles = 0;
  int first_body = 0, bodies = 0;
};

/// One system of n bodies in d = 1..3 dimensions, distributed by particles.
///
/// Layout: bodies are grouped into ntiles = ceil(n / tile) tiles of `tile` consecutive bodies
/// (the last tile may be shorter); rank r owns a contiguous range of whole tiles, the ranges
/// as even as possible (the first ntiles % P ranks own one tile more). The local state holds
/// the owned bodies in global order, one row [x(d), v(d), q, m] each (the seed layout).
///
/// Rank independence (DESIGN.md §4): the force on body i is assembled from one partial sum
/// per source tile (pair forces added in body order inside the tile); the partials are then
/// combined pairwise in the fixed binary tree over tile indices (node (L, k) = tiles
/// [k 2^L, (k+1) 2^L)), whatever order the ring delivers the tiles in. That tree is a function
/// of n and tile only, and the elementwise updates of the integrators are per body, so
/// accelerations, trajectories and diagnostics are bitwise identical on 1, 2, ..., ntiles
/// ranks. (They differ from the host reference accelerations() in force_laws.hpp by rounding
/// only, because that one sums the bodies in plain order.) The tile size is part of the
/// result: change it and the last bits change.
///
/// Every member function that says "collective" must be called by all ranks of the
/// communicator in the same order.
class DistributedSystem {
 public:
  /// (owned bodies, 2d + 2): [x(d), v(d), q, m] per row.
  using StateView = Kokkos::View<double**, Kokkos::LayoutRight>;
  /// (owned bodies, d).
  using AccelView = Kokkos::View<double**, Kokkos::LayoutRight>;
  using HostStateView = StateView::host_mirror_type;
  using HostAccelView = AccelView::host_mirror_type;
  /// Called at each stored frame with the frame index and the owned bodies' state and
  /// accelerations in host memory (valid during the call only). Called on every rank, in
  /// the same frame order, so it may do collective I/O.
  using FrameCallback =
      std::function<void(int frame, const HostStateView& state, const HostAccelView& accel)>;

  static constexpr int default_tile = 256;

  /// Throws input_error unless n >= 2, 1 <= tile and every one of `ranks` ranks gets at least
  /// one tile (ranks <= ceil(n / tile)); the message names system.n and the rank count.
  static void check_decomposition(int ranks, int n, int tile);
  /// The bodies rank `rank` of `ranks` owns (after check_decomposition()).
  static OwnedBodies owned_bodies(int rank, int ranks, int n, int tile);

  /// Collective. `comm` is duplicated (the ring's messages cannot meet the caller's). The
  /// state starts at zero: set it with set_initial_conditions() or set_local_state().
  /// input_error on a bad dimension or decomposition (same verdict on every rank).
  DistributedSystem(MPI_Comm comm, const ForceLawSpec& law, int dim, int n,
                    int tile = default_tile);
  /// Collective: as above, then set_local_state(local_rows) (a restart from a stored frame).
  DistributedSystem(MPI_Comm comm, const ForceLawSpec& law, int dim, int n, int tile,
                    const double* local_rows);
  ~DistributedSystem();
  DistributedSystem(const DistributedSystem&) = delete;
  DistributedSystem& operator=(const DistributedSystem&) = delete;

  // --- layout -------------------------------------------------------------------------------
  int n() const { return n_; }
  int dim() const { return dim_; }
  int tile() const { return tile_; }
  int ntiles() const { return ntiles_; }
  int rank() const { return rank_; }
  int ranks() const { return ranks_; }
  const OwnedBodies& owned() const { return owned_; }
  int first_body() const { return owned_.first_body; }
  int local_bodies() const { return owned_.bodies; }
  const ForceLawSpec& law() const { return law_; }
  /// Pair interactions of one force evaluation of the whole system: n (n - 1).
  double pair_interactions() const { return static_cast<double>(n_) * (n_ - 1); }

  // --- state --------------------------------------------------------------------------------
  /// The seed's initial conditions for the owned bodies: initial_bodies(law, seed, d, sim,
  /// first_body(), local_bodies()), so the state does not depend on the rank count.
  void set_initial_conditions(std::uint64_t seed, std::uint64_t sim = 0);
  /// Replaces the owned bodies' state by local_bodies() host rows of 2d + 2 doubles (e.g. the
  /// hyperslab of a stored frame when restarting).
  void set_local_state(const double* local_rows);
  /// The owned bodies' state (device memory).
  const StateView& state() const { return state_; }
  /// A host copy of the owned bodies' state.
  HostStateView host_state() const;

  // --- forces and stepping (all collective) ---------------------------------------------------
  /// Accelerations of the owned bodies at the current state (cached until the state changes).
  const AccelView& accelerations();
  /// One fixed step of size h: Method::verlet (velocity Verlet, kick-drift-kick, one force
  /// evaluation, reusing the acceleration of the previous step) or Method::rk4 (four
  /// evaluations; the acceleration at the new state is evaluated lazily and becomes k1 of the
  /// next step). Method::rk45 is refused with input_error (no adaptive steps here).
  ///
  /// damped law: the damping force -c_i v_i is linear in v, so Verlet's closing half kick
  /// solves v_{n+1} = v_{n+1/2} + h/2 (F(x_{n+1}) - c_i v_{n+1}) / m_i for v_{n+1} exactly
  /// (trapezoidal in the damping, still second order and time-symmetric).
  void step(Method method, double h);
  /// Integrates from `first_frame` (the current state is frame first_frame's) to frame
  /// grid.nt - 1 with grid.substeps steps of grid.step() between frames, calling on_frame for
  /// every frame first_frame..nt-1 (so also for the starting one). A restart from frame k's
  /// state therefore reproduces frames k.. of the uninterrupted run bitwise. If the state
  /// becomes non-finite, stats.status = 2 and the remaining frames are NaN.
  SimStats integrate(const TimeGrid& grid, Method method, const FrameCallback& on_frame,
                     int first_frame = 0);

  // --- diagnostics and gathering (collective) -----------------------------------------------
  /// Energies, momentum and total force, each summed per tile and then over tiles in tile
  /// order on every rank: the same bits on any rank count. Costs about half a force pass.
  SystemDiagnostics diagnostics();
  /// The whole state (n rows of 2d + 2, global order) on `root`; empty elsewhere.
  std::vector<double> gather_state(int root = 0) const;
  /// All accelerations (n rows of d, global order) on `root`; empty elsewhere.
  std::vector<double> gather_accelerations(int root = 0);

 private:
  class Ring;  // the ring pass and the tile-tree sums (large_system.cpp)

  void compute_forces(const StateView& s);    // pair forces of state s into force_
  void accel_from_force(const StateView& s);  // accel_ = (force_ + damping(v)) / m
  std::vector<double> gather_rows(const double* local, int width, int root) const;

  MPI_Comm comm_ = MPI_COMM_NULL;
  ForceLawSpec law_;
  int dim_ = 0, n_ = 0, tile_ = 0, ntiles_ = 0, rank_ = 0, ranks_ = 1;
  OwnedBodies owned_;
  std::vector<OwnedBodies> all_owned_;
  StateView state_, stage_;
  AccelView force_, accel_;
  AccelView rk_dx_, rk_dv_;  // rk4 accumulators of k1 + 2 k2 + 2 k3 + k4
  bool accel_valid_ = false;
  std::unique_ptr<Ring> ring_;
};

}  // namespace phyflow::nbody
