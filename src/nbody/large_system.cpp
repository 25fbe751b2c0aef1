// DistributedSystem: the ring pass of positions, the per-tile force and energy kernels, the
// fixed tree over tiles that makes every sum independent of the rank count, and the fixed-step
// integrators (velocity Verlet, RK4) on the distributed state.
#include "phyflow/nbody/large_system.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <utility>

#include "lane_launch.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/progress.hpp"
#include "phyflow/nbody/initial_conditions.hpp"
#include "tile_force.hpp"

namespace phyflow::nbody {

namespace {

using Rows = Kokkos::View<double**, Kokkos::LayoutRight>;
using HostRows = Rows::host_mirror_type;
using Exec = Kokkos::DefaultExecutionSpace;
using BodyRange = Kokkos::RangePolicy<Exec>;

constexpr int ring_tag = 7301;

void check_dim(int d) {
  if (d < 1 || d > max_dim)
    throw input_error("system.dims = " + std::to_string(d) +
                      ": the N-body force laws support dimensions 1, 2 and 3");
}

/// Calls f(std::integral_constant<int, D>) for the runtime dimension d.
template <class F>
void with_dim(int d, F&& f) {
  if (d == 1) f(std::integral_constant<int, 1>{});
  if (d == 2) f(std::integral_constant<int, 2>{});
  if (d == 3) f(std::integral_constant<int, 3>{});
}

// ---------------------------------------------------------------------------------------------
// Sums over tiles in a fixed tree. Node (L, k) covers tiles [k 2^L, (k+1) 2^L) ∩ [0, ntiles);
// its value is the sum of its two children when both cover tiles, else the one child's value.
// That value depends on the tree alone, not on the order the tiles are inserted in (IEEE
// addition is commutative, and each node is formed exactly once from its fixed children), so
// a ring that delivers the tiles in a rotated order gives the same bits as one rank going
// 0, 1, 2, ... Memory: only the completed maximal nodes of what has arrived are held -- the
// arrivals form at most two runs of tiles, so about 4 log2(ntiles) partial arrays at most,
// instead of one per tile.
// ---------------------------------------------------------------------------------------------
/// a += b, row by row. A free function: CUDA's extended lambdas may not live in private or
/// protected member functions.
void add_rows_into(const Rows& a, const Rows& b) {
  const int width = static_cast<int>(a.extent(1));
  Kokkos::parallel_for(
      "nbody_tile_tree_add", BodyRange(0, a.extent(0)), KOKKOS_LAMBDA(const int i) {
        for (int c = 0; c < width; ++c) a(i, c) += b(i, c);
      });
}

class TileTreeSum {
 public:
  TileTreeSum(int ntiles, int rows, int width) : ntiles_(ntiles), rows_(rows), width_(width) {
    while ((1L << top_) < ntiles_) ++top_;
  }

  /// A free slot (rows x width, contents undefined) to compute one tile's partials into.
  int acquire() {
    if (free_.empty()) {
      slots_.emplace_back(Kokkos::ViewAllocateWithoutInitializing("nbody_tile_partials"), rows_,
                          width_);
      return static_cast<int>(slots_.size()) - 1;
    }
    const int id = free_.back();
    free_.pop_back();
    return id;
  }
  const Rows& slot(int id) const { return slots_[static_cast<std::size_t>(id)]; }

  /// Adds the partials of `tile` (held in slot id) to the tree, forming every node whose
  /// children are now both complete.
  void insert(int tile, int id) {
    long k = tile;
    for (int level = 0; level < top_; ++level, k >>= 1) {
      const long sibling = k ^ 1;
      if ((sibling << level) >= ntiles_) continue;  // empty right sibling: the node passes up
      const auto it = pending_.find({level, sibling});
      if (it == pending_.end()) {
        pending_.emplace(std::make_pair(level, k), id);
        return;
      }
      add_rows_into(slot(id), slot(it->second));
      free_.push_back(it->second);
      pending_.erase(it);
    }
    root_ = id;
  }

  /// The sum over all tiles; valid once every tile is inserted, until release_result().
  const Rows& result() const {
    if (root_ < 0 || !pending_.empty())
      throw runtime_error("nbody: tile sum read before every tile arrived (internal error)");
    return slot(root_);
  }
  void release_result() {
    free_.push_back(root_);
    root_ = -1;
  }

 private:
  int ntiles_, rows_, width_, top_ = 0, root_ = -1;
  std::vector<Rows> slots_;
  std::vector<int> free_;
  std::map<std::pair<int, long>, int> pending_;
};

// ---------------------------------------------------------------------------------------------
// Kernels. Source rows travelling round the ring are [x(D), q, m].
// ---------------------------------------------------------------------------------------------

/// Pair energies of each owned body i with the bodies j > i of one tile, added in j order: the
/// pairs i < j, each once, as potential_energy() in force_laws.hpp counts them.
template <int D, class Law>
struct TileEnergy {
  Law law;
  Rows targets, sources, out;
  int first_target, first_source, j0, j1;

  KOKKOS_INLINE_FUNCTION void operator()(const int i) const {
    double xi[D], xj[D];
    for (int k = 0; k < D; ++k) xi[k] = targets(i, k);
    const double qi = targets(i, 2 * D), mi = targets(i, 2 * D + 1);
    const int gi = first_target + i;
    double sum = 0.0;
    const int after_i = gi - first_source + 1;  // first row with global index > gi
    for (int j = after_i > j0 ? after_i : j0; j < j1; ++j) {
      for (int k = 0; k < D; ++k) xj[k] = sources(j, k);
      sum += law.template potential<D>(xi, xj, qi, sources(j, D), mi, sources(j, D + 1));
    }
    out(i, 0) = sum;
  }
};

/// accel = (force + damping(v)) / m, the damping only for the damped law -- the order of
/// operations of the host reference accelerations().
template <int D, class Law>
void accel_from_force_kernel(const Law& law, const Rows& s, const Rows& force, const Rows& accel,
                             int first_body, int n) {
  // The branch sits outside the kernels: a CUDA extended lambda may not first-capture a
  // variable inside an if-constexpr.
  if constexpr (std::is_same_v<Law, Damped>) {
    const Law damped = law;
    Kokkos::parallel_for(
        "nbody_accel_from_force", BodyRange(0, s.extent(0)), KOKKOS_LAMBDA(const int i) {
          const double m = s(i, 2 * D + 1);
          double v[D], fd[D];
          for (int k = 0; k < D; ++k) v[k] = s(i, D + k);
          damped.template damping_force<D>(v, first_body + i, n, fd);
          for (int k = 0; k < D; ++k) accel(i, k) = (force(i, k) + fd[k]) / m;
        });
  } else {
    Kokkos::parallel_for(
        "nbody_accel_from_force", BodyRange(0, s.extent(0)), KOKKOS_LAMBDA(const int i) {
          const double m = s(i, 2 * D + 1);
          for (int k = 0; k < D; ++k) accel(i, k) = force(i, k) / m;
        });
  }
}

/// Verlet's closing half kick v += h/2 a(x_{n+1}, v_{n+1}). For the damped law the damping
/// -c v is taken at v_{n+1} and solved for exactly (see the header); then accel is refreshed.
template <int D, class Law>
void closing_kick(const Law& law, const Rows& s, const Rows& force, const Rows& accel,
                  int first_body, int n, double half_h) {
  if constexpr (std::is_same_v<Law, Damped>) {
    const double nn = static_cast<double>(n);
    Kokkos::parallel_for(
        "nbody_verlet_damped_kick", BodyRange(0, s.extent(0)), KOKKOS_LAMBDA(const int i) {
          const double m = s(i, 2 * D + 1);
          const double c = static_cast<double>(n - 1 - (first_body + i)) / nn;
          const double shrink = 1.0 + half_h * c / m;
          for (int k = 0; k < D; ++k)
            s(i, D + k) = (s(i, D + k) + half_h * force(i, k) / m) / shrink;
        });
    accel_from_force_kernel<D>(law, s, force, accel, first_body, n);
  } else {
    accel_from_force_kernel<D>(law, s, force, accel, first_body, n);
    Kokkos::parallel_for(
        "nbody_verlet_kick", BodyRange(0, s.extent(0)), KOKKOS_LAMBDA(const int i) {
          for (int k = 0; k < D; ++k) s(i, D + k) += half_h * accel(i, k);
        });
  }
}

/// out = [x(d), q, m] of the bodies of `state` (the ring's block). A free function: CUDA's
/// extended lambdas may not live in a class that is private to another (Ring).
void pack_ring_block(const Rows& state, const Rows& out, int d) {
  Kokkos::parallel_for(
      "nbody_ring_pack", BodyRange(0, state.extent(0)), KOKKOS_LAMBDA(const int i) {
        for (int k = 0; k < d; ++k) out(i, k) = state(i, k);
        out(i, d) = state(i, 2 * d);
        out(i, d + 1) = state(i, 2 * d + 1);
      });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The ring: rank r sends the block in hand to r + 1 and receives the next one from r - 1, so at
// step s it holds the block of rank (r - s) mod P. The transfer of the next block overlaps the
// kernels on the current one (MPI_Testall between tiles keeps the transfer moving on MPI
// libraries without a progress thread). Blocks travel through host buffers, so no GPU-aware MPI
// is needed; on host backends the mirrors are the device views and nothing is copied.
// ---------------------------------------------------------------------------------------------
class DistributedSystem::Ring {
 public:
  Ring(MPI_Comm comm, int dim, int tile, int ntiles, const std::vector<OwnedBodies>& all, int rank)
      : comm_(comm),
        dim_(dim),
        tile_(tile),
        rank_(rank),
        ranks_(static_cast<int>(all.size())),
        all_(all),
        force_sum(ntiles, all[static_cast<std::size_t>(rank)].bodies, dim),
        energy_sum(ntiles, all[static_cast<std::size_t>(rank)].bodies, 1) {
    int most = 0;
    for (const OwnedBodies& o : all) most = std::max(most, o.bodies);
    for (int b = 0; b < 2; ++b) {
      block_[b] = Rows(Kokkos::ViewAllocateWithoutInitializing("nbody_ring_block"), most, dim + 2);
      host_block_[b] = Kokkos::create_mirror_view(block_[b]);
    }
  }

  /// Runs kernel(sources, first_source_body, j0, j1, out) for every tile of the system, with
  /// `state`'s owned bodies as targets, and inserts each tile's partials into `sum`.
  template <class TileKernel>
  void pass(const Rows& state, TileTreeSum& sum, TileKernel&& kernel) {
    pack(state);
    const int next = (rank_ + 1) % ranks_, prev = (rank_ + ranks_ - 1) % ranks_;
    const int width = dim_ + 2;
    int cur = 0, owner = rank_;
    for (int step = 0; step < ranks_; ++step) {
      const int incoming = (owner + ranks_ - 1) % ranks_;
      MPI_Request req[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
      const bool more = step + 1 < ranks_;
      if (more) {
        check_mpi(MPI_Irecv(host_block_[1 - cur].data(), all_[incoming].bodies * width, MPI_DOUBLE,
                            prev, ring_tag, comm_, &req[0]),
                  "MPI_Irecv");
        check_mpi(MPI_Isend(host_block_[cur].data(), all_[owner].bodies * width, MPI_DOUBLE, next,
                            ring_tag, comm_, &req[1]),
                  "MPI_Isend");
      }
      const OwnedBodies& block = all_[static_cast<std::size_t>(owner)];
      for (int t = 0; t < block.tiles; ++t) {
        const int j0 = t * tile_, j1 = std::min(j0 + tile_, block.bodies);
        const int id = sum.acquire();
        kernel(block_[cur], block.first_body, j0, j1, sum.slot(id));
        sum.insert(block.first_tile + t, id);
        if (more) {
          int done = 0;
          check_mpi(MPI_Testall(2, req, &done, MPI_STATUSES_IGNORE), "MPI_Testall");
        }
      }
      // The kernels must be done with block_[cur] before the next step receives into it.
      Kokkos::fence();
      if (more) {
        check_mpi(MPI_Waitall(2, req, MPI_STATUSES_IGNORE), "MPI_Waitall");
        Kokkos::deep_copy(block_[1 - cur], host_block_[1 - cur]);
      }
      cur = 1 - cur;
      owner = incoming;
    }
  }

 private:
  /// block_[0] = [x(d), q, m] of the owned bodies of `state`.
  void pack(const Rows& state) {
    pack_ring_block(state, block_[0], dim_);
    Kokkos::deep_copy(host_block_[0], block_[0]);
  }

  MPI_Comm comm_;
  int dim_, tile_, rank_, ranks_;
  std::vector<OwnedBodies> all_;
  Rows block_[2];
  HostRows host_block_[2];

 public:
  TileTreeSum force_sum;   // width d: pair forces
  TileTreeSum energy_sum;  // width 1: pair energies (i < j)
};

// ---------------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------------

void DistributedSystem::check_decomposition(int ranks, int n, int tile) {
  if (n < 2)
    throw input_error("system.n = " + std::to_string(n) + ": an N-body system needs n >= 2");
  if (n > INT_MAX / (2 * max_dim + 2))
    throw input_error("system.n = " + std::to_string(n) + ": too many bodies (at most " +
                      std::to_string(INT_MAX / (2 * max_dim + 2)) + ")");
  if (tile < 1)
    throw input_error("tile size " + std::to_string(tile) + ": must be at least 1 body");
  const int ntiles = (n + tile - 1) / tile;
  if (ranks > ntiles)
    throw input_error("system.n = " + std::to_string(n) + " makes " + std::to_string(ntiles) +
                      " tile(s) of " + std::to_string(tile) + " bodies, fewer than the " +
                      std::to_string(ranks) +
                      " MPI ranks: every rank must own at least one tile. Run on at most " +
                      std::to_string(ntiles) + " ranks, or raise system.n, or lower the tile size");
}

OwnedBodies DistributedSystem::owned_bodies(int rank, int ranks, int n, int tile) {
  const int ntiles = (n + tile - 1) / tile;
  const int base = ntiles / ranks, extra = ntiles % ranks;
  OwnedBodies o;
  o.first_tile = rank * base + std::min(rank, extra);
  o.tiles = base + (rank < extra ? 1 : 0);
  o.first_body = o.first_tile * tile;
  o.bodies = std::min(n, (o.first_tile + o.tiles) * tile) - o.first_body;
  return o;
}

DistributedSystem::DistributedSystem(MPI_Comm comm, const ForceLawSpec& law, int dim, int n,
                                     int tile)
    : law_(law), dim_(dim), n_(n), tile_(tile) {
  check_dim(dim);
  check_mpi(MPI_Comm_size(comm, &ranks_), "MPI_Comm_size");
  check_mpi(MPI_Comm_rank(comm, &rank_), "MPI_Comm_rank");
  check_decomposition(ranks_, n, tile);
  ntiles_ = (n + tile - 1) / tile;
  for (int r = 0; r < ranks_; ++r) all_owned_.push_back(owned_bodies(r, ranks_, n, tile));
  owned_ = all_owned_[static_cast<std::size_t>(rank_)];
  check_mpi(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup");

  const int local = owned_.bodies, w = state_width(dim);
  state_ = StateView("nbody_state", local, w);
  stage_ = StateView("nbody_rk_stage", local, w);
  force_ = AccelView("nbody_force", local, dim);
  accel_ = AccelView("nbody_accel", local, dim);
  rk_dx_ = AccelView("nbody_rk_dx", local, dim);
  rk_dv_ = AccelView("nbody_rk_dv", local, dim);
  ring_ = std::make_unique<Ring>(comm_, dim, tile, ntiles_, all_owned_, rank_);
}

DistributedSystem::DistributedSystem(MPI_Comm comm, const ForceLawSpec& law, int dim, int n,
                                     int tile, const double* local_rows)
    : DistributedSystem(comm, law, dim, n, tile) {
  set_local_state(local_rows);
}

DistributedSystem::~DistributedSystem() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

void DistributedSystem::set_initial_conditions(std::uint64_t seed, std::uint64_t sim) {
  std::vector<double> rows(static_cast<std::size_t>(owned_.bodies) * state_width(dim_));
  initial_bodies(law_.law, seed, dim_, sim, static_cast<std::uint64_t>(owned_.first_body),
                 static_cast<std::uint64_t>(owned_.bodies), rows.data());
  set_local_state(rows.data());
}

void DistributedSystem::set_local_state(const double* local_rows) {
  const HostStateView host = Kokkos::create_mirror_view(state_);
  const int w = state_width(dim_);
  for (int i = 0; i < owned_.bodies; ++i)
    for (int c = 0; c < w; ++c) host(i, c) = local_rows[static_cast<std::size_t>(i) * w + c];
  Kokkos::deep_copy(state_, host);
  accel_valid_ = false;
}

DistributedSystem::HostStateView DistributedSystem::host_state() const {
  const HostStateView host = Kokkos::create_mirror(state_);
  Kokkos::deep_copy(host, state_);
  return host;
}

// ---------------------------------------------------------------------------------------------
// Forces
// ---------------------------------------------------------------------------------------------

void DistributedSystem::compute_forces(const StateView& s) {
  const int first = owned_.first_body;
  const detail::PackIsa isa = detail::pack_isa();
  ring_->pass(s, ring_->force_sum,
              [&](const Rows& sources, int first_source, int j0, int j1, const Rows& out) {
                // Packs of owned bodies in SIMD lanes, the widest the CPU runs (tile_force.hpp).
#if PHYFLOW_NBODY_LANE_DISPATCH
                if (isa == detail::PackIsa::avx512)
                  return detail::tile_force_avx512(law_, dim_, s, sources, out, first,
                                                   first_source, j0, j1);
                if (isa == detail::PackIsa::avx2)
                  return detail::tile_force_avx2(law_, dim_, s, sources, out, first,
                                                 first_source, j0, j1);
#endif
                (void)isa;
                detail::launch_tile_force_for<
                    detail::lanes_for<Kokkos::DefaultExecutionSpace>(), detail::DefaultTarget>(
                    law_, dim_, s, sources, out, first, first_source, j0, j1);
              });
  Kokkos::deep_copy(force_, ring_->force_sum.result());
  ring_->force_sum.release_result();
}

void DistributedSystem::accel_from_force(const StateView& s) {
  with_law(law_, [&](const auto& law) {
    with_dim(dim_, [&](auto dc) {
      accel_from_force_kernel<decltype(dc)::value>(law, s, force_, accel_, owned_.first_body, n_);
    });
  });
}

const DistributedSystem::AccelView& DistributedSystem::accelerations() {
  if (!accel_valid_) {
    compute_forces(state_);
    accel_from_force(state_);
    accel_valid_ = true;
  }
  return accel_;
}

// ---------------------------------------------------------------------------------------------
// Stepping
// ---------------------------------------------------------------------------------------------

void DistributedSystem::step(Method method, double h) {
  if (method == Method::rk45)
    throw input_error(
        "integrator.method = rk45: the distributed large system steps with a fixed step only; "
        "use verlet or rk4");
  accelerations();  // a(x_n, v_n): Verlet's first kick, RK4's k1
  const StateView s = state_;
  const AccelView a = accel_;
  const int d = dim_;

  if (method == Method::verlet) {
    const double half_h = 0.5 * h;
    Kokkos::parallel_for(
        "nbody_verlet_kick_drift", BodyRange(0, s.extent(0)), KOKKOS_LAMBDA(const int i) {
          for (int k = 0; k < d; ++k) {
            s(i, d + k) += half_h * a(i, k);
            s(i, k) += h * s(i, d + k);
          }
        });
    compute_forces(state_);
    with_law(law_, [&](const auto& law) {
      with_dim(dim_, [&](auto dc) {
        closing_kick<decltype(dc)::value>(law, state_, force_, accel_, owned_.first_body, n_,
                                          half_h);
      });
    });
    accel_valid_ = true;  // a(x_{n+1}, v_{n+1}): the next step's first kick
    return;
  }

  // RK4 on y = (x, v), y' = (v, a(x, v)): dx, dv accumulate k1 + 2 k2 + 2 k3 + k4 (in this
  // order), the stage holds y + c h k_prev with the q, m columns of y.
  const StateView st = stage_;
  const AccelView dx = rk_dx_, dv = rk_dv_;
  const int w = state_width(d);
  const double half_h = 0.5 * h;
  Kokkos::parallel_for(
      "nbody_rk4_stage1", BodyRange(0, s.extent(0)), KOKKOS_LAMBDA(const int i) {
        for (int k = 0; k < d; ++k) {
          dx(i, k) = s(i, d + k);
          dv(i, k) = a(i, k);
          st(i, k) = s(i, k) + half_h * s(i, d + k);
          st(i, d + k) = s(i, d + k) + half_h * a(i, k);
        }
        for (int c = 2 * d; c < w; ++c) st(i, c) = s(i, c);
      });
  for (int stage = 2; stage <= 3; ++stage) {
    compute_forces(stage_);
    accel_from_force(stage_);
    const double c = stage == 2 ? half_h : h;  // k2 -> y + h/2 k2; k3 -> y + h k3
    Kokkos::parallel_for(
        "nbody_rk4_stage", BodyRange(0, s.extent(0)), KOKKOS_LAMBDA(const int i) {
          for (int k = 0; k < d; ++k) {
            const double vk = st(i, d + k), ak = a(i, k);
            dx(i, k) += 2.0 * vk;
            dv(i, k) += 2.0 * ak;
            st(i, k) = s(i, k) + c * vk;
            st(i, d + k) = s(i, d + k) + c * ak;
          }
        });
  }
  compute_forces(stage_);
  accel_from_force(stage_);
  const double sixth_h = h / 6.0;
  Kokkos::parallel_for(
      "nbody_rk4_update", BodyRange(0, s.extent(0)), KOKKOS_LAMBDA(const int i) {
        for (int k = 0; k < d; ++k) {
          const double sx = dx(i, k) + st(i, d + k), sv = dv(i, k) + a(i, k);
          s(i, k) += sixth_h * sx;
          s(i, d + k) += sixth_h * sv;
        }
      });
  accel_valid_ = false;  // accel_ holds k4; a(y_{n+1}) is evaluated when asked (next k1)
}

SimStats DistributedSystem::integrate(const TimeGrid& grid, Method method,
                                      const FrameCallback& on_frame, int first_frame) {
  if (method == Method::rk45) step(method, 0.0);  // throws the message for rk45
  if (grid.nt < 2) throw input_error("time.nt = " + std::to_string(grid.nt) + ": needs >= 2");
  if (!(grid.dt > 0.0) || !std::isfinite(grid.dt))
    throw input_error("time.dt = " + std::to_string(grid.dt) + ": must be positive");
  if (grid.substeps < 1)
    throw input_error("time.substeps = " + std::to_string(grid.substeps) + ": must be >= 1");
  if (first_frame < 0 || first_frame >= grid.nt)
    throw input_error("restart frame " + std::to_string(first_frame) + " is outside 0.." +
                      std::to_string(grid.nt - 1));

  SimStats stats;
  const HostStateView hs = Kokkos::create_mirror_view(state_);
  const HostAccelView ha = Kokkos::create_mirror_view(accel_);
  const double h = grid.step();

  // Non-finite state on any rank: every rank agrees, and from then on frames are NaN.
  auto all_finite = [&] {
    const StateView s = state_;
    const int w = state_width(dim_);
    int bad = 0;
    Kokkos::parallel_reduce(
        "nbody_finite_check", BodyRange(0, s.extent(0)),
        KOKKOS_LAMBDA(const int i, int& count) {
          // x - x is 0 for finite x and NaN for inf or NaN (no isfinite common to Kokkos 3, 4)
          for (int c = 0; c < w; ++c)
            if (!(s(i, c) - s(i, c) == 0.0)) ++count;
        },
        bad);
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_SUM, comm_), "MPI_Allreduce");
    return bad == 0;
  };
  auto mark_failed = [&] {
    stats.status = 2;
    Kokkos::deep_copy(state_, std::numeric_limits<double>::quiet_NaN());
    Kokkos::deep_copy(accel_, std::numeric_limits<double>::quiet_NaN());
    accel_valid_ = true;
  };
  auto emit = [&](int frame) {
    accelerations();
    Kokkos::deep_copy(hs, state_);
    Kokkos::deep_copy(ha, accel_);
    on_frame(frame, hs, ha);
  };

  if (!all_finite()) mark_failed();
  emit(first_frame);
  for (int frame = first_frame + 1; frame < grid.nt; ++frame) {
    if (stats.status == 0) {
      for (int sub = 0; sub < grid.substeps; ++sub) {
        step(method, h);
        ++stats.steps;
      }
      if (!all_finite()) mark_failed();
    }
    emit(frame);  // the caller reports progress (it knows what else it is doing)
  }
  return stats;
}

// ---------------------------------------------------------------------------------------------
// Diagnostics and gathering
// ---------------------------------------------------------------------------------------------

SystemDiagnostics DistributedSystem::diagnostics() {
  accelerations();
  const int first = owned_.first_body;
  const StateView s = state_;
  with_law(law_, [&](const auto& law) {
    using Law = std::decay_t<decltype(law)>;
    with_dim(dim_, [&](auto dc) {
      constexpr int D = decltype(dc)::value;
      ring_->pass(s, ring_->energy_sum,
                  [&](const Rows& sources, int first_source, int j0, int j1, const Rows& out) {
                    Kokkos::parallel_for(
                        "nbody_tile_energy", BodyRange(0, s.extent(0)),
                        TileEnergy<D, Law>{law, s, sources, out, first, first_source, j0, j1});
                  });
    });
  });
  const auto u = Kokkos::create_mirror_view(ring_->energy_sum.result());
  Kokkos::deep_copy(u, ring_->energy_sum.result());
  ring_->energy_sum.release_result();
  const HostStateView hs = host_state();
  const HostAccelView ha = Kokkos::create_mirror_view(accel_);
  Kokkos::deep_copy(ha, accel_);

  // Per owned tile: [kinetic, potential, momentum(d), force(d)], each summed in body order.
  const int d = dim_, per_tile = 2 + 2 * d;
  std::vector<double> mine(static_cast<std::size_t>(owned_.tiles) * per_tile, 0.0);
  for (int i = 0; i < owned_.bodies; ++i) {
    double* t = mine.data() + static_cast<std::size_t>(i / tile_) * per_tile;
    const double m = hs(i, 2 * d + 1);
    double v2 = 0.0;
    for (int k = 0; k < d; ++k) v2 += hs(i, d + k) * hs(i, d + k);
    t[0] += 0.5 * m * v2;
    t[1] += u(i, 0);
    for (int k = 0; k < d; ++k) {
      t[2 + k] += m * hs(i, d + k);
      t[2 + d + k] += m * ha(i, k);
    }
  }
  std::vector<int> counts(static_cast<std::size_t>(ranks_)), displs(counts.size());
  for (int r = 0; r < ranks_; ++r) {
    counts[static_cast<std::size_t>(r)] = all_owned_[static_cast<std::size_t>(r)].tiles * per_tile;
    displs[static_cast<std::size_t>(r)] =
        all_owned_[static_cast<std::size_t>(r)].first_tile * per_tile;
  }
  std::vector<double> tiles(static_cast<std::size_t>(ntiles_) * per_tile);
  check_mpi(MPI_Allgatherv(mine.data(), counts[static_cast<std::size_t>(rank_)], MPI_DOUBLE,
                           tiles.data(), counts.data(), displs.data(), MPI_DOUBLE, comm_),
            "MPI_Allgatherv");

  SystemDiagnostics out;
  for (int t = 0; t < ntiles_; ++t) {
    const double* p = tiles.data() + static_cast<std::size_t>(t) * per_tile;
    out.kinetic += p[0];
    out.potential += p[1];
    for (int k = 0; k < d; ++k) {
      out.momentum[static_cast<std::size_t>(k)] += p[2 + k];
      out.force[static_cast<std::size_t>(k)] += p[2 + d + k];
    }
  }
  out.total = out.kinetic + out.potential;
  return out;
}

std::vector<double> DistributedSystem::gather_rows(const double* local, int width, int root) const {
  std::vector<int> counts(static_cast<std::size_t>(ranks_)), displs(counts.size());
  for (int r = 0; r < ranks_; ++r) {
    counts[static_cast<std::size_t>(r)] = all_owned_[static_cast<std::size_t>(r)].bodies * width;
    displs[static_cast<std::size_t>(r)] =
        all_owned_[static_cast<std::size_t>(r)].first_body * width;
  }
  std::vector<double> all(rank_ == root ? static_cast<std::size_t>(n_) * width : 0);
  check_mpi(MPI_Gatherv(local, counts[static_cast<std::size_t>(rank_)], MPI_DOUBLE, all.data(),
                        counts.data(), displs.data(), MPI_DOUBLE, root, comm_),
            "MPI_Gatherv");
  return all;
}

std::vector<double> DistributedSystem::gather_state(int root) const {
  const HostStateView hs = host_state();
  return gather_rows(hs.data(), state_width(dim_), root);
}

std::vector<double> DistributedSystem::gather_accelerations(int root) {
  accelerations();
  const HostAccelView ha = Kokkos::create_mirror(accel_);
  Kokkos::deep_copy(ha, accel_);
  return gather_rows(ha.data(), dim_, root);
}

}  // namespace phyflow::nbody
