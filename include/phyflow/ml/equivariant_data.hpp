// The data sets of scalar-based equivariant learning (Villar et al. 2021, "Scalars are
// universal"), defined as in EMLP (Finzi et al., ICML 2021, datasets.py): O(5) invariant
// regression, the inertia tensor of 5 point masses, the Lorentz-invariant e-mu interaction
// and the double spring pendulum. Torch-free: `workflow: dataset` writes them, the models
// and tests read the same definitions.
//
// Inputs of sample i are drawn from Philox (seed, "equivariant-<kind>", counter (i, step)), so
// a sample depends only on (seed, i): files are the same whatever the rank count.
// Column layouts (the regression layout /x (N, k) -> /y (N, m)):
//   o5       x = [x1(5), x2(5)]                 y = sin|x1| - |x2|^3/2 + <x1,x2>/(|x1||x2|)
//   inertia  x = 5 x [m, x, y, z]               y = sum_i m_i (|r_i|^2 I - r_i r_i^T), row-major
//   lorentz  x = [p1, p2, p3, p4], (t, x, y, z)  y = 4 sum Le (.) Lmu (metric diag(1,-1,-1,-1))
//   pendulum x = z(t0) = [x1, x2, p1, p2] (12)   y = z(t0 + k dt), k = 1..steps (steps x 12)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace phyflow::ml::equivariant {

enum class Kind { o5, inertia, lorentz, pendulum };

const std::vector<std::string>& kind_names();  ///< o5, inertia, lorentz, pendulum
/// input_error naming the known kinds when `name` is not one.
Kind kind_from_name(const std::string& name, const std::string& where);
std::string kind_name(Kind kind);

/// Columns of /x and /y of a kind (pendulum: y = steps x 12).
int x_columns(Kind kind);
int y_columns(Kind kind, int pendulum_steps = 4);
/// One line per column of /x and /y, for the files' attributes ("x1[0]", "m1", "p3[t]", ...).
std::vector<std::string> x_column_names(Kind kind);
std::vector<std::string> y_column_names(Kind kind, int pendulum_steps = 4);
/// What the kind's /x and /y hold, one sentence each.
std::string x_meaning(Kind kind);
std::string y_meaning(Kind kind);

/// EMLP O5Synthetic: x = [x1, x2] in R^5 x R^5.
double o5_target(const double* x);
/// EMLP Inertia with our column order: x = 5 x [m, x, y, z]; y (9) the inertia tensor, row-major.
void inertia_target(const double* x, double* y);
/// EMLP ParticleInteraction: x = [p1, p2, p3, p4], time component first.
double lorentz_target(const double* x);

/// The inputs of sample `index` (x_columns(kind) doubles; pendulum: the initial state z0).
void draw_inputs(Kind kind, std::uint64_t seed, std::uint64_t index, double* x);
/// The targets of inputs x (o5, inertia, lorentz).
void targets(Kind kind, const double* x, double* y);

// ---- double spring pendulum (EMLP DoubleSpringPendulum; g = m = k = l = 1) ----------------
// z = [x1(3), x2(3), p1(3), p2(3)]; bob 1 hangs from the origin on spring 1, bob 2 from bob 1
// on spring 2; gravity along -z.
//   H = |p1|^2/2 + |p2|^2/2 + (|x1| - 1)^2/2 + (|x1 - x2| - 1)^2 + z1 + z2   (EMLP's H, with
//   its factor 1 -- not 1/2 -- on the second spring)
constexpr int pendulum_state = 12;
double pendulum_energy(const double* z);
/// dz/dt = (dH/dp, -dH/dx).
void pendulum_dynamics(const double* z, double* dz);
/// Classical RK4: `steps` steps of size h in place.
void pendulum_rk4(double* z, double h, int steps);
/// EMLP's initial conditions: x1 = (0,0,-1.5) + 0.2 N, x2 = (0,0,-3) + 0.2 N, p = 0.4 N.
void pendulum_initial(std::uint64_t seed, std::uint64_t index, double* z0);

struct PendulumSampling {
  double dt = 0.2;          ///< spacing of the stored states (EMLP: 0.2)
  int chunk = 5;            ///< states per training chunk (x + chunk-1 targets; EMLP: 5)
  double duration = 30.0;   ///< trajectory length (EMLP integration_time: 30)
  int substeps = 20;        ///< RK4 steps per dt
  bool rollout = false;     ///< true: x = z(0), y = the whole trajectory z(dt), ..., (test set)
  /// Stored states after x: rollout -> round(duration/dt) - 1, chunks -> chunk - 1.
  int steps() const;
};
/// One pendulum sample: a trajectory of `duration` from pendulum_initial(seed, index) at
/// spacing dt; for chunks, one of the duration / (chunk dt) chunks chosen by Philox (as EMLP's
/// chunk_training_data); x (12) = the chunk's first state, y (steps x 12) the next ones.
void pendulum_sample(const PendulumSampling& s, std::uint64_t seed, std::uint64_t index,
                     double* x, double* y);

}  // namespace phyflow::ml::equivariant
