// The Kokkos kernel behind integrate_batch(): one thread integrates one simulation of the
// batch from its initial state through all stored frames (velocity Verlet, RK4 or adaptive
// Dormand-Prince 5(4)), statically specialised on dimension, force law and method.
// Private to src/nbody: the public contract is include/phyflow/nbody/integrators.hpp.
#pragma once

#include <Kokkos_Core.hpp>
#include <cmath>
#include <type_traits>

#include "phyflow/nbody/force_laws.hpp"
#include "phyflow/nbody/integrators.hpp"

namespace phyflow::nbody::detail {

/// Per-thread work space: (simulation, slot, component). A slot holds one state-sized vector
/// of N = 2 n d doubles; each thread touches only its own simulation's slots, so no thread
/// ever reads another simulation's data (the batch-independence guarantee).
using StageScratch = Kokkos::View<double***>;

/// State vectors in the scratch use the body-major layout of the seed, without q and m
/// (constant, read from `initial`): component b * 2d + k is x_k of body b, b * 2d + d + k
/// is v_k. Every method has one more slot, holding 1 / m_b: a = F * (1/m) instead of F / m
/// saves n divisions per force evaluation (10 % of an n = 4 RK4 step on a Zen 4 core, where
/// the pair's sqrt and division set the pace); the product may differ from F / m in the last
/// bit, which no contract fixes.
template <Method M>
struct SlotCount;
template <>
struct SlotCount<Method::verlet> {
  static constexpr int value = 2;  // state, pair accelerations
};
template <>
struct SlotCount<Method::rk4> {
  static constexpr int value = 4;  // state, stage input, stage derivative, weighted sum
};
template <>
struct SlotCount<Method::rk45> {
  static constexpr int value = 10;  // state, stage input, new state, k1..k7
};

/// Dormand & Prince (1980), "A family of embedded Runge-Kutta formulae", J. Comput. Appl.
/// Math. 6, 19, table 2 (RK5(4)7M): the stage matrix, the 5th-order weights b (= the last
/// stage row, FSAL) and e = b - b^ (b^ the embedded 4th-order weights).
struct DormandPrince {
  static constexpr double a21 = 1.0 / 5.0;
  static constexpr double a31 = 3.0 / 40.0, a32 = 9.0 / 40.0;
  static constexpr double a41 = 44.0 / 45.0, a42 = -56.0 / 15.0, a43 = 32.0 / 9.0;
  static constexpr double a51 = 19372.0 / 6561.0, a52 = -25360.0 / 2187.0, a53 = 64448.0 / 6561.0,
                          a54 = -212.0 / 729.0;
  static constexpr double a61 = 9017.0 / 3168.0, a62 = -355.0 / 33.0, a63 = 46732.0 / 5247.0,
                          a64 = 49.0 / 176.0, a65 = -5103.0 / 18656.0;
  static constexpr double b1 = 35.0 / 384.0, b3 = 500.0 / 1113.0, b4 = 125.0 / 192.0,
                          b5 = -2187.0 / 6784.0, b6 = 11.0 / 84.0;
  static constexpr double e1 = 71.0 / 57600.0, e3 = -71.0 / 16695.0, e4 = 71.0 / 1920.0,
                          e5 = -17253.0 / 339200.0, e6 = 22.0 / 525.0, e7 = -1.0 / 40.0;
};

/// Step-size control of rk45, PETSc's TSAdaptBasic with its defaults: new h = h * clip(safety
/// * enorm^(-1/5), 0.1, 10), safety 0.9, times 0.5 again after a second rejection in a row.
struct StepControl {
  static constexpr double safety = 0.9;
  static constexpr double reject_safety = 0.5;
  static constexpr double clip_min = 0.1;
  static constexpr double clip_max = 10.0;
  static constexpr double exponent = -1.0 / 5.0;  // -1 / order, order 5 as PETSc's TSRK "5dp"
  /// A step whose end would come within 1% of the next frame is stretched onto the frame
  /// (Hairer's DOPRI5 does the same at xend) instead of leaving a sliver step behind.
  static constexpr double stretch = 1.01;
};

template <int D, class Law, Method M>
class BatchIntegrator {
 public:
  static constexpr int INV_M = SlotCount<M>::value;  // the slot of 1 / m_b
  static constexpr int slots = SlotCount<M>::value + 1;

  BatchIntegrator(const Law& law, int n, const TimeGrid& grid, const IntegratorSettings& s,
                  const BatchState& initial, const BatchFrames& frames, const BatchFrames& accel,
                  const BatchStats& stats, const StageScratch& scratch, double nan)
      : law_(law),
        n_(n),
        nt_(grid.nt),
        substeps_(grid.substeps),
        spacing_(grid.frame_spacing()),
        step_(grid.step()),
        rtol_(s.rtol),
        atol_(s.atol),
        max_steps_(s.max_steps_per_frame),
        nan_(nan),
        initial_(initial),
        frames_(frames),
        accel_(accel),
        stats_(stats),
        scratch_(scratch) {}

  KOKKOS_INLINE_FUNCTION void operator()(const int s) const {
    stats_(s).steps = 0;
    stats_(s).rejected = 0;
    stats_(s).status = 0;
    for (int b = 0; b < n_; ++b) scratch_(s, INV_M, b) = 1.0 / mass(s, b);
    if constexpr (M == Method::verlet) run_verlet(s);
    if constexpr (M == Method::rk4) run_rk4(s);
    if constexpr (M == Method::rk45) run_rk45(s);
  }

 private:
  static constexpr int W = 2 * D;  // doubles per body in a scratch slot

  KOKKOS_INLINE_FUNCTION int size() const { return n_ * W; }
  KOKKOS_INLINE_FUNCTION double charge(int s, int b) const { return initial_(s, b, 2 * D); }
  KOKKOS_INLINE_FUNCTION double mass(int s, int b) const { return initial_(s, b, 2 * D + 1); }

  KOKKOS_INLINE_FUNCTION void load_initial(int s, int slot) const {
    for (int b = 0; b < n_; ++b)
      for (int c = 0; c < W; ++c) scratch_(s, slot, b * W + c) = initial_(s, b, c);
  }

  /// Accelerations of the positions (and, for damped, velocities) in slot `in`, written to
  /// slot `out` at component b * out_stride + out_offset + k. Each pair i < j is evaluated
  /// once and applied with both signs (Newton's third law); body i's sum is complete after
  /// row i (rows j < i subtracted their pair terms from it before), so it is divided by m_i
  /// there (times 1 / m_i, see SlotCount). Damping (the seed's non-pair term) is included when
  /// `with_damping`.
  KOKKOS_INLINE_FUNCTION void accelerations(int s, int in, int out, int out_offset, int out_stride,
                                            bool with_damping) const {
    for (int b = 0; b < n_; ++b)
      for (int k = 0; k < D; ++k) scratch_(s, out, b * out_stride + out_offset + k) = 0.0;
    for (int i = 0; i < n_; ++i) {
      double xi[D], sum[D], f[D];
      for (int k = 0; k < D; ++k) {
        xi[k] = scratch_(s, in, i * W + k);
        sum[k] = 0.0;
      }
      const double qi = charge(s, i), mi = mass(s, i);
      for (int j = i + 1; j < n_; ++j) {
        double xj[D];
        for (int k = 0; k < D; ++k) xj[k] = scratch_(s, in, j * W + k);
        law_.template pair_force<D>(xi, xj, qi, charge(s, j), mi, mass(s, j), f);
        for (int k = 0; k < D; ++k) {
          sum[k] += f[k];
          scratch_(s, out, j * out_stride + out_offset + k) -= f[k];
        }
      }
      if constexpr (std::is_same_v<Law, Damped>) {
        if (with_damping) {
          double vi[D];
          for (int k = 0; k < D; ++k) vi[k] = scratch_(s, in, i * W + D + k);
          law_.template damping_force<D>(vi, i, n_, f);
          for (int k = 0; k < D; ++k) sum[k] += f[k];
        }
      }
      for (int k = 0; k < D; ++k) {
        double& a = scratch_(s, out, i * out_stride + out_offset + k);
        a = (a + sum[k]) * scratch_(s, INV_M, i);
      }
    }
  }

  /// dy/dt of the state in slot `in`, into slot `out`: (v, a(x, v)).
  KOKKOS_INLINE_FUNCTION void derivative(int s, int in, int out) const {
    accelerations(s, in, out, D, W, true);
    for (int b = 0; b < n_; ++b)
      for (int k = 0; k < D; ++k) scratch_(s, out, b * W + k) = scratch_(s, in, b * W + D + k);
  }

  /// Frame f of simulation s: state from slot `y`, accelerations from slot `a` at component
  /// b * a_stride + a_offset + k.
  KOKKOS_INLINE_FUNCTION void store_frame(int s, int f, int y, int a, int a_offset,
                                          int a_stride) const {
    for (int b = 0; b < n_; ++b) {
      for (int c = 0; c < W; ++c) frames_(s, f, b, c) = scratch_(s, y, b * W + c);
      frames_(s, f, b, W) = charge(s, b);
      frames_(s, f, b, W + 1) = mass(s, b);
      for (int k = 0; k < D; ++k) accel_(s, f, b, k) = scratch_(s, a, b * a_stride + a_offset + k);
    }
  }

  /// A failed simulation: frames first..nt-1 (state and accelerations) become NaN.
  KOKKOS_INLINE_FUNCTION void fail_from(int s, int first, int status) const {
    stats_(s).status = status;
    for (int f = first; f < nt_; ++f)
      for (int b = 0; b < n_; ++b) {
        for (int c = 0; c < W + 2; ++c) frames_(s, f, b, c) = nan_;
        for (int k = 0; k < D; ++k) accel_(s, f, b, k) = nan_;
      }
  }

  KOKKOS_INLINE_FUNCTION static bool finite(double x) {
    return std::fabs(x) <= 1.7976931348623157e308;  // false for +-inf and NaN
  }

  KOKKOS_INLINE_FUNCTION bool slot_finite(int s, int slot) const {
    bool ok = true;
    for (int c = 0; c < size(); ++c) ok = ok && finite(scratch_(s, slot, c));
    return ok;
  }

  // -------------------------------------------------------------------------------------------
  // Velocity Verlet (kick-drift-kick): one pair-force evaluation per step, reused by the next
  // step's first kick. Slot 0 = state, slot 1 = pair accelerations a_p(x) (component b d + k).
  //
  // damped: a = a_p(x) - gamma_b v with gamma_b = c_b / m_b (the seed's damping, linear in
  // v). The first half kick uses v at the start of the step (explicit), the second the end
  // velocity (implicit, solved exactly because the damping is linear and per body):
  //   v_half = v + h/2 (a_p(x) - gamma v),  x' = x + h v_half,
  //   v'     = (v_half + h/2 a_p(x')) / (1 + h/2 gamma).
  // The velocity update is then the trapezoidal rule for the damping, the map is symmetric
  // (time-reversible), hence second order like plain Verlet, and still one pair evaluation per
  // step. (Using v_half in the second kick instead would be only first order in the damping.)
  // -------------------------------------------------------------------------------------------

  /// gamma_b: the damping rate of body b (damping force per unit velocity over m_b), from the
  /// law's own damping_force applied to a unit velocity.
  KOKKOS_INLINE_FUNCTION double damping_rate(int s, int b) const {
    double unit[D], f[D];
    for (int k = 0; k < D; ++k) unit[k] = 1.0;
    law_.template damping_force<D>(unit, b, n_, f);
    return -f[0] / mass(s, b);
  }

  /// The full acceleration at a stored frame: a_p plus, for damped, -gamma v. Written into
  /// the accel view directly.
  KOKKOS_INLINE_FUNCTION void store_verlet_frame(int s, int f) const {
    store_frame(s, f, 0, 1, 0, D);
    if constexpr (std::is_same_v<Law, Damped>) {
      for (int b = 0; b < n_; ++b) {
        double v[D], fd[D];
        for (int k = 0; k < D; ++k) v[k] = scratch_(s, 0, b * W + D + k);
        law_.template damping_force<D>(v, b, n_, fd);
        for (int k = 0; k < D; ++k) accel_(s, f, b, k) += fd[k] / mass(s, b);
      }
    }
  }

  KOKKOS_INLINE_FUNCTION void run_verlet(int s) const {
    const double h = step_, half = 0.5 * step_;
    load_initial(s, 0);
    accelerations(s, 0, 1, 0, D, false);
    store_verlet_frame(s, 0);
    for (int f = 1; f < nt_; ++f) {
      for (int sub = 0; sub < substeps_; ++sub) {
        for (int b = 0; b < n_; ++b) {
          double gamma = 0.0;
          if constexpr (std::is_same_v<Law, Damped>) gamma = damping_rate(s, b);
          for (int k = 0; k < D; ++k) {
            double& v = scratch_(s, 0, b * W + D + k);
            v += half * (scratch_(s, 1, b * D + k) - gamma * v);
            scratch_(s, 0, b * W + k) += h * v;
          }
        }
        accelerations(s, 0, 1, 0, D, false);
        for (int b = 0; b < n_; ++b) {
          double gamma = 0.0;
          if constexpr (std::is_same_v<Law, Damped>) gamma = damping_rate(s, b);
          for (int k = 0; k < D; ++k) {
            double& v = scratch_(s, 0, b * W + D + k);
            if constexpr (std::is_same_v<Law, Damped>)
              v = (v + half * scratch_(s, 1, b * D + k)) / (1.0 + half * gamma);
            else
              v += half * scratch_(s, 1, b * D + k);
          }
        }
        ++stats_(s).steps;
      }
      if (!slot_finite(s, 0)) return fail_from(s, f, 2);
      store_verlet_frame(s, f);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Classical RK4. Slots: 0 = state y, 1 = stage input, 2 = stage derivative k, 3 = running
  // sum k1 + 2 k2 + 2 k3 + k4. The derivative at a frame gives that frame's accelerations and
  // is the next step's k1, so fixed steps cost 4 evaluations each, plus one at the end.
  // -------------------------------------------------------------------------------------------
  KOKKOS_INLINE_FUNCTION void run_rk4(int s) const {
    const int N = size();
    const double h = step_, half = 0.5 * step_;
    load_initial(s, 0);
    derivative(s, 0, 2);
    store_frame(s, 0, 0, 2, D, W);
    bool k1_ready = true;
    for (int f = 1; f < nt_; ++f) {
      for (int sub = 0; sub < substeps_; ++sub) {
        if (!k1_ready) derivative(s, 0, 2);
        k1_ready = false;
        for (int c = 0; c < N; ++c) {
          scratch_(s, 3, c) = scratch_(s, 2, c);
          scratch_(s, 1, c) = scratch_(s, 0, c) + half * scratch_(s, 2, c);
        }
        derivative(s, 1, 2);
        for (int c = 0; c < N; ++c) {
          scratch_(s, 3, c) += 2.0 * scratch_(s, 2, c);
          scratch_(s, 1, c) = scratch_(s, 0, c) + half * scratch_(s, 2, c);
        }
        derivative(s, 1, 2);
        for (int c = 0; c < N; ++c) {
          scratch_(s, 3, c) += 2.0 * scratch_(s, 2, c);
          scratch_(s, 1, c) = scratch_(s, 0, c) + h * scratch_(s, 2, c);
        }
        derivative(s, 1, 2);
        for (int c = 0; c < N; ++c)
          scratch_(s, 0, c) += (h / 6.0) * (scratch_(s, 3, c) + scratch_(s, 2, c));
        ++stats_(s).steps;
      }
      if (!slot_finite(s, 0)) return fail_from(s, f, 2);
      derivative(s, 0, 2);
      k1_ready = true;
      store_frame(s, f, 0, 2, D, W);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Dormand-Prince 5(4) with per-simulation step control (see integrators.hpp for the norm and
  // StepControl for the controller). Slots: y, stage input, new state, k1..k7 (slot indices
  // rotate: y <-> new state on acceptance, k1 <-> k7 for FSAL).
  // -------------------------------------------------------------------------------------------
  static constexpr int Y0 = 0, STAGE = 1, YNEW = 2, K0 = 3;

  /// Stage input y + h sum_j a_j k_j over the first `count` stages.
  KOKKOS_INLINE_FUNCTION void stage_input(int s, int y, const int* k, double h, const double* a,
                                          int count) const {
    for (int c = 0; c < size(); ++c) {
      double sum = 0.0;
      for (int j = 0; j < count; ++j) sum += a[j] * scratch_(s, k[j], c);
      scratch_(s, STAGE, c) = scratch_(s, y, c) + h * sum;
    }
  }

  /// Weighted RMS norm of v / (atol + rtol |y|) over slots (v_slot, y_slot), or of the
  /// difference of two slots divided by h when `diff_slot` >= 0 (the pieces of Hairer's
  /// starting-step heuristic).
  KOKKOS_INLINE_FUNCTION double scaled_rms(int s, int v_slot, int y_slot, int diff_slot,
                                           double div) const {
    double sum = 0.0;
    int count = 0;
    for (int c = 0; c < size(); ++c) {
      double v = scratch_(s, v_slot, c);
      if (diff_slot >= 0) v = (v - scratch_(s, diff_slot, c)) / div;
      const double scale = atol_ + rtol_ * std::fabs(scratch_(s, y_slot, c));
      if (scale == 0.0) continue;  // atol = 0 and y_c = 0: no scale (as in the error norm)
      sum += (v / scale) * (v / scale);
      ++count;
    }
    return count > 0 ? std::sqrt(sum / static_cast<double>(count)) : 0.0;
  }

  /// The starting step of Hairer, Norsett & Wanner, "Solving ODEs I", II.4 (the form with RMS
  /// norms used by SciPy's solve_ivp): h0 = 0.01 |y0| / |f0|, one explicit Euler probe for
  /// the second derivative, h1 = (0.01 / max(|f0|, |f'|))^(1/5); h = min(100 h0, h1).
  /// Uses k1 = f(y0) (slot k1) and the stage slots as scratch. Two evaluations in all.
  KOKKOS_INLINE_FUNCTION double starting_step(int s, int y, int k1, int probe) const {
    const double d0 = scaled_rms(s, y, y, -1, 1.0);
    const double d1 = scaled_rms(s, k1, y, -1, 1.0);
    double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    if (h0 > spacing_) h0 = spacing_;
    for (int c = 0; c < size(); ++c)
      scratch_(s, STAGE, c) = scratch_(s, y, c) + h0 * scratch_(s, k1, c);
    derivative(s, STAGE, probe);
    const double d2 = scaled_rms(s, probe, y, k1, h0);
    const double dmax = d1 > d2 ? d1 : d2;
    const double h1 =
        dmax <= 1e-15 ? (h0 * 1e-3 > 1e-6 ? h0 * 1e-3 : 1e-6) : std::pow(0.01 / dmax, 1.0 / 5.0);
    return 100.0 * h0 < h1 ? 100.0 * h0 : h1;
  }

  KOKKOS_INLINE_FUNCTION void run_rk45(int s) const {
    using DP = DormandPrince;
    const int N = size();
    int y = Y0, ynew = YNEW;
    int k[7];
    for (int j = 0; j < 7; ++j) k[j] = K0 + j;

    load_initial(s, y);
    derivative(s, y, k[0]);
    store_frame(s, 0, y, k[0], D, W);
    if (!slot_finite(s, k[0])) return fail_from(s, 1, 2);
    double h = starting_step(s, y, k[0], k[1]);
    double t = 0.0;
    bool last_rejected = false;

    for (int f = 1; f < nt_; ++f) {
      const double t_frame = static_cast<double>(f) * spacing_;
      int attempts = 0;
      while (t < t_frame) {
        if (attempts == max_steps_) return fail_from(s, f, 1);
        ++attempts;
        const bool clamped = t + StepControl::stretch * h >= t_frame;
        const double h_try = clamped ? t_frame - t : h;

        const int k12[2] = {k[0], k[1]}, k123[3] = {k[0], k[1], k[2]},
                  k1234[4] = {k[0], k[1], k[2], k[3]}, k12345[5] = {k[0], k[1], k[2], k[3], k[4]};
        const double a2[1] = {DP::a21}, a3[2] = {DP::a31, DP::a32},
                     a4[3] = {DP::a41, DP::a42, DP::a43},
                     a5[4] = {DP::a51, DP::a52, DP::a53, DP::a54},
                     a6[5] = {DP::a61, DP::a62, DP::a63, DP::a64, DP::a65};
        stage_input(s, y, k12, h_try, a2, 1);
        derivative(s, STAGE, k[1]);
        stage_input(s, y, k12, h_try, a3, 2);
        derivative(s, STAGE, k[2]);
        stage_input(s, y, k123, h_try, a4, 3);
        derivative(s, STAGE, k[3]);
        stage_input(s, y, k1234, h_try, a5, 4);
        derivative(s, STAGE, k[4]);
        stage_input(s, y, k12345, h_try, a6, 5);
        derivative(s, STAGE, k[5]);
        for (int c = 0; c < N; ++c)
          scratch_(s, ynew, c) =
              scratch_(s, y, c) +
              h_try * (DP::b1 * scratch_(s, k[0], c) + DP::b3 * scratch_(s, k[2], c) +
                       DP::b4 * scratch_(s, k[3], c) + DP::b5 * scratch_(s, k[4], c) +
                       DP::b6 * scratch_(s, k[5], c));
        derivative(s, ynew, k[6]);

        // PETSc's weighted RMS norm of (5th-order - embedded 4th-order solution). Like PETSc
        // (TSErrorWeightedNorm), components whose tolerance is 0 (atol = 0 and both solutions
        // 0) are left out of the sum and of the count.
        double sum = 0.0;
        int count = 0;
        for (int c = 0; c < N; ++c) {
          const double err =
              h_try * (DP::e1 * scratch_(s, k[0], c) + DP::e3 * scratch_(s, k[2], c) +
                       DP::e4 * scratch_(s, k[3], c) + DP::e5 * scratch_(s, k[4], c) +
                       DP::e6 * scratch_(s, k[5], c) + DP::e7 * scratch_(s, k[6], c));
          const double high = scratch_(s, ynew, c), low = high - err;
          const double scale =
              atol_ + rtol_ * (std::fabs(high) > std::fabs(low) ? std::fabs(high) : std::fabs(low));
          if (scale == 0.0) continue;  // (a NaN scale is kept: it must fail the step)
          sum += (err / scale) * (err / scale);
          ++count;
        }
        const double enorm = count > 0 ? std::sqrt(sum / static_cast<double>(count)) : 0.0;
        if (!finite(enorm)) return fail_from(s, f, 2);

        const bool accept = enorm <= 1.0;
        double safety = StepControl::safety;
        if (!accept && last_rejected) safety *= StepControl::reject_safety;
        double factor =
            enorm > 0.0 ? safety * std::pow(enorm, StepControl::exponent) : StepControl::clip_max;
        factor = factor < StepControl::clip_min
                     ? StepControl::clip_min
                     : (factor > StepControl::clip_max ? StepControl::clip_max : factor);
        const double h_next = h_try * factor;
        if (accept) {
          const int swap_y = y;
          y = ynew;
          ynew = swap_y;
          const int swap_k = k[0];
          k[0] = k[6];
          k[6] = swap_k;
          t = clamped ? t_frame : t + h_try;
          // A step shortened to land on the frame does not shrink the next one: the step
          // the controller wanted before the cut is remembered (as Boost.Odeint's
          // integrate_times does).
          h = clamped && h > h_next ? h : h_next;
          // No step can be longer than a frame interval; the cap keeps a force-free system's
          // step (x10 per step) from overflowing without changing any step taken.
          if (h > spacing_) h = spacing_;
          last_rejected = false;
          ++stats_(s).steps;
        } else {
          h = h_next;
          last_rejected = true;
          ++stats_(s).rejected;
        }
      }
      store_frame(s, f, y, k[0], D, W);
    }
  }

  Law law_;
  int n_, nt_, substeps_;
  double spacing_, step_, rtol_, atol_;
  int max_steps_;
  double nan_;
  BatchState initial_;
  BatchFrames frames_, accel_;
  BatchStats stats_;
  StageScratch scratch_;
};

}  // namespace phyflow::nbody::detail
