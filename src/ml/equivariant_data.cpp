// Data sets of scalar-based equivariant learning (equivariant_data.hpp).
#include "phyflow/ml/equivariant_data.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/core/rng.hpp"

#include <cmath>

namespace phyflow::ml::equivariant {

namespace {
double dot(const double* a, const double* b, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
/// Minkowski product with metric diag(1, -1, -1, -1).
double mdot(const double* a, const double* b) { return a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3]; }

std::uint32_t purpose_of(Kind k) {
  switch (k) {
    case Kind::o5: return rng::purpose("equivariant-o5");
    case Kind::inertia: return rng::purpose("equivariant-inertia");
    case Kind::lorentz: return rng::purpose("equivariant-lorentz");
    case Kind::pendulum: return rng::purpose("equivariant-pendulum");
  }
  return 0;
}

/// n standard normals of sample `index` (steps 0, 1, ... of the kind's stream, 4 per step).
void normals(Kind k, std::uint64_t seed, std::uint64_t index, int n, double* out) {
  const rng::Stream stream(seed, purpose_of(k));
  double z[4];
  for (int i = 0; i < n; i += 4) {
    rng::normals4(stream, index, std::uint64_t(i / 4), z);
    for (int j = 0; j < 4 && i + j < n; ++j) out[i + j] = z[j];
  }
}
}  // namespace

const std::vector<std::string>& kind_names() {
  static const std::vector<std::string> n = {"o5", "inertia", "lorentz", "pendulum"};
  return n;
}

Kind kind_from_name(const std::string& name, const std::string& where) {
  for (std::size_t i = 0; i < kind_names().size(); ++i)
    if (kind_names()[i] == name) return Kind(i);
  throw input_error(where + ": unknown data set kind '" + name +
                    "' (known: o5, inertia, lorentz, pendulum)");
}

std::string kind_name(Kind kind) { return kind_names()[std::size_t(kind)]; }

int x_columns(Kind kind) {
  switch (kind) {
    case Kind::o5: return 10;
    case Kind::inertia: return 20;
    case Kind::lorentz: return 16;
    case Kind::pendulum: return pendulum_state;
  }
  return 0;
}

int y_columns(Kind kind, int pendulum_steps) {
  switch (kind) {
    case Kind::o5: return 1;
    case Kind::inertia: return 9;
    case Kind::lorentz: return 1;
    case Kind::pendulum: return pendulum_steps * pendulum_state;
  }
  return 0;
}

namespace {
std::vector<std::string> pendulum_names(const std::string& suffix) {
  std::vector<std::string> v;
  for (const char* q : {"x1", "x2", "p1", "p2"})
    for (const char* c : {"x", "y", "z"}) v.push_back(std::string(q) + "[" + c + "]" + suffix);
  return v;
}
}  // namespace

std::vector<std::string> x_column_names(Kind kind) {
  std::vector<std::string> v;
  switch (kind) {
    case Kind::o5:
      for (int a = 1; a <= 2; ++a)
        for (int i = 0; i < 5; ++i) v.push_back("x" + std::to_string(a) + "[" + std::to_string(i) + "]");
      break;
    case Kind::inertia:
      for (int a = 1; a <= 5; ++a)
        for (const char* c : {"m", "x", "y", "z"})
          v.push_back(std::string(c) + std::to_string(a));
      break;
    case Kind::lorentz:
      for (int a = 1; a <= 4; ++a)
        for (const char* c : {"t", "x", "y", "z"})
          v.push_back("p" + std::to_string(a) + "[" + c + "]");
      break;
    case Kind::pendulum: v = pendulum_names(""); break;
  }
  return v;
}

std::vector<std::string> y_column_names(Kind kind, int pendulum_steps) {
  std::vector<std::string> v;
  switch (kind) {
    case Kind::o5: v = {"y"}; break;
    case Kind::inertia:
      for (const char* r : {"x", "y", "z"})
        for (const char* c : {"x", "y", "z"}) v.push_back(std::string("I") + r + c);
      break;
    case Kind::lorentz: v = {"y"}; break;
    case Kind::pendulum:
      for (int k = 1; k <= pendulum_steps; ++k) {
        const auto n = pendulum_names("(t0+" + std::to_string(k) + "dt)");
        v.insert(v.end(), n.begin(), n.end());
      }
      break;
  }
  return v;
}

std::string x_meaning(Kind kind) {
  switch (kind) {
    case Kind::o5: return "two vectors of R^5, x1 then x2, each N(0, I) (EMLP O5Synthetic)";
    case Kind::inertia:
      return "5 point masses as [m, x, y, z] each: m = softplus(N(0,1)), position N(0, I_3) "
             "(EMLP Inertia)";
    case Kind::lorentz:
      return "four 4-momenta p1, p2, p3, p4 as [t, x, y, z] each, N(0, I)/4 (EMLP "
             "ParticleInteraction)";
    case Kind::pendulum:
      return "double spring pendulum state z(t0) = [x1, x2, p1, p2] (EMLP DoubleSpringPendulum)";
  }
  return "";
}

std::string y_meaning(Kind kind) {
  switch (kind) {
    case Kind::o5: return "sin|x1| - |x2|^3/2 + <x1,x2>/(|x1| |x2|)";
    case Kind::inertia: return "inertia tensor sum_i m_i (|r_i|^2 I - r_i r_i^T), row-major (xx, xy, xz, yx, ...)";
    case Kind::lorentz:
      return "4 sum_{mu,nu} Le^{mu nu} Lmu_{mu nu}, Le = p1 p3^T - (p1.p3 - p1.p1) eta, "
             "Lmu = (eta p2)(eta p4)^T - (p2.p4 - p2.p2) eta, eta = diag(1,-1,-1,-1)";
    case Kind::pendulum: return "states z(t0 + k dt), k = 1..steps, each [x1, x2, p1, p2]";
  }
  return "";
}

double o5_target(const double* x) {
  const double* x1 = x;
  const double* x2 = x + 5;
  const double n1 = std::sqrt(dot(x1, x1, 5)), n2 = std::sqrt(dot(x2, x2, 5));
  return std::sin(n1) - 0.5 * n2 * n2 * n2 + dot(x1, x2, 5) / (n1 * n2);
}

void inertia_target(const double* x, double* y) {
  for (int k = 0; k < 9; ++k) y[k] = 0;
  for (int i = 0; i < 5; ++i) {
    const double m = x[4 * i];
    const double* r = x + 4 * i + 1;
    const double r2 = dot(r, r, 3);
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) y[3 * a + b] += m * ((a == b ? r2 : 0.0) - r[a] * r[b]);
  }
}

double lorentz_target(const double* x) {
  const double *p1 = x, *p2 = x + 4, *p3 = x + 8, *p4 = x + 12;
  const double eta[4] = {1, -1, -1, -1};
  const double ce = mdot(p1, p3) - mdot(p1, p1), cm = mdot(p2, p4) - mdot(p2, p2);
  double s = 0;
  for (int m = 0; m < 4; ++m)
    for (int n = 0; n < 4; ++n) {
      const double d = m == n ? eta[m] : 0.0;
      const double le = p1[m] * p3[n] - ce * d;
      const double lm = eta[m] * p2[m] * eta[n] * p4[n] - cm * d;
      s += le * lm;
    }
  return 4 * s;
}

void draw_inputs(Kind kind, std::uint64_t seed, std::uint64_t index, double* x) {
  switch (kind) {
    case Kind::o5: normals(kind, seed, index, 10, x); break;
    case Kind::inertia: {
      normals(kind, seed, index, 20, x);
      for (int i = 0; i < 5; ++i) {
        const double z = x[4 * i];  // softplus, overflow-safe
        x[4 * i] = z > 30 ? z : std::log1p(std::exp(z));
      }
      break;
    }
    case Kind::lorentz:
      normals(kind, seed, index, 16, x);
      for (int i = 0; i < 16; ++i) x[i] /= 4;
      break;
    case Kind::pendulum: pendulum_initial(seed, index, x); break;
  }
}

void targets(Kind kind, const double* x, double* y) {
  switch (kind) {
    case Kind::o5: y[0] = o5_target(x); break;
    case Kind::inertia: inertia_target(x, y); break;
    case Kind::lorentz: y[0] = lorentz_target(x); break;
    case Kind::pendulum:
      throw runtime_error("pendulum targets come from pendulum_sample (an integration)");
  }
}

double pendulum_energy(const double* z) {
  const double *x1 = z, *x2 = z + 3, *p1 = z + 6, *p2 = z + 9;
  const double d[3] = {x1[0] - x2[0], x1[1] - x2[1], x1[2] - x2[2]};
  const double s1 = std::sqrt(dot(x1, x1, 3)) - 1.0, s2 = std::sqrt(dot(d, d, 3)) - 1.0;
  return 0.5 * dot(p1, p1, 3) + 0.5 * dot(p2, p2, 3) + 0.5 * s1 * s1 + s2 * s2 + x1[2] + x2[2];
}

void pendulum_dynamics(const double* z, double* dz) {
  const double *x1 = z, *x2 = z + 3, *p1 = z + 6, *p2 = z + 9;
  const double d[3] = {x1[0] - x2[0], x1[1] - x2[1], x1[2] - x2[2]};
  const double r1 = std::sqrt(dot(x1, x1, 3)), r12 = std::sqrt(dot(d, d, 3));
  const double f1 = (r1 - 1.0) / r1, f2 = 2.0 * (r12 - 1.0) / r12;
  for (int a = 0; a < 3; ++a) {
    const double g = a == 2 ? 1.0 : 0.0;
    dz[a] = p1[a];
    dz[3 + a] = p2[a];
    dz[6 + a] = -(f1 * x1[a] + f2 * d[a] + g);  // -dH/dx1
    dz[9 + a] = -(-f2 * d[a] + g);              // -dH/dx2
  }
}

void pendulum_rk4(double* z, double h, int steps) {
  constexpr int n = pendulum_state;
  double k1[n], k2[n], k3[n], k4[n], t[n];
  for (int s = 0; s < steps; ++s) {
    pendulum_dynamics(z, k1);
    for (int i = 0; i < n; ++i) t[i] = z[i] + 0.5 * h * k1[i];
    pendulum_dynamics(t, k2);
    for (int i = 0; i < n; ++i) t[i] = z[i] + 0.5 * h * k2[i];
    pendulum_dynamics(t, k3);
    for (int i = 0; i < n; ++i) t[i] = z[i] + h * k3[i];
    pendulum_dynamics(t, k4);
    for (int i = 0; i < n; ++i) z[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
  }
}

void pendulum_initial(std::uint64_t seed, std::uint64_t index, double* z0) {
  double g[12];
  normals(Kind::pendulum, seed, index, 12, g);
  for (int a = 0; a < 3; ++a) {
    z0[a] = (a == 2 ? -1.5 : 0.0) + 0.2 * g[a];
    z0[3 + a] = (a == 2 ? -3.0 : 0.0) + 0.2 * g[3 + a];
  }
  for (int i = 6; i < 12; ++i) z0[i] = 0.4 * g[i];
}

int PendulumSampling::steps() const {
  const int points = int(std::lround(duration / dt));
  return rollout ? points - 1 : chunk - 1;
}

void pendulum_sample(const PendulumSampling& s, std::uint64_t seed, std::uint64_t index,
                     double* x, double* y) {
  constexpr int n = pendulum_state;
  double z[n];
  pendulum_initial(seed, index, z);
  const double h = s.dt / s.substeps;
  int start = 0;
  if (!s.rollout) {
    // EMLP: the trajectory's points split into points / chunk chunks; one drawn uniformly.
    const int chunks = int(std::lround(s.duration / s.dt)) / s.chunk;
    const rng::Words w = rng::Stream(seed, rng::purpose("equivariant-pendulum-chunk"))(index, 0);
    start = int(rng::uniform53(w.w[0], w.w[1]) * chunks) * s.chunk;
    pendulum_rk4(z, h, start * s.substeps);
  }
  for (int i = 0; i < n; ++i) x[i] = z[i];
  for (int k = 0; k < s.steps(); ++k) {
    pendulum_rk4(z, h, s.substeps);
    for (int i = 0; i < n; ++i) y[k * n + i] = z[i];
  }
}

}  // namespace phyflow::ml::equivariant
