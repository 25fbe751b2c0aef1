// Time integration of N-body ensembles (DESIGN.md §6): the shared vocabulary (time grid,
// methods, settings, per-simulation statistics) and the two engines that use it -- batched
// Kokkos kernels (velocity Verlet, RK4, per-simulation Dormand-Prince 5(4)) and PETSc TS per
// simulation (the reference). Frames are stored at t_k = k * dt * nt / (nt - 1), k = 0..nt-1,
// as in the seed (`linspace(0, dt * nt, nt)`).
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>
#include <string>

#include "phyflow/nbody/force_laws.hpp"

namespace phyflow::nbody {

/// The stored frames of a run. Frame k is at time k * frame_spacing(); fixed-step methods take
/// `substeps` equal steps between consecutive frames.
struct TimeGrid {
  double dt = 0.01;  ///< deck time.dt: the seed's nominal step (frames span dt * nt)
  int nt = 500;      ///< deck time.nt: number of stored frames (>= 2)
  int substeps = 1;  ///< deck time.substeps: fixed steps per frame interval (>= 1)

  double frame_spacing() const { return dt * static_cast<double>(nt) / static_cast<double>(nt - 1); }
  double time(int k) const { return static_cast<double>(k) * frame_spacing(); }
  /// The fixed step of verlet / rk4: frame_spacing() / substeps.
  double step() const { return frame_spacing() / static_cast<double>(substeps); }
};

/// Integration schemes. verlet = velocity Verlet (kick-drift-kick leapfrog, symplectic, 2nd
/// order); rk4 = classical Runge-Kutta; rk45 = Dormand-Prince 5(4) with adaptive steps and
/// per-simulation error control (FSAL, local extrapolation: the 5th-order solution advances).
/// The Kokkos rk45 takes the steps the tolerance asks for and fills the frames in between from
/// the scheme's dense output (order 4, as SciPy's solve_ivp and DOPRI5); the PETSc reference
/// lands a step on every frame (see integrate_petsc). Both meet the tolerance; their frames
/// agree to it, not to the bit.
enum class Method { verlet, rk4, rk45 };

/// Which implementation runs the scheme: Kokkos kernels over a batch of simulations, or one
/// PETSc TS per simulation (TSRK "5dp" / TSRK "4" / TSBASICSYMPLECTIC with a kick-drift-kick
/// scheme, see integrate_petsc).
enum class Engine { kokkos, petsc };

const char* method_name(Method m);  ///< "verlet", "rk4", "rk45"
const char* engine_name(Engine e);  ///< "kokkos", "petsc"
/// Deck parsing; input_error naming `key` and the nearest valid name otherwise.
Method parse_method(const std::string& name, const std::string& key = "integrator.method");
Engine parse_engine(const std::string& name, const std::string& key = "integrator.engine");

struct IntegratorSettings {
  Method method = Method::rk45;
  Engine engine = Engine::kokkos;
  double rtol = 1.4e-8;  ///< rk45: relative tolerance (the seed's odeint default)
  double atol = 1.4e-8;  ///< rk45: absolute tolerance
  /// rk45: the most steps (accepted + rejected) one simulation may take between two stored
  /// frames before it is marked failed (the seed's odeint used mxstep = 2000).
  int max_steps_per_frame = 2000;
};

/// Error norm of rk45 (both engines, so they agree): PETSc's weighted RMS norm
///   sqrt( (1/N) sum_i (e_i / (atol + rtol * max(|y_i|, |y~_i|)))^2 ),
/// over the N = 2 n d position and velocity components of one simulation, with y the new
/// (5th-order) solution, y~ the embedded 4th-order one and e = y - y~; a step is accepted
/// when the norm is <= 1. (Checked against PETSc 3.18's TSErrorWeightedNorm, NORM_2, in
/// test_petsc_ts. PETSc skips components whose weight is 0 and divides by the number left;
/// that happens only with atol = 0 and y_i = y~_i = 0.)

/// What happened to one simulation.
struct SimStats {
  std::int64_t steps = 0;     ///< accepted steps
  std::int64_t rejected = 0;  ///< rejected rk45 steps
  /// 0 = ok; 1 = a frame needed more than max_steps_per_frame steps; 2 = non-finite state.
  /// A failed simulation's frames from the failure on are NaN.
  int status = 0;
};

/// State of a batch of simulations: (sim, body, 2d + 2) = [x(d), v(d), q, m] per body, the
/// seed's layout. Frames: (sim, frame, body, 2d + 2); accelerations: (sim, frame, body, d).
using BatchState = Kokkos::View<double***, Kokkos::LayoutRight>;
using BatchFrames = Kokkos::View<double****, Kokkos::LayoutRight>;
using BatchStats = Kokkos::View<SimStats*>;

/// Integrates every simulation of `initial` (extent 0 = batch size, 1 = n, 2 = 2d + 2) over
/// the time grid with the Kokkos kernels, writing all nt frames (frame 0 = the initial
/// state) and the accelerations at each frame. Each simulation is integrated on its own (a
/// SIMD lane of a host thread or a GPU thread, its own rk45 step control), so its result does
/// not depend on the batch it is in, the batch size, the rank or the CPU's SIMD width:
/// bitwise. rk45 steps are not cut at the frames (only the last frame is landed on, a step
/// within 1% of it stretched onto it): the frames an accepted step passes are its dense
/// output, their accelerations those of the interpolated state. settings.engine is ignored.
void integrate_batch(const ForceLawSpec& law, int d, const TimeGrid& grid,
                     const IntegratorSettings& settings, const BatchState& initial,
                     const BatchFrames& frames, const BatchFrames& accel, const BatchStats& stats);

/// One simulation with PETSc TS on PETSC_COMM_SELF (the reference): `initial` holds n rows of
/// 2d + 2 doubles; `frames` receives nt * n * (2d + 2) doubles and `accel` nt * n * d
/// (frame 0 = `initial` bit for bit; accel[k] = accelerations() of frame k).
/// rk45 -> TSRK 5dp with TSADAPTBASIC, settings.rtol/atol and the weighted RMS norm above;
///   first trial step frame_spacing() / 100; frames hit exactly (TS_EXACTFINALTIME_MATCHSTEP,
///   one TSSolve per frame, so its steps are cut at the frames: more steps than the Kokkos
///   engine's dense output needs when frames are closer than the tolerance's step, the same
///   accuracy; both are tested against Kepler's equation); a frame needing more than
///   max_steps_per_frame steps (accepted + rejected) sets status 1.
/// rk4 -> TSRK 4, verlet -> TSBASICSYMPLECTIC: exactly `substeps` steps of grid.step() per
///   frame (TSADAPTNONE). PETSc's TSBASICSYMPLECTICVELVERLET is the drift-kick-drift form, so
///   verlet registers the kick-drift-kick coefficients (c = {1/2, 1/2}, d = {1, 0}) with
///   TSBasicSymplecticRegister and matches the Kokkos velocity Verlet step for step.
/// verlet with the damped law is an input_error (the symplectic split needs position-only
/// forces). stats: cumulative TSGetStepNumber / TSGetStepRejections; status 2 when the state
/// turns non-finite; frames and accel of a failed simulation are NaN from the failed frame on.
/// PETSc options (PETSC_OPTIONS) are not read: the deck alone fixes the result. Built without
/// PETSc, it throws runtime_error saying so.
void integrate_petsc(const ForceLawSpec& law, int d, int n, const TimeGrid& grid,
                     const IntegratorSettings& settings, const double* initial, double* frames,
                     double* accel, SimStats& stats);

}  // namespace phyflow::nbody
