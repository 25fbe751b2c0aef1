// The Kokkos kernel behind integrate_batch() (velocity Verlet, RK4, adaptive Dormand-Prince
// 5(4)): one thread integrates a pack of L simulations, one per SIMD lane (lanes.hpp), from
// the initial state through all stored frames. L is the SIMD width on host back ends and 1 on
// GPUs (one thread per simulation, the work space laid out for coalesced access). Lane l of a
// pack does exactly the arithmetic a lone simulation would, so a simulation's result does not
// depend on its lane, its pack or its batch: bit for bit. Under rk45 every lane keeps its own
// step size and time; a pack steps until all its lanes have reached the frame, a lane that
// got there first idles (its trial steps are computed and thrown away).
// Private to src/nbody: the public contract is include/phyflow/nbody/integrators.hpp.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>
#include <type_traits>

#include "lanes.hpp"
#include "phyflow/core/portable_math.hpp"
#include "phyflow/nbody/force_laws.hpp"
#include "phyflow/nbody/integrators.hpp"

namespace phyflow::nbody::detail {

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

/// The continuous extension of Dormand-Prince 5(4) (dense output of order 4): within an
/// accepted step from t to t + h, y(t + theta h) = y + h sum_i b_i(theta) k_i with
/// b_i(theta) = sum_j P[i][j] theta^(j+1), the interpolant of Hairer, Norsett & Wanner,
/// "Solving ODEs I", II.6 (DOPRI5's CONTD5), in the form of SciPy's RK45 (its matrix P, rows
/// i = 1..7; b_2 = 0). Checked exactly (rational arithmetic) when written: b_i(1) are the
/// weights b above, b_7(1) = 0, and all eight order conditions up to order 4 hold for every
/// theta.
struct DormandPrinceDense {
  /// b_i(theta) for i = 1..7 (Horner's scheme). Coefficients written out rather than held in
  /// a static array, which device code could not index.
  KOKKOS_INLINE_FUNCTION static double weight(int i, double theta) {
    double p1 = 0.0, p2 = 0.0, p3 = 0.0, p4 = 0.0;
    switch (i) {
      case 1:
        p1 = 1.0, p2 = -8048581381.0 / 2820520608.0, p3 = 8663915743.0 / 2820520608.0,
        p4 = -12715105075.0 / 11282082432.0;
        break;
      case 3:
        p2 = 131558114200.0 / 32700410799.0, p3 = -68118460800.0 / 10900136933.0,
        p4 = 87487479700.0 / 32700410799.0;
        break;
      case 4:
        p2 = -1754552775.0 / 470086768.0, p3 = 14199869525.0 / 1410260304.0,
        p4 = -10690763975.0 / 1880347072.0;
        break;
      case 5:
        p2 = 127303824393.0 / 49829197408.0, p3 = -318862633887.0 / 49829197408.0,
        p4 = 701980252875.0 / 199316789632.0;
        break;
      case 6:
        p2 = -282668133.0 / 205662961.0, p3 = 2019193451.0 / 616988883.0,
        p4 = -1453857185.0 / 822651844.0;
        break;
      case 7:
        p2 = 40617522.0 / 29380423.0, p3 = -110615467.0 / 29380423.0,
        p4 = 69997945.0 / 29380423.0;
        break;
      default:  // b_2 = 0
        break;
    }
    return theta * (p1 + theta * (p2 + theta * (p3 + theta * p4)));
  }
};

/// Step-size control of rk45, PETSc's TSAdaptBasic with its defaults: new h = h * clip(safety
/// * enorm^(-1/5), 0.1, 10), safety 0.9, times 0.5 again after a second rejection in a row.
struct StepControl {
  static constexpr double safety = 0.9;
  static constexpr double reject_safety = 0.5;
  static constexpr double clip_min = 0.1;
  static constexpr double clip_max = 10.0;
  static constexpr double exponent = -1.0 / 5.0;  // -1 / order, order 5 as PETSc's TSRK "5dp"
  /// A step whose end would come within 1% of the last frame is stretched onto it (Hairer's
  /// DOPRI5 does the same at xend) instead of leaving a sliver step behind.
  static constexpr double stretch = 1.01;
};

template <int D, class Law, Method M, int L>
class LaneIntegrator {

 public:
  using T = Pack<L>;
  /// Work slots: Verlet = state, pair accelerations; RK4 = state, stage input, stage
  /// derivative, weighted sum; rk45 = state, stage input, new state, k1..k7, derivative at a
  /// frame. Then three constant slots: 1/m, q and m of every body.
  static constexpr int work_slots = M == Method::verlet ? 2 : (M == Method::rk4 ? 4 : 11);
  static constexpr int INV_M = work_slots, CHARGE = work_slots + 1, MASS = work_slots + 2;
  static constexpr int slots = work_slots + 3;
  static constexpr int lanes = L;
  /// Row p is pack p's work: `slots` state-sized vectors of N = 2 n d packs each in the
  /// body-major layout of the seed without q and m (component b * 2d + k is x_k of body b,
  /// b * 2d + d + k is v_k), L doubles per pack. Each thread touches only its own row. Plain
  /// doubles, so no code outside the kernel handles vector types.
  using Scratch = Kokkos::View<double**>;

  static int packs(int batch) { return (batch + L - 1) / L; }
  static int row_length(int n) { return slots * n * 2 * D * L; }

  LaneIntegrator(const Law& law, int n, const TimeGrid& grid, const IntegratorSettings& settings,
                 const BatchState& initial, const BatchFrames& frames, const BatchFrames& accel,
                 const BatchStats& stats, const Scratch& scratch, double nan)
      : law_(law),
        n_(n),
        nt_(grid.nt),
        substeps_(grid.substeps),
        step_(grid.step()),
        spacing_(grid.frame_spacing()),
        rtol_(settings.rtol),
        atol_(settings.atol),
        max_steps_(settings.max_steps_per_frame),
        nan_(nan),
        initial_(initial),
        frames_(frames),
        accel_(accel),
        stats_(stats),
        scratch_(scratch) {}

  KOKKOS_INLINE_FUNCTION void operator()(const int p) const { run_pack(p); }

  /// Integrates pack p (the body of operator(), which lane_isa.cpp compiles for wider
  /// instruction sets).
  KOKKOS_INLINE_FUNCTION void run_pack(const int p) const {
    Lanes ln;
    const int batch = static_cast<int>(initial_.extent(0));
    for (int l = 0; l < L; ++l) {
      const int s = p * L + l;
      ln.valid[l] = s < batch;
      // A pack past the end of the batch repeats the last simulation in its spare lanes (so
      // every lane computes on sane numbers); nothing of a spare lane is stored.
      ln.sim[l] = ln.valid[l] ? s : batch - 1;
      ln.alive[l] = ln.valid[l];
      ln.steps[l] = 0;
      ln.rejected[l] = 0;
      ln.status[l] = 0;
    }
    load(p, ln);
    if constexpr (M == Method::verlet) run_verlet(p, ln);
    if constexpr (M == Method::rk4) run_rk4(p, ln);
    if constexpr (M == Method::rk45) run_rk45(p, ln);
    for (int l = 0; l < L; ++l) {
      if (!ln.valid[l]) continue;
      stats_(ln.sim[l]).steps = ln.steps[l];
      stats_(ln.sim[l]).rejected = ln.rejected[l];
      stats_(ln.sim[l]).status = ln.status[l];
    }
  }

 private:
  static constexpr int W = 2 * D;  // packs per body in a scratch slot

  /// The simulations of one pack: which ones (sim), which are real (valid) and still
  /// integrating (alive: not failed), and their step counts and status.
  struct Lanes {
    int sim[L];
    bool valid[L];
    bool alive[L];
    std::int64_t steps[L];
    std::int64_t rejected[L];
    int status[L];
  };

  KOKKOS_INLINE_FUNCTION int size() const { return n_ * W; }
  KOKKOS_INLINE_FUNCTION T& at(int p, int slot, int c) const {
    if constexpr (L == 1) {
      return scratch_(p, slot * size() + c);  // any layout (LayoutLeft on GPUs: coalesced)
    } else {
      // Host LayoutRight: a row is contiguous and starts 8 L-byte aligned (checked at launch).
      return reinterpret_cast<T*>(&scratch_(p, 0))[slot * size() + c];
    }
  }

  KOKKOS_INLINE_FUNCTION void load(int p, const Lanes& ln) const {
    for (int b = 0; b < n_; ++b) {
      for (int c = 0; c < W; ++c) {
        T v;
        for (int l = 0; l < L; ++l) lanes::lane(v, l) = initial_(ln.sim[l], b, c);
        at(p, 0, b * W + c) = v;
      }
      T q, m;
      for (int l = 0; l < L; ++l) {
        lanes::lane(q, l) = initial_(ln.sim[l], b, W);
        lanes::lane(m, l) = initial_(ln.sim[l], b, W + 1);
      }
      at(p, CHARGE, b) = q;
      at(p, MASS, b) = m;
      // a = F * (1/m): n divisions per force evaluation saved (10 % of an n = 4 RK4 step);
      // the product may differ from F / m in the last bit, which no contract fixes.
      at(p, INV_M, b) = 1.0 / m;
    }
  }

  /// Accelerations of the positions (and, for damped, velocities) in slot `in`, written to
  /// slot `out` at component b * out_stride + out_offset + k. Each pair i < j is evaluated
  /// once and applied with both signs (Newton's third law); body i's sum is complete after
  /// row i (rows j < i subtracted their pair terms from it before), so it is scaled by 1 / m_i
  /// there. Damping (the seed's non-pair term) is included when `with_damping`.
  KOKKOS_INLINE_FUNCTION void accelerations(int p, int in, int out, int out_offset, int out_stride,
                                            bool with_damping) const {
    for (int b = 0; b < n_; ++b)
      for (int k = 0; k < D; ++k) at(p, out, b * out_stride + out_offset + k) = T{};
    for (int i = 0; i < n_; ++i) {
      T xi[D], sum[D], f[D];
      for (int k = 0; k < D; ++k) {
        xi[k] = at(p, in, i * W + k);
        sum[k] = T{};
      }
      const T qi = at(p, CHARGE, i), mi = at(p, MASS, i);
      for (int j = i + 1; j < n_; ++j) {
        T xj[D];
        for (int k = 0; k < D; ++k) xj[k] = at(p, in, j * W + k);
        law_.template pair_force<D>(xi, xj, qi, at(p, CHARGE, j), mi, at(p, MASS, j), f);
        for (int k = 0; k < D; ++k) {
          sum[k] += f[k];
          at(p, out, j * out_stride + out_offset + k) -= f[k];
        }
      }
      if constexpr (std::is_same_v<Law, Damped>) {
        if (with_damping) {
          T vi[D];
          for (int k = 0; k < D; ++k) vi[k] = at(p, in, i * W + D + k);
          law_.template damping_force<D>(vi, i, n_, f);
          for (int k = 0; k < D; ++k) sum[k] += f[k];
        }
      }
      for (int k = 0; k < D; ++k) {
        T& a = at(p, out, i * out_stride + out_offset + k);
        a = (a + sum[k]) * at(p, INV_M, i);
      }
    }
  }

  /// dy/dt of the state in slot `in`, into slot `out`: (v, a(x, v)).
  KOKKOS_INLINE_FUNCTION void derivative(int p, int in, int out) const {
    accelerations(p, in, out, D, W, true);
    for (int b = 0; b < n_; ++b)
      for (int k = 0; k < D; ++k) at(p, out, b * W + k) = at(p, in, b * W + D + k);
  }

  /// Frame f of the live simulations of pack p: state from slot `y`, accelerations from slot
  /// `a` at component b * a_stride + a_offset + k.
  KOKKOS_INLINE_FUNCTION void store_frame(int p, const Lanes& ln, int f, int y, int a,
                                          int a_offset, int a_stride) const {
    int frame[L];
    for (int l = 0; l < L; ++l) frame[l] = f;
    store_frames(p, ln, frame, y, a, a_offset, a_stride);
  }

  /// Frame frame[l] of each live lane l of pack p (none where frame[l] < 0), as store_frame.
  KOKKOS_INLINE_FUNCTION void store_frames(int p, const Lanes& ln, const int* frame, int y, int a,
                                           int a_offset, int a_stride) const {
    for (int l = 0; l < L; ++l) {
      if (!ln.alive[l] || frame[l] < 0) continue;
      const int s = ln.sim[l], f = frame[l];
      for (int b = 0; b < n_; ++b) {
        for (int c = 0; c < W; ++c) frames_(s, f, b, c) = lanes::lane(at(p, y, b * W + c), l);
        frames_(s, f, b, W) = initial_(s, b, W);
        frames_(s, f, b, W + 1) = initial_(s, b, W + 1);
        for (int k = 0; k < D; ++k)
          accel_(s, f, b, k) = lanes::lane(at(p, a, b * a_stride + a_offset + k), l);
      }
    }
  }

  KOKKOS_INLINE_FUNCTION static bool finite(double x) {
    return std::fabs(x) <= 1.7976931348623157e308;  // false for +-inf and NaN
  }

  /// After a frame's steps: a live simulation whose state in slot `y` is no longer finite
  /// fails (status 2) and its frames from f on become NaN; the other lanes go on.
  KOKKOS_INLINE_FUNCTION void check_finite(int p, Lanes& ln, int f, int y) const {
    bool ok[L];
    for (int l = 0; l < L; ++l) ok[l] = true;
    for (int c = 0; c < size(); ++c) {
      const T v = at(p, y, c);
      for (int l = 0; l < L; ++l) ok[l] = ok[l] && finite(lanes::lane(v, l));
    }
    for (int l = 0; l < L; ++l)
      if (ln.alive[l] && !ok[l]) fail_lane(ln, l, f, 2);
  }

  /// Lane l's simulation fails with `status`: its frames from `first` on become NaN and the
  /// lane stops counting (its arithmetic goes on, unused).
  KOKKOS_INLINE_FUNCTION void fail_lane(Lanes& ln, int l, int first, int status) const {
    ln.alive[l] = false;
    ln.status[l] = status;
    const int s = ln.sim[l];
    for (int g = first; g < nt_; ++g)
      for (int b = 0; b < n_; ++b) {
        for (int c = 0; c < W + 2; ++c) frames_(s, g, b, c) = nan_;
        for (int k = 0; k < D; ++k) accel_(s, g, b, k) = nan_;
      }
  }

  KOKKOS_INLINE_FUNCTION static void count_step(Lanes& ln) {
    for (int l = 0; l < L; ++l)
      if (ln.alive[l]) ++ln.steps[l];
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
  KOKKOS_INLINE_FUNCTION T damping_rate(int p, int b) const {
    T unit[D], f[D];
    for (int k = 0; k < D; ++k) unit[k] = T{} + 1.0;
    law_.template damping_force<D>(unit, b, n_, f);
    return -f[0] / at(p, MASS, b);
  }

  /// The full acceleration at a stored frame: a_p plus, for damped, -gamma v.
  KOKKOS_INLINE_FUNCTION void store_verlet_frame(int p, const Lanes& ln, int f) const {
    store_frame(p, ln, f, 0, 1, 0, D);
    if constexpr (std::is_same_v<Law, Damped>) {
      for (int b = 0; b < n_; ++b) {
        T v[D], fd[D];
        for (int k = 0; k < D; ++k) v[k] = at(p, 0, b * W + D + k);
        law_.template damping_force<D>(v, b, n_, fd);
        for (int k = 0; k < D; ++k) {
          const T da = fd[k] / at(p, MASS, b);
          for (int l = 0; l < L; ++l)
            if (ln.alive[l]) accel_(ln.sim[l], f, b, k) += lanes::lane(da, l);
        }
      }
    }
  }

  KOKKOS_INLINE_FUNCTION void run_verlet(int p, Lanes& ln) const {
    const double h = step_, half = 0.5 * step_;
    accelerations(p, 0, 1, 0, D, false);
    store_verlet_frame(p, ln, 0);
    for (int f = 1; f < nt_; ++f) {
      for (int sub = 0; sub < substeps_; ++sub) {
        for (int b = 0; b < n_; ++b) {
          T gamma{};
          if constexpr (std::is_same_v<Law, Damped>) gamma = damping_rate(p, b);
          for (int k = 0; k < D; ++k) {
            T& v = at(p, 0, b * W + D + k);
            v += half * (at(p, 1, b * D + k) - gamma * v);
            at(p, 0, b * W + k) += h * v;
          }
        }
        accelerations(p, 0, 1, 0, D, false);
        for (int b = 0; b < n_; ++b) {
          T gamma{};
          if constexpr (std::is_same_v<Law, Damped>) gamma = damping_rate(p, b);
          for (int k = 0; k < D; ++k) {
            T& v = at(p, 0, b * W + D + k);
            if constexpr (std::is_same_v<Law, Damped>)
              v = (v + half * at(p, 1, b * D + k)) / (1.0 + half * gamma);
            else
              v += half * at(p, 1, b * D + k);
          }
        }
        count_step(ln);
      }
      check_finite(p, ln, f, 0);
      store_verlet_frame(p, ln, f);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Classical RK4. Slots: 0 = state y, 1 = stage input, 2 = stage derivative k, 3 = running
  // sum k1 + 2 k2 + 2 k3 + k4. The derivative at a frame gives that frame's accelerations and
  // is the next step's k1, so fixed steps cost 4 evaluations each, plus one at the end.
  // -------------------------------------------------------------------------------------------
  KOKKOS_INLINE_FUNCTION void run_rk4(int p, Lanes& ln) const {
    const int N = size();
    const double h = step_, half = 0.5 * step_;
    derivative(p, 0, 2);
    store_frame(p, ln, 0, 0, 2, D, W);
    bool k1_ready = true;
    for (int f = 1; f < nt_; ++f) {
      for (int sub = 0; sub < substeps_; ++sub) {
        if (!k1_ready) derivative(p, 0, 2);
        k1_ready = false;
        for (int c = 0; c < N; ++c) {
          at(p, 3, c) = at(p, 2, c);
          at(p, 1, c) = at(p, 0, c) + half * at(p, 2, c);
        }
        derivative(p, 1, 2);
        for (int c = 0; c < N; ++c) {
          at(p, 3, c) += 2.0 * at(p, 2, c);
          at(p, 1, c) = at(p, 0, c) + half * at(p, 2, c);
        }
        derivative(p, 1, 2);
        for (int c = 0; c < N; ++c) {
          at(p, 3, c) += 2.0 * at(p, 2, c);
          at(p, 1, c) = at(p, 0, c) + h * at(p, 2, c);
        }
        derivative(p, 1, 2);
        for (int c = 0; c < N; ++c) at(p, 0, c) += (h / 6.0) * (at(p, 3, c) + at(p, 2, c));
        count_step(ln);
      }
      check_finite(p, ln, f, 0);
      derivative(p, 0, 2);
      k1_ready = true;
      store_frame(p, ln, f, 0, 2, D, W);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Dormand-Prince 5(4) with step control per simulation, i.e. per lane (see integrators.hpp
  // for the norm and StepControl for the controller). Slots: y, stage input, new state,
  // k1..k7, derivative at a frame. An accepted lane copies new state -> y and k7 -> k1
  // (FSAL); the others keep theirs. Steps are the ones the tolerance asks for, not cut at
  // the frames: the frames an accepted step passes are filled from the dense output
  // (DormandPrinceDense), as SciPy's solve_ivp(t_eval) and DOPRI5 do; only the last frame is
  // landed on exactly.
  // -------------------------------------------------------------------------------------------
  static constexpr int Y0 = 0, STAGE = 1, YNEW = 2, K0 = 3, FRAME_DY = 10;

  /// Stage input y + h sum_j a_j k_j over the first `count` stages (h per lane).
  KOKKOS_INLINE_FUNCTION void stage_input(int p, const T& h, const double* a, int count) const {
    for (int c = 0; c < size(); ++c) {
      T sum{};
      for (int j = 0; j < count; ++j) sum += a[j] * at(p, K0 + j, c);
      at(p, STAGE, c) = at(p, Y0, c) + h * sum;
    }
  }

  KOKKOS_INLINE_FUNCTION static T abs(const T& x) {
    T r;
    for (int l = 0; l < L; ++l) lanes::lane(r, l) = std::fabs(lanes::lane(x, l));
    return r;
  }

  /// Per lane, the weighted RMS norm of v / (atol + rtol |y|) over slots (v_slot, y_slot), or
  /// of the difference of two slots divided by `div` when `diff_slot` >= 0 (the pieces of
  /// Hairer's starting-step heuristic). Components with a zero scale are left out.
  KOKKOS_INLINE_FUNCTION void scaled_rms(int p, int v_slot, int y_slot, int diff_slot,
                                         const T& div, double* out) const {
    T sum{}, count{};
    for (int c = 0; c < size(); ++c) {
      T v = at(p, v_slot, c);
      if (diff_slot >= 0) v = (v - at(p, diff_slot, c)) / div;
      const T scale = atol_ + rtol_ * abs(at(p, y_slot, c));
      sum += lanes::select(scale == 0.0, T{}, (v / scale) * (v / scale));
      count += lanes::select(scale == 0.0, T{}, T{} + 1.0);
    }
    for (int l = 0; l < L; ++l) {
      const double n = lanes::lane(count, l);
      out[l] = n > 0.0 ? std::sqrt(lanes::lane(sum, l) / n) : 0.0;
    }
  }

  /// The starting step of Hairer, Norsett & Wanner, "Solving ODEs I", II.4 (the form with RMS
  /// norms used by SciPy's solve_ivp): h0 = 0.01 |y0| / |f0|, one explicit Euler probe for
  /// the second derivative, h1 = (0.01 / max(|f0|, |f'|))^(1/5); h = min(100 h0, h1).
  /// Uses k1 = f(y0) and slot k2 as the probe. Two evaluations in all.
  KOKKOS_INLINE_FUNCTION void starting_step(int p, double* h) const {
    double d0[L], d1[L], d2[L];
    scaled_rms(p, Y0, Y0, -1, T{} + 1.0, d0);
    scaled_rms(p, K0, Y0, -1, T{} + 1.0, d1);
    T h0;
    for (int l = 0; l < L; ++l) {
      double x = (d0[l] < 1e-5 || d1[l] < 1e-5) ? 1e-6 : 0.01 * d0[l] / d1[l];
      const double span = static_cast<double>(nt_ - 1) * spacing_;
      if (x > span) x = span;  // not the frame spacing: frames do not bound steps
      lanes::lane(h0, l) = x;
    }
    for (int c = 0; c < size(); ++c) at(p, STAGE, c) = at(p, Y0, c) + h0 * at(p, K0, c);
    derivative(p, STAGE, K0 + 1);
    scaled_rms(p, K0 + 1, Y0, K0, h0, d2);
    for (int l = 0; l < L; ++l) {
      const double x0 = lanes::lane(h0, l);
      const double dmax = d1[l] > d2[l] ? d1[l] : d2[l];
      const double h1 = dmax <= 1e-15 ? (x0 * 1e-3 > 1e-6 ? x0 * 1e-3 : 1e-6)
                                      : pmath::pow(0.01 / dmax, 1.0 / 5.0);
      h[l] = 100.0 * x0 < h1 ? 100.0 * x0 : h1;
    }
  }

  /// The frames an accepted step from t_old[l] to t_new[l] passes, per lane (frame next[l]
  /// on, while its time <= t_new[l]), from the dense output of the step just taken (slots y,
  /// k1..k7 still those of the step; h the step): one derivative evaluation per frame for the
  /// frame's accelerations. A frame exactly at the step's end takes the new state itself.
  KOKKOS_INLINE_FUNCTION void dense_frames(int p, Lanes& ln, const bool* accepted,
                                           const double* t_old, const double* t_new, const T& h,
                                           int* next, int* attempts) const {
    using DD = DormandPrinceDense;
    const int N = size();
    while (true) {
      int frame[L];
      double theta[L];
      bool any = false;
      for (int l = 0; l < L; ++l) {
        frame[l] = -1;
        theta[l] = 1.0;
        if (accepted[l] && ln.alive[l] && next[l] < nt_) {
          const double t_frame = static_cast<double>(next[l]) * spacing_;
          if (t_frame <= t_new[l]) {
            frame[l] = next[l];
            any = true;
            theta[l] = (t_frame - t_old[l]) / lanes::lane(h, l);
          }
        }
      }
      if (!any) return;  // most steps of densely stored runs pass no frame: nothing to do
      T w1, w3, w4, w5, w6, w7, at_end{};
      for (int l = 0; l < L; ++l) {
        lanes::lane(at_end, l) =
            frame[l] >= 0 && static_cast<double>(frame[l]) * spacing_ == t_new[l] ? 1.0 : 0.0;
        lanes::lane(w1, l) = DD::weight(1, theta[l]);
        lanes::lane(w3, l) = DD::weight(3, theta[l]);
        lanes::lane(w4, l) = DD::weight(4, theta[l]);
        lanes::lane(w5, l) = DD::weight(5, theta[l]);
        lanes::lane(w6, l) = DD::weight(6, theta[l]);
        lanes::lane(w7, l) = DD::weight(7, theta[l]);
      }
      for (int c = 0; c < N; ++c) {
        const T y = at(p, Y0, c) + h * (w1 * at(p, K0, c) + w3 * at(p, K0 + 2, c) +
                                        w4 * at(p, K0 + 3, c) + w5 * at(p, K0 + 4, c) +
                                        w6 * at(p, K0 + 5, c) + w7 * at(p, K0 + 6, c));
        at(p, STAGE, c) = lanes::select(at_end > 0.0, at(p, YNEW, c), y);
      }
      derivative(p, STAGE, FRAME_DY);
      store_frames(p, ln, frame, STAGE, FRAME_DY, D, W);
      for (int l = 0; l < L; ++l) {
        if (frame[l] < 0) continue;
        ++next[l];
        attempts[l] = 0;  // max_steps_per_frame counts the steps between two frames
      }
    }
  }

  KOKKOS_INLINE_FUNCTION void run_rk45(int p, Lanes& ln) const {
    using DP = DormandPrince;
    const int N = size();
    derivative(p, Y0, K0);
    store_frame(p, ln, 0, Y0, K0, D, W);
    check_finite(p, ln, 1, K0);
    const double t_end = static_cast<double>(nt_ - 1) * spacing_;
    double h[L], t[L];
    bool last_rejected[L];
    int next[L], attempts[L];  // the first frame not yet stored; steps since the last frame
    starting_step(p, h);
    for (int l = 0; l < L; ++l) {
      t[l] = 0.0;
      last_rejected[l] = false;
      next[l] = 1;
      attempts[l] = 0;
    }
    const double a2[1] = {DP::a21}, a3[2] = {DP::a31, DP::a32},
                 a4[3] = {DP::a41, DP::a42, DP::a43}, a5[4] = {DP::a51, DP::a52, DP::a53, DP::a54},
                 a6[5] = {DP::a61, DP::a62, DP::a63, DP::a64, DP::a65};

    while (true) {
      bool active[L], clamped[L], any = false;
      T h_try;
      for (int l = 0; l < L; ++l) {
        active[l] = ln.alive[l] && t[l] < t_end;
        if (active[l] && attempts[l] == max_steps_) {
          fail_lane(ln, l, next[l], 1);
          active[l] = false;
        }
        if (active[l]) ++attempts[l];
        any = any || active[l];
        clamped[l] = t[l] + StepControl::stretch * h[l] >= t_end;
        lanes::lane(h_try, l) = clamped[l] ? t_end - t[l] : h[l];
      }
      if (!any) break;

      stage_input(p, h_try, a2, 1);
      derivative(p, STAGE, K0 + 1);
      stage_input(p, h_try, a3, 2);
      derivative(p, STAGE, K0 + 2);
      stage_input(p, h_try, a4, 3);
      derivative(p, STAGE, K0 + 3);
      stage_input(p, h_try, a5, 4);
      derivative(p, STAGE, K0 + 4);
      stage_input(p, h_try, a6, 5);
      derivative(p, STAGE, K0 + 5);
      for (int c = 0; c < N; ++c)
        at(p, YNEW, c) = at(p, Y0, c) + h_try * (DP::b1 * at(p, K0, c) + DP::b3 * at(p, K0 + 2, c) +
                                                 DP::b4 * at(p, K0 + 3, c) +
                                                 DP::b5 * at(p, K0 + 4, c) +
                                                 DP::b6 * at(p, K0 + 5, c));
      derivative(p, YNEW, K0 + 6);

      // PETSc's weighted RMS norm of (5th-order - embedded 4th-order solution). Like PETSc
      // (TSErrorWeightedNorm), components whose tolerance is 0 (atol = 0 and both solutions
      // 0) are left out of the sum and of the count; a NaN scale is kept: it must fail.
      T sum{}, count{};
      for (int c = 0; c < N; ++c) {
        const T err = h_try * (DP::e1 * at(p, K0, c) + DP::e3 * at(p, K0 + 2, c) +
                               DP::e4 * at(p, K0 + 3, c) + DP::e5 * at(p, K0 + 4, c) +
                               DP::e6 * at(p, K0 + 5, c) + DP::e7 * at(p, K0 + 6, c));
        const T high = at(p, YNEW, c), low = high - err;
        const T ah = abs(high), al = abs(low);
        const T scale = atol_ + rtol_ * lanes::select(ah > al, ah, al);
        sum += lanes::select(scale == 0.0, T{}, (err / scale) * (err / scale));
        count += lanes::select(scale == 0.0, T{}, T{} + 1.0);
      }

      T accepted{};  // 1 in the lanes whose step is accepted
      bool took[L];
      double t_old[L];
      for (int l = 0; l < L; ++l) {
        took[l] = false;
        t_old[l] = t[l];
        if (!active[l]) continue;
        const double n = lanes::lane(count, l);
        const double enorm = n > 0.0 ? std::sqrt(lanes::lane(sum, l) / n) : 0.0;
        if (!finite(enorm)) {
          fail_lane(ln, l, next[l], 2);
          continue;
        }
        const double ht = lanes::lane(h_try, l);
        const bool accept = enorm <= 1.0;
        double safety = StepControl::safety;
        if (!accept && last_rejected[l]) safety *= StepControl::reject_safety;
        double factor =
            enorm > 0.0 ? safety * pmath::pow(enorm, StepControl::exponent) : StepControl::clip_max;
        factor = factor < StepControl::clip_min
                     ? StepControl::clip_min
                     : (factor > StepControl::clip_max ? StepControl::clip_max : factor);
        const double h_next = ht * factor;
        if (accept) {
          lanes::lane(accepted, l) = 1.0;
          took[l] = true;
          t[l] = clamped[l] ? t_end : t[l] + ht;
          h[l] = h_next;
          // The cap keeps a force-free system's step (x10 per step) from overflowing; no
          // step is longer than the whole run anyway.
          if (h[l] > t_end) h[l] = t_end;
          last_rejected[l] = false;
          ++ln.steps[l];
        } else {
          h[l] = h_next;
          last_rejected[l] = true;
          ++ln.rejected[l];
        }
      }
      dense_frames(p, ln, took, t_old, t, h_try, next, attempts);
      for (int c = 0; c < N; ++c) {
        at(p, Y0, c) = lanes::select(accepted > 0.0, at(p, YNEW, c), at(p, Y0, c));
        at(p, K0, c) = lanes::select(accepted > 0.0, at(p, K0 + 6, c), at(p, K0, c));
      }
    }
  }

  Law law_;
  int n_, nt_, substeps_;
  double step_, spacing_, rtol_, atol_;
  int max_steps_;
  double nan_;
  BatchState initial_;
  BatchFrames frames_, accel_;
  BatchStats stats_;
  Scratch scratch_;
};

}  // namespace phyflow::nbody::detail
