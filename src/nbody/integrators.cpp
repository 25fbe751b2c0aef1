// Names of the integration methods and engines (deck parsing) and integrate_batch(): argument
// checks on the host, then one statically specialised Kokkos kernel per (dimension, law,
// method), each thread stepping a pack of simulations, one per SIMD lane
// (lane_integrator.hpp), with the pack width picked for the CPU at run time.
#include "phyflow/nbody/integrators.hpp"

#include <limits>
#include <string>

#include "lane_launch.hpp"
#include "phyflow/core/config.hpp"
#include "phyflow/core/error.hpp"

namespace phyflow::nbody {

namespace {

constexpr Method all_methods[] = {Method::verlet, Method::rk4, Method::rk45};
constexpr Engine all_engines[] = {Engine::kokkos, Engine::petsc};

/// The member of `options` called `name`, or input_error naming `key`, the nearest name and
/// all valid ones.
template <class T, std::size_t K>
T parse_name(const std::string& name, const std::string& key, const T (&options)[K],
             const char* (*name_of)(T), const char* what) {
  const char* best = nullptr;
  std::string names;
  for (T option : options) {
    if (name == name_of(option)) return option;
    names += (names.empty() ? "" : ", ") + std::string(name_of(option));
    if (!best || config::edit_distance(name, name_of(option)) < config::edit_distance(name, best))
      best = name_of(option);
  }
  throw input_error(key + ": unknown " + what + " '" + name + "' -- did you mean '" + best +
                    "'? (known: " + names + ")");
}

/// Packs of the widest SIMD the CPU runs (PHYFLOW_SIMD caps it, as for the Ising kernels);
/// every width gives the same bits.
void launch(const ForceLawSpec& law, int d, const TimeGrid& grid,
            const IntegratorSettings& settings, const BatchState& initial,
            const BatchFrames& frames, const BatchFrames& accel, const BatchStats& stats) {
#if PHYFLOW_NBODY_LANE_DISPATCH
  switch (detail::pack_isa()) {
    case detail::PackIsa::avx512:
      return detail::launch_lanes_avx512(law, d, grid, settings, initial, frames, accel, stats);
    case detail::PackIsa::avx2:
      return detail::launch_lanes_avx2(law, d, grid, settings, initial, frames, accel, stats);
    case detail::PackIsa::baseline:
      break;
  }
#endif
  constexpr int L = detail::lanes_for<Kokkos::DefaultExecutionSpace>();
  detail::launch_lanes_for<L, detail::DefaultTarget>(law, d, grid, settings, initial, frames,
                                                     accel, stats);
}

std::string shape(const BatchFrames& v) {
  std::string s = "(";
  for (int r = 0; r < 4; ++r) s += (r ? ", " : "") + std::to_string(v.extent(r));
  return s + ")";
}

void check_arguments(int d, const TimeGrid& grid, const IntegratorSettings& settings,
                     const BatchState& initial, const BatchFrames& frames, const BatchFrames& accel,
                     const BatchStats& stats) {
  if (d < 1 || d > max_dim)
    throw input_error("system.dims = " + std::to_string(d) +
                      ": the N-body integrators support dimensions 1, 2 and 3");
  if (!(grid.dt > 0.0) || !(grid.dt < std::numeric_limits<double>::infinity()))
    throw input_error("time.dt = " + std::to_string(grid.dt) + ": must be a positive number");
  if (grid.nt < 2)
    throw input_error("time.nt = " + std::to_string(grid.nt) +
                      ": need at least 2 frames (the first is the initial state)");
  if (grid.substeps < 1)
    throw input_error("time.substeps = " + std::to_string(grid.substeps) + ": must be >= 1");
  if (settings.method == Method::rk45) {
    if (!(settings.rtol >= 0.0) || !(settings.atol >= 0.0) ||
        !(settings.rtol > 0.0 || settings.atol > 0.0))
      throw input_error("integrator.rtol / integrator.atol = " + std::to_string(settings.rtol) +
                        " / " + std::to_string(settings.atol) + ": must be >= 0 and not both zero");
    if (settings.max_steps_per_frame < 1)
      throw input_error("integrator.max_steps_per_frame = " +
                        std::to_string(settings.max_steps_per_frame) + ": must be >= 1");
  }
  const std::size_t ns = initial.extent(0), n = initial.extent(1);
  const auto w = static_cast<std::size_t>(state_width(d)), nt = static_cast<std::size_t>(grid.nt);
  if (n < 1 || initial.extent(2) != w)
    throw runtime_error("integrate_batch: initial state has extents (" + std::to_string(ns) + ", " +
                        std::to_string(n) + ", " + std::to_string(initial.extent(2)) +
                        "), expected (ns, n >= 1, " + std::to_string(w) +
                        ") for dims = " + std::to_string(d));
  if (frames.extent(0) != ns || frames.extent(1) != nt || frames.extent(2) != n ||
      frames.extent(3) != w)
    throw runtime_error("integrate_batch: frames have shape " + shape(frames) + ", expected (" +
                        std::to_string(ns) + ", " + std::to_string(nt) + ", " + std::to_string(n) +
                        ", " + std::to_string(w) + ")");
  if (accel.extent(0) != ns || accel.extent(1) != nt || accel.extent(2) != n ||
      accel.extent(3) != static_cast<std::size_t>(d))
    throw runtime_error("integrate_batch: accelerations have shape " + shape(accel) +
                        ", expected (" + std::to_string(ns) + ", " + std::to_string(nt) + ", " +
                        std::to_string(n) + ", " + std::to_string(d) + ")");
  if (stats.extent(0) != ns)
    throw runtime_error("integrate_batch: stats has " + std::to_string(stats.extent(0)) +
                        " entries for " + std::to_string(ns) + " simulations");
}

}  // namespace

const char* method_name(Method m) {
  switch (m) {
    case Method::verlet:
      return "verlet";
    case Method::rk4:
      return "rk4";
    case Method::rk45:
      return "rk45";
  }
  return "?";
}

const char* engine_name(Engine e) {
  switch (e) {
    case Engine::kokkos:
      return "kokkos";
    case Engine::petsc:
      return "petsc";
  }
  return "?";
}

Method parse_method(const std::string& name, const std::string& key) {
  return parse_name(name, key, all_methods, method_name, "integration method");
}

Engine parse_engine(const std::string& name, const std::string& key) {
  return parse_name(name, key, all_engines, engine_name, "integrator engine");
}

void integrate_batch(const ForceLawSpec& law, int d, const TimeGrid& grid,
                     const IntegratorSettings& settings, const BatchState& initial,
                     const BatchFrames& frames, const BatchFrames& accel, const BatchStats& stats) {
  check_arguments(d, grid, settings, initial, frames, accel, stats);
  if (initial.extent(0) == 0) return;
  launch(law, d, grid, settings, initial, frames, accel, stats);
}

}  // namespace phyflow::nbody
