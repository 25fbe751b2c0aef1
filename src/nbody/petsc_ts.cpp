// The reference engine of the N-body integrators (integrators.hpp, integrate_petsc): one
// simulation on one PETSc TS on PETSC_COMM_SELF. ODE state y = [x (n d), v (n d)], body-major
// like the seed's rows; q and m are constants of the right-hand side. Built without PETSc,
// integrate_petsc only says so.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "phyflow/core/build_info.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/nbody/integrators.hpp"

#if PHYFLOW_HAVE_PETSC
#include <petscts.h>
#endif

namespace phyflow::nbody {

#if PHYFLOW_HAVE_PETSC
namespace {

/// Throws runtime_error naming the PETSc call when rc reports an error. The message PETSc
/// attached to the error (kept even under PetscReturnErrorHandler) goes with it.
void check_petsc(PetscErrorCode rc, const char* call) {
  if (rc == 0) return;
  const char* generic = nullptr;
  char* specific = nullptr;
  PetscErrorMessage(rc, &generic, &specific);
  std::string text =
      std::string("PETSc ") + call + " failed (PETSc error " + std::to_string(static_cast<int>(rc));
  if (generic) text += ": " + std::string(generic);
  if (specific && *specific) text += ": " + std::string(specific);
  throw runtime_error(text + ")");
}

/// Owns one PETSc object and destroys it on every way out, exceptions included.
template <class Handle, PetscErrorCode (*Destroy)(Handle*)>
class Owned {
 public:
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (handle_) Destroy(&handle_);
  }
  Handle* out() { return &handle_; }
  Handle get() const { return handle_; }

 private:
  Handle handle_ = nullptr;
};
using OwnedTS = Owned<TS, TSDestroy>;
using OwnedVec = Owned<Vec, VecDestroy>;
using OwnedIS = Owned<IS, ISDestroy>;

/// While alive, PETSc errors come back as codes without printing a traceback: every code is
/// either turned into a phyflow error with PETSc's message, or (a non-finite error norm) into
/// status 2 of the simulation.
class QuietPetscErrors {
 public:
  QuietPetscErrors() {
    check_petsc(PetscPushErrorHandler(PetscReturnErrorHandler, nullptr), "PetscPushErrorHandler");
  }
  QuietPetscErrors(const QuietPetscErrors&) = delete;
  QuietPetscErrors& operator=(const QuietPetscErrors&) = delete;
  ~QuietPetscErrors() { PetscPopErrorHandler(); }
};

constexpr PetscErrorCode petsc_ok = static_cast<PetscErrorCode>(0);

/// The bodies of one simulation as the right-hand sides see them: a scratch copy of the
/// seed-layout state (q and m fixed, x and v rewritten per call) for the host accelerations().
struct BodySystem {
  ForceLawSpec law;
  int d = 0;
  int n = 0;
  std::vector<double> state;  // n rows [x(d), v(d), q, m]
  std::vector<double> accel;  // n rows of d

  int components() const { return n * d; }

  /// a(x, v) into a[0, n d); v may be null (conservative laws: velocities unused).
  void accelerations_at(const double* x, const double* v, double* a) {
    const int w = state_width(d);
    for (int b = 0; b < n; ++b)
      for (int k = 0; k < d; ++k) {
        state[b * w + k] = x[b * d + k];
        state[b * w + d + k] = v ? v[b * d + k] : 0.0;
      }
    nbody::accelerations(law, d, n, state.data(), a);
  }
};

// The right-hand sides are called from C: no exception may cross them.
PetscErrorCode full_rhs(TS, PetscReal, Vec y, Vec f, void* context) {
  auto& system = *static_cast<BodySystem*>(context);
  const PetscScalar* in = nullptr;
  PetscScalar* out = nullptr;
  PetscCall(VecGetArrayRead(y, &in));
  PetscCall(VecGetArray(f, &out));
  const int nd = system.components();
  try {
    for (int i = 0; i < nd; ++i) out[i] = in[nd + i];  // dx/dt = v
    system.accelerations_at(in, in + nd, out + nd);    // dv/dt = a(x, v)
  } catch (const std::exception& e) {
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_LIB, "N-body right-hand side: %s", e.what());
  }
  PetscCall(VecRestoreArray(f, &out));
  PetscCall(VecRestoreArrayRead(y, &in));
  return petsc_ok;
}

// TSBASICSYMPLECTIC calls the "position" split with the velocity part of y and the "momentum"
// split with the position part (sub-vectors of n d entries each).
PetscErrorCode position_rhs(TS, PetscReal, Vec v, Vec dx_dt, void*) {
  PetscCall(VecCopy(v, dx_dt));
  return petsc_ok;
}

PetscErrorCode momentum_rhs(TS, PetscReal, Vec x, Vec dv_dt, void* context) {
  auto& system = *static_cast<BodySystem*>(context);
  PetscInt size = 0;
  PetscCall(VecGetLocalSize(x, &size));
  PetscCheck(size == system.components(), PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "momentum split got %d entries, expected the %d positions", static_cast<int>(size),
             system.components());
  const PetscScalar* in = nullptr;
  PetscScalar* out = nullptr;
  PetscCall(VecGetArrayRead(x, &in));
  PetscCall(VecGetArray(dv_dt, &out));
  try {
    system.accelerations_at(in, nullptr, out);
  } catch (const std::exception& e) {
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_LIB, "N-body right-hand side: %s", e.what());
  }
  PetscCall(VecRestoreArray(dv_dt, &out));
  PetscCall(VecRestoreArrayRead(x, &in));
  return petsc_ok;
}

// Velocity Verlet as a TSBASICSYMPLECTIC scheme. PETSc's own TSBASICSYMPLECTICVELVERLET ("2",
// c = {0, 1}, d = {1/2, 1/2}) is the drift-kick-drift (position Verlet) form; Method::verlet
// and the Kokkos kernels are kick-drift-kick, so we register that form through PETSc's public
// TSBasicSymplecticRegister: stage 1 kicks v by h/2 a(x) and drifts x by h v, stage 2 kicks
// v by h/2 a(x_new) and does not drift (d = 0).
constexpr const char* kick_drift_kick = "phyflow_kdk";
bool kick_drift_kick_registered = false;

PetscErrorCode forget_kick_drift_kick() {
  // PetscFinalize destroys PETSc's scheme list; a later PetscInitialize needs a new entry.
  kick_drift_kick_registered = false;
  return petsc_ok;
}

void register_kick_drift_kick() {
  if (kick_drift_kick_registered) return;
  PetscReal kick[2] = {0.5, 0.5};
  PetscReal drift[2] = {1.0, 0.0};
  check_petsc(TSBasicSymplecticRegister(kick_drift_kick, 2, 2, kick, drift),
              "TSBasicSymplecticRegister");
  check_petsc(PetscRegisterFinalize(forget_kick_drift_kick), "PetscRegisterFinalize");
  kick_drift_kick_registered = true;
}

bool all_finite(const double* values, int count) {
  for (int i = 0; i < count; ++i)
    if (!std::isfinite(values[i])) return false;
  return true;
}

void check_inputs(const ForceLawSpec& law, int d, int n, const TimeGrid& grid,
                  const IntegratorSettings& settings) {
  if (d < 1 || d > max_dim)
    throw input_error("system.dims = " + std::to_string(d) +
                      ": the N-body integrators support 1, 2 or 3 dimensions");
  if (n < 1) throw input_error("system.n = " + std::to_string(n) + ": need at least one body");
  if (grid.nt < 2)
    throw input_error("time.nt = " + std::to_string(grid.nt) + ": need at least 2 frames");
  if (!(grid.dt > 0.0) || !std::isfinite(grid.dt))
    throw input_error("time.dt = " + std::to_string(grid.dt) + ": must be positive and finite");
  if (grid.substeps < 1)
    throw input_error("time.substeps = " + std::to_string(grid.substeps) + ": must be >= 1");
  if (static_cast<double>(grid.nt - 1) * grid.substeps >
      static_cast<double>(std::numeric_limits<PetscInt>::max()))
    throw input_error("time.nt * time.substeps: more steps than PETSc's step counter holds");
  if (settings.method == Method::rk45) {
    if (!(settings.rtol >= 0.0) || !(settings.atol >= 0.0) ||
        !(settings.rtol > 0.0 || settings.atol > 0.0))
      throw input_error("integrator.rtol / integrator.atol: both must be >= 0 and one > 0");
    if (settings.max_steps_per_frame < 1)
      throw input_error("integrator.max_steps_per_frame must be >= 1");
  }
  if (settings.method == Method::verlet && law.law == ForceLaw::damped)
    throw input_error(
        "integrator.method: verlet with integrator.engine petsc cannot integrate system.law "
        "damped: PETSc's symplectic scheme needs forces that depend on positions only, and the "
        "damping depends on velocities. Use integrator.method rk45 or rk4 for the damped law.");
}

}  // namespace

void integrate_petsc(const ForceLawSpec& law, int d, int n, const TimeGrid& grid,
                     const IntegratorSettings& settings, const double* initial, double* frames,
                     double* accel, SimStats& stats) {
  check_inputs(law, d, n, grid, settings);
  PetscBool petsc_up = PETSC_FALSE;
  check_petsc(PetscInitialized(&petsc_up), "PetscInitialized");
  if (!petsc_up)
    throw runtime_error("integrate_petsc needs an initialised PETSc (phyflow::Runtime does it)");

  stats = SimStats{};
  const int w = state_width(d);
  const int nd = n * d;
  const std::size_t frame_size = static_cast<std::size_t>(n) * static_cast<std::size_t>(w);
  const std::size_t accel_size = static_cast<std::size_t>(nd);

  // Frame 0 is the initial state itself, bit for bit.
  for (std::size_t i = 0; i < frame_size; ++i) frames[i] = initial[i];
  nbody::accelerations(law, d, n, initial, accel);

  BodySystem system{law, d, n, std::vector<double>(initial, initial + frame_size),
                    std::vector<double>(accel_size)};
  QuietPetscErrors quiet;

  OwnedVec y;
  check_petsc(VecCreateSeq(PETSC_COMM_SELF, 2 * nd, y.out()), "VecCreateSeq");
  {
    PetscScalar* values = nullptr;
    check_petsc(VecGetArray(y.get(), &values), "VecGetArray");
    for (int b = 0; b < n; ++b)
      for (int k = 0; k < d; ++k) {
        values[b * d + k] = initial[b * w + k];
        values[nd + b * d + k] = initial[b * w + d + k];
      }
    check_petsc(VecRestoreArray(y.get(), &values), "VecRestoreArray");
  }

  OwnedTS ts;
  check_petsc(TSCreate(PETSC_COMM_SELF, ts.out()), "TSCreate");
  const bool fixed_step = settings.method != Method::rk45;
  switch (settings.method) {
    case Method::rk45: {
      check_petsc(TSSetType(ts.get(), TSRK), "TSSetType(TSRK)");
      check_petsc(TSRKSetType(ts.get(), TSRK5DP), "TSRKSetType(TSRK5DP)");
      check_petsc(TSSetRHSFunction(ts.get(), nullptr, full_rhs, &system), "TSSetRHSFunction");
      TSAdapt adapt = nullptr;
      check_petsc(TSGetAdapt(ts.get(), &adapt), "TSGetAdapt");
      check_petsc(TSAdaptSetType(adapt, TSADAPTBASIC), "TSAdaptSetType(TSADAPTBASIC)");
      // Scalar tolerances and PETSc's default NORM_2 error norm: the weighted RMS norm
      // documented in integrators.hpp.
      check_petsc(TSSetTolerances(ts.get(), settings.atol, nullptr, settings.rtol, nullptr),
                  "TSSetTolerances");
      check_petsc(TSSetExactFinalTime(ts.get(), TS_EXACTFINALTIME_MATCHSTEP),
                  "TSSetExactFinalTime");
      // A failing step ends TSSolve with a reason instead of an error; consecutive
      // rejections never exceed the per-frame budget anyway.
      check_petsc(TSSetErrorIfStepFails(ts.get(), PETSC_FALSE), "TSSetErrorIfStepFails");
      check_petsc(TSSetMaxStepRejections(ts.get(), settings.max_steps_per_frame),
                  "TSSetMaxStepRejections");
      // First trial step: 1/100 of the frame spacing; the controller takes it from there
      // (at most 10x growth or 0.1x shrink per step).
      check_petsc(TSSetTimeStep(ts.get(), grid.frame_spacing() / 100.0), "TSSetTimeStep");
      break;
    }
    case Method::rk4: {
      check_petsc(TSSetType(ts.get(), TSRK), "TSSetType(TSRK)");
      check_petsc(TSRKSetType(ts.get(), TSRK4), "TSRKSetType(TSRK4)");
      check_petsc(TSSetRHSFunction(ts.get(), nullptr, full_rhs, &system), "TSSetRHSFunction");
      TSAdapt adapt = nullptr;
      check_petsc(TSGetAdapt(ts.get(), &adapt), "TSGetAdapt");
      check_petsc(TSAdaptSetType(adapt, TSADAPTNONE), "TSAdaptSetType(TSADAPTNONE)");
      break;
    }
    case Method::verlet: {
      register_kick_drift_kick();
      check_petsc(TSSetType(ts.get(), TSBASICSYMPLECTIC), "TSSetType(TSBASICSYMPLECTIC)");
      check_petsc(TSBasicSymplecticSetType(ts.get(), kick_drift_kick), "TSBasicSymplecticSetType");
      OwnedIS positions, velocities;
      check_petsc(ISCreateStride(PETSC_COMM_SELF, nd, 0, 1, positions.out()), "ISCreateStride");
      check_petsc(ISCreateStride(PETSC_COMM_SELF, nd, nd, 1, velocities.out()), "ISCreateStride");
      // The TS keeps its own references to the index sets.
      check_petsc(TSRHSSplitSetIS(ts.get(), "position", positions.get()), "TSRHSSplitSetIS");
      check_petsc(TSRHSSplitSetIS(ts.get(), "momentum", velocities.get()), "TSRHSSplitSetIS");
      check_petsc(TSRHSSplitSetRHSFunction(ts.get(), "position", nullptr, position_rhs, &system),
                  "TSRHSSplitSetRHSFunction(position)");
      check_petsc(TSRHSSplitSetRHSFunction(ts.get(), "momentum", nullptr, momentum_rhs, &system),
                  "TSRHSSplitSetRHSFunction(momentum)");
      break;
    }
  }
  if (fixed_step) {
    // Exactly `substeps` steps of grid.step() per frame, counted by TSSetMaxSteps. PETSc's
    // MATCHSTEP is not used here: TSBASICSYMPLECTIC ignores it, and for RK4 it would shave
    // rounding-sized slivers off the last step of a frame.
    check_petsc(TSSetExactFinalTime(ts.get(), TS_EXACTFINALTIME_STEPOVER), "TSSetExactFinalTime");
    check_petsc(TSSetTimeStep(ts.get(), grid.step()), "TSSetTimeStep");
  }
  check_petsc(TSSetTime(ts.get(), 0.0), "TSSetTime");
  check_petsc(TSSetSolution(ts.get(), y.get()), "TSSetSolution");

  PetscInt rejected_before = 0;
  int failed_at = grid.nt;  // first frame not reached
  for (int k = 1; k < grid.nt; ++k) {
    const double t_k = grid.time(k);
    PetscInt steps_before = 0;
    check_petsc(TSGetStepNumber(ts.get(), &steps_before), "TSGetStepNumber");
    if (fixed_step) {
      // The step count ends the frame; the time limit half a step beyond it never does.
      check_petsc(TSSetMaxSteps(ts.get(), static_cast<PetscInt>(k) * grid.substeps),
                  "TSSetMaxSteps");
      check_petsc(TSSetMaxTime(ts.get(), t_k + 0.5 * grid.step()), "TSSetMaxTime");
    } else {
      check_petsc(TSSetMaxSteps(ts.get(), steps_before + settings.max_steps_per_frame),
                  "TSSetMaxSteps");
      check_petsc(TSSetMaxTime(ts.get(), t_k), "TSSetMaxTime");
    }

    const PetscErrorCode solved = TSSolve(ts.get(), y.get());
    // A NaN or Inf in the rk45 error norm is PETSC_ERR_FP: the state went non-finite.
    const bool norm_not_finite = solved == PETSC_ERR_FP;
    if (!norm_not_finite) check_petsc(solved, "TSSolve");

    PetscInt steps_now = 0, rejected_now = 0;
    PetscReal t_now = 0.0;
    check_petsc(TSGetStepNumber(ts.get(), &steps_now), "TSGetStepNumber");
    check_petsc(TSGetStepRejections(ts.get(), &rejected_now), "TSGetStepRejections");
    check_petsc(TSGetTime(ts.get(), &t_now), "TSGetTime");
    // Both counters run on over successive TSSolve calls (PETSc >= 3.8).
    stats.steps = static_cast<std::int64_t>(steps_now);
    stats.rejected = static_cast<std::int64_t>(rejected_now);

    const PetscScalar* values = nullptr;
    check_petsc(VecGetArrayRead(y.get(), &values), "VecGetArrayRead");
    const bool finite = all_finite(values, 2 * nd);
    double* frame = frames + static_cast<std::size_t>(k) * frame_size;
    for (int b = 0; b < n; ++b) {
      for (int c = 0; c < d; ++c) {
        frame[b * w + c] = values[b * d + c];
        frame[b * w + d + c] = values[nd + b * d + c];
      }
      frame[b * w + 2 * d] = initial[b * w + 2 * d];
      frame[b * w + 2 * d + 1] = initial[b * w + 2 * d + 1];
    }
    check_petsc(VecRestoreArrayRead(y.get(), &values), "VecRestoreArrayRead");

    if (norm_not_finite || !finite) {
      stats.status = 2;
      failed_at = k;
      break;
    }
    if (fixed_step) {
      if (steps_now != static_cast<PetscInt>(k) * grid.substeps)
        throw runtime_error("PETSc TS took " + std::to_string(steps_now) + " steps by frame " +
                            std::to_string(k) + " where " +
                            std::to_string(static_cast<long long>(k) * grid.substeps) +
                            " were set (TSSetMaxSteps)");
      // The clock may sit a rounding error off t_k after `substeps` additions of the step.
      check_petsc(TSSetTime(ts.get(), t_k), "TSSetTime");
    } else {
      // Reaching t_k is what counts: TSSolve reports TS_CONVERGED_ITS rather than _TIME
      // when the last allowed step lands exactly on t_k.
      const PetscInt taken = (steps_now - steps_before) + (rejected_now - rejected_before);
      if (!(t_now >= t_k) || taken > settings.max_steps_per_frame) {
        stats.status = 1;
        failed_at = k;
        break;
      }
    }
    rejected_before = rejected_now;
    nbody::accelerations(law, d, n, frame, accel + static_cast<std::size_t>(k) * accel_size);
  }

  // A failed simulation's frames from the failure on are NaN.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int k = failed_at; k < grid.nt; ++k) {
    double* frame = frames + static_cast<std::size_t>(k) * frame_size;
    for (std::size_t i = 0; i < frame_size; ++i) frame[i] = nan;
    double* a = accel + static_cast<std::size_t>(k) * accel_size;
    for (std::size_t i = 0; i < accel_size; ++i) a[i] = nan;
  }
}

#else  // !PHYFLOW_HAVE_PETSC

void integrate_petsc(const ForceLawSpec&, int, int, const TimeGrid&, const IntegratorSettings&,
                     const double*, double*, double*, SimStats&) {
  throw runtime_error(
      "integrator.engine petsc: this phyflow was built without PETSc (phyflow_ENABLE_PETSC=OFF); "
      "rebuild with -Dphyflow_ENABLE_PETSC=ON, or use integrator.engine kokkos");
}

#endif

}  // namespace phyflow::nbody
