// Batched evaluation of postfix expressions (see evaluate.hpp), the dual-number Jacobian for
// constant fitting, and the scalar reference interpreter the tests compare against.
#include "phyflow/sr/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "phyflow/core/error.hpp"
#include "phyflow/core/host_simd.hpp"
#include "phyflow/sr/trig.hpp"

namespace phyflow::sr {

Dataset Dataset::subset(const std::vector<std::size_t>& rows) const {
  Dataset d;
  d.names = names;
  d.target = target;
  d.x.assign(x.size(), std::vector<double>(rows.size()));
  d.y.resize(rows.size());
  if (!w.empty()) d.w.resize(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t f = 0; f < x.size(); ++f) d.x[f][i] = x[f][rows[i]];
    d.y[i] = y[rows[i]];
    if (!w.empty()) d.w[i] = w[rows[i]];
  }
  return d;
}

namespace {

/// True when some value of v[0..n) is inf or NaN. Integer test on the exponent bits so the
/// loop vectorises (an OR reduction) without -ffast-math.
inline bool any_nonfinite(const double* v, int n) {
  std::uint64_t bad = 0;
  for (int i = 0; i < n; ++i) {
    std::uint64_t b;
    std::memcpy(&b, v + i, sizeof b);
    bad |= std::uint64_t((b & 0x7ff0000000000000ull) == 0x7ff0000000000000ull);
  }
  return bad != 0;
}

/// The scalar functions of the operators; the batch loops and the reference share them, so
/// the two can only differ in control flow.
struct Add {
  static double f(double a, double b) { return a + b; }
};
struct Sub {
  static double f(double a, double b) { return a - b; }
};
struct Mul {
  static double f(double a, double b) { return a * b; }
};
struct Div {
  static double f(double a, double b) { return a / b; }
};
struct Pow {
  static double f(double a, double b) { return std::pow(a, b); }
};
struct Exp {
  static double f(double a) { return std::exp(a); }
};
struct Log {
  static double f(double a) { return std::log(a); }
};
struct Sin {
  static double f(double a) { return trig::sin(a); }
  static double f_fast(double a) { return trig::sin_fast(a); }
};
struct Cos {
  static double f(double a) { return trig::cos(a); }
  static double f_fast(double a) { return trig::cos_fast(a); }
};
struct Tan {
  static double f(double a) { return std::tan(a); }
};
struct Tanh {
  static double f(double a) { return std::tanh(a); }
};
struct Sqrt {
  static double f(double a) { return std::sqrt(a); }
};
struct Abs {
  static double f(double a) { return std::fabs(a); }
};
struct Square {
  static double f(double a) { return a * a; }
};
struct Cube {
  static double f(double a) { return a * a * a; }
};
struct Inv {
  static double f(double a) { return 1.0 / a; }
};
struct Neg {
  static double f(double a) { return -a; }
};

/// Operators whose result can be finite although an operand is not (1/inf = 0,
/// exp(-inf) = 0, tanh(inf) = 1, pow(1, nan) = 1, x/inf = 0). Only their operands need a
/// finiteness check: every other operator propagates inf or NaN to its result, which the
/// final check sees.
inline bool absorbs_nonfinite(Op op) {
  return op == Op::div || op == Op::pow || op == Op::exp || op == Op::tanh || op == Op::inv;
}

double apply_scalar(Op op, double a, double b) {
  switch (op) {
    case Op::add:
      return Add::f(a, b);
    case Op::sub:
      return Sub::f(a, b);
    case Op::mul:
      return Mul::f(a, b);
    case Op::div:
      return Div::f(a, b);
    case Op::pow:
      return Pow::f(a, b);
    case Op::exp:
      return Exp::f(a);
    case Op::log:
      return Log::f(a);
    case Op::sin:
      return Sin::f(a);
    case Op::cos:
      return Cos::f(a);
    case Op::tan:
      return Tan::f(a);
    case Op::tanh:
      return Tanh::f(a);
    case Op::sqrt:
      return Sqrt::f(a);
    case Op::abs:
      return Abs::f(a);
    case Op::square:
      return Square::f(a);
    case Op::cube:
      return Cube::f(a);
    case Op::inv:
      return Inv::f(a);
    case Op::neg:
      return Neg::f(a);
    default:
      return std::numeric_limits<double>::quiet_NaN();
  }
}

/// One live value of the postfix walk over a batch: a scalar (constant subtree), a column
/// (a variable, read in place) or a work buffer.
struct Slot {
  const double* v;  ///< the batch's values unless scalar
  double c;         ///< the value when scalar
  bool scalar;
};

template <class F>
inline void unary_loop(const double* a, double* out, int n) {
  for (int i = 0; i < n; ++i) out[i] = F::f(a[i]);
}

/// sin/cos: the branch-free version when the whole batch is in its range (the usual case),
/// the one with the std:: fallback otherwise; both give the same bits as F::f.
template <class F>
inline void fast_loop(const double* a, double* out, int n) {
  for (int i = 0; i < n; ++i) out[i] = F::f_fast(a[i]);
}

template <class F>
inline void trig_loop(const double* a, double* out, int n) {
  bool outside = false;
  for (int i = 0; i < n; ++i) outside = outside || !trig::in_fast_range(a[i]);
  if (outside)
    unary_loop<F>(a, out, n);
  else
    fast_loop<F>(a, out, n);
}

template <class F>
inline void binary_loop(const Slot& a, const Slot& b, double* out, int n) {
  if (a.scalar) {
    const double c = a.c;
    const double* bv = b.v;
    for (int i = 0; i < n; ++i) out[i] = F::f(c, bv[i]);
  } else if (b.scalar) {
    const double c = b.c;
    const double* av = a.v;
    for (int i = 0; i < n; ++i) out[i] = F::f(av[i], c);
  } else {
    const double* av = a.v;
    const double* bv = b.v;
    for (int i = 0; i < n; ++i) out[i] = F::f(av[i], bv[i]);
  }
}

void run_unary(Op op, const double* a, double* out, int n) {
  switch (op) {
    case Op::exp:
      unary_loop<Exp>(a, out, n);
      break;
    case Op::log:
      unary_loop<Log>(a, out, n);
      break;
    case Op::sin:
      trig_loop<Sin>(a, out, n);
      break;
    case Op::cos:
      trig_loop<Cos>(a, out, n);
      break;
    case Op::tan:
      unary_loop<Tan>(a, out, n);
      break;
    case Op::tanh:
      unary_loop<Tanh>(a, out, n);
      break;
    case Op::sqrt:
      unary_loop<Sqrt>(a, out, n);
      break;
    case Op::abs:
      unary_loop<Abs>(a, out, n);
      break;
    case Op::square:
      unary_loop<Square>(a, out, n);
      break;
    case Op::cube:
      unary_loop<Cube>(a, out, n);
      break;
    case Op::inv:
      unary_loop<Inv>(a, out, n);
      break;
    default:
      unary_loop<Neg>(a, out, n);
      break;
  }
}

void run_binary(Op op, const Slot& a, const Slot& b, double* out, int n) {
  switch (op) {
    case Op::add:
      binary_loop<Add>(a, b, out, n);
      break;
    case Op::sub:
      binary_loop<Sub>(a, b, out, n);
      break;
    case Op::mul:
      binary_loop<Mul>(a, b, out, n);
      break;
    case Op::div:
      binary_loop<Div>(a, b, out, n);
      break;
    default:
      binary_loop<Pow>(a, b, out, n);
      break;
  }
}

inline bool slot_nonfinite(const Slot& s, int n) {
  return s.scalar ? !std::isfinite(s.c) : any_nonfinite(s.v, n);
}

/// Walks `e` over rows [start, start + n); the result is returned as a slot (pointing into
/// `work` or a column). False when invalid.
inline bool walk_batch_body(const Expression& e, const std::vector<const double*>& cols,
                            std::size_t start, int n, double* work, Slot* stack, Slot& result) {
  int sp = 0;
  for (const Node& node : e.nodes) {
    switch (node.op) {
      case Op::constant:
        stack[sp++] = Slot{nullptr, node.value, true};
        if (!std::isfinite(node.value)) return false;
        continue;
      case Op::variable:
        stack[sp++] = Slot{cols[node.feature] + start, 0.0, false};
        continue;
      default:
        break;
    }
    double* out = work + std::size_t(sp - 1) * batch_rows;  // the slot of the first operand
    if (arity(node.op) == 2) {
      const Slot& b = stack[sp - 1];
      Slot& a = stack[sp - 2];
      if (absorbs_nonfinite(node.op) && (slot_nonfinite(a, n) || slot_nonfinite(b, n)))
        return false;
      out = work + std::size_t(sp - 2) * batch_rows;
      if (a.scalar && b.scalar) {
        a.c = apply_scalar(node.op, a.c, b.c);
      } else {
        run_binary(node.op, a, b, out, n);
        a = Slot{out, 0.0, false};
      }
      --sp;
    } else {
      Slot& a = stack[sp - 1];
      if (absorbs_nonfinite(node.op) && slot_nonfinite(a, n)) return false;
      if (a.scalar) {
        a.c = apply_scalar(node.op, a.c, 0.0);
      } else {
        run_unary(node.op, a.v, out, n);
        a = Slot{out, 0.0, false};
      }
    }
  }
  result = stack[0];
  return !slot_nonfinite(result, n);
}

/// The walk compiled for the baseline ISA and, with every loop inlined into it (flatten),
/// for AVX2 and AVX-512 (no FMA: -ffp-contract=off, so both give the same bits; only the width
/// differs).
bool walk_batch_generic(const Expression& e, const std::vector<const double*>& cols,
                        std::size_t start, int n, double* work, Slot* stack, Slot& result) {
  return walk_batch_body(e, cols, start, n, work, stack, result);
}
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"), flatten)) bool walk_batch_avx2(
    const Expression& e, const std::vector<const double*>& cols, std::size_t start, int n,
    double* work, Slot* stack, Slot& result) {
  return walk_batch_body(e, cols, start, n, work, stack, result);
}
__attribute__((target("avx512f,avx512bw"), flatten)) bool walk_batch_avx512(
    const Expression& e, const std::vector<const double*>& cols, std::size_t start, int n,
    double* work, Slot* stack, Slot& result) {
  return walk_batch_body(e, cols, start, n, work, stack, result);
}
#endif

using WalkBatch = bool (*)(const Expression&, const std::vector<const double*>&, std::size_t, int,
                           double*, Slot*, Slot&);
/// The walk for the host's SIMD level (PHYFLOW_SIMD=generic forces the baseline one).
WalkBatch walk_for_host() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  const SimdLevel level = host_simd_level();
  if (level == SimdLevel::avx512) return walk_batch_avx512;
  if (level == SimdLevel::avx2) return walk_batch_avx2;
#endif
  return walk_batch_generic;
}

}  // namespace

bool Evaluator::evaluate(const Expression& e, const Dataset& data, double* out) {
  const std::size_t rows = data.rows();
  const int depth = e.stack_depth();
  work_.resize(std::size_t(depth) * batch_rows);
  Slot stack_small[64];
  std::vector<Slot> stack_big;
  Slot* stack = stack_small;
  if (depth >= 64) {
    stack_big.resize(std::size_t(depth) + 1);
    stack = stack_big.data();
  }
  cols_.resize(data.x.size());
  for (std::size_t f = 0; f < cols_.size(); ++f) cols_[f] = data.x[f].data();
  const std::vector<const double*>& cols = cols_;
  for (const Node& node : e.nodes)
    if (node.op == Op::variable && node.feature >= cols.size())
      throw runtime_error("sr: expression uses column " + std::to_string(node.feature) +
                          " of a data set with " + std::to_string(cols.size()));
  node_evaluations += std::uint64_t(rows) * e.size();
  const WalkBatch walk = walk_for_host();
  for (std::size_t start = 0; start < rows; start += batch_rows) {
    const int n = int(std::min<std::size_t>(batch_rows, rows - start));
    Slot r;
    if (!walk(e, cols, start, n, work_.data(), stack, r)) return false;
    if (r.scalar)
      std::fill(out + start, out + start + n, r.c);
    else
      std::copy(r.v, r.v + n, out + start);
  }
  return true;
}

double Evaluator::loss(const Expression& e, const Dataset& data) {
  const std::size_t rows = data.rows();
  const int depth = e.stack_depth();
  work_.resize(std::size_t(depth) * batch_rows);
  Slot stack_small[64];
  std::vector<Slot> stack_big;
  Slot* stack = stack_small;
  if (depth >= 64) {
    stack_big.resize(std::size_t(depth) + 1);
    stack = stack_big.data();
  }
  const std::size_t nf = data.x.size();
  cols_.resize(nf);
  for (std::size_t f = 0; f < nf; ++f) cols_[f] = data.x[f].data();
  const std::vector<const double*>& cols = cols_;
  for (const Node& node : e.nodes)
    if (node.op == Op::variable && node.feature >= nf)
      throw runtime_error("sr: expression uses column " + std::to_string(node.feature) +
                          " of a data set with " + std::to_string(nf));
  node_evaluations += std::uint64_t(rows) * e.size();
  const double* y = data.y.data();
  const double* w = data.w.empty() ? nullptr : data.w.data();
  double sum = 0.0, wsum = 0.0;
  const WalkBatch walk = walk_for_host();
  for (std::size_t start = 0; start < rows; start += batch_rows) {
    const int n = int(std::min<std::size_t>(batch_rows, rows - start));
    Slot r;
    if (!walk(e, cols, start, n, work_.data(), stack, r))
      return std::numeric_limits<double>::infinity();
    double s = 0.0;
    const double* yb = y + start;
    if (r.scalar) {
      if (w)
        for (int i = 0; i < n; ++i) s += w[start + std::size_t(i)] * (r.c - yb[i]) * (r.c - yb[i]);
      else
        for (int i = 0; i < n; ++i) s += (r.c - yb[i]) * (r.c - yb[i]);
    } else {
      const double* v = r.v;
      if (w)
        for (int i = 0; i < n; ++i)
          s += w[start + std::size_t(i)] * (v[i] - yb[i]) * (v[i] - yb[i]);
      else
        for (int i = 0; i < n; ++i) s += (v[i] - yb[i]) * (v[i] - yb[i]);
    }
    sum += s;
  }
  if (w)
    for (std::size_t i = 0; i < rows; ++i) wsum += w[i];
  else
    wsum = double(rows);
  const double l = sum / wsum;
  return std::isfinite(l) ? l : std::numeric_limits<double>::infinity();
}

bool Evaluator::evaluate_with_jacobian(const Expression& e, const Dataset& data, double* out,
                                       double* jac) {
  // Each live value carries its batch of values and K tangent batches (one per constant):
  // slot s occupies work_[s * (K + 1) * B ...], values first. Constant fitting runs on a
  // subsample, so this plain layout (no scalar/column shortcuts) costs little.
  const std::size_t rows = data.rows();
  const int K = e.constant_count();
  const int depth = e.stack_depth();
  const std::size_t stride = std::size_t(K + 1) * batch_rows;
  work_.resize(std::size_t(depth + 1) * stride);
  node_evaluations += std::uint64_t(rows) * e.size() * std::uint64_t(K + 1);
  for (std::size_t start = 0; start < rows; start += batch_rows) {
    const int n = int(std::min<std::size_t>(batch_rows, rows - start));
    int sp = 0, kconst = 0;
    for (const Node& node : e.nodes) {
      if (arity(node.op) == 0) {
        double* v = work_.data() + std::size_t(sp) * stride;
        if (node.op == Op::constant)
          std::fill(v, v + n, node.value);
        else
          std::copy(data.x[node.feature].data() + start, data.x[node.feature].data() + start + n,
                    v);
        for (int k = 0; k < K; ++k)
          std::fill(v + std::size_t(k + 1) * batch_rows, v + std::size_t(k + 1) * batch_rows + n,
                    node.op == Op::constant && k == kconst ? 1.0 : 0.0);
        if (node.op == Op::constant) ++kconst;
        ++sp;
        continue;
      }
      if (arity(node.op) == 1) {
        double* a = work_.data() + std::size_t(sp - 1) * stride;
        double d[batch_rows];
        for (int i = 0; i < n; ++i) {
          const double x = a[i];
          double r, dr;
          switch (node.op) {
            case Op::exp:
              r = std::exp(x), dr = r;
              break;
            case Op::log:
              r = std::log(x), dr = 1.0 / x;
              break;
            case Op::sin:
              r = trig::sin(x), dr = trig::cos(x);
              break;
            case Op::cos:
              r = trig::cos(x), dr = -trig::sin(x);
              break;
            case Op::tan:
              r = std::tan(x), dr = 1.0 + r * r;
              break;
            case Op::tanh:
              r = std::tanh(x), dr = 1.0 - r * r;
              break;
            case Op::sqrt:
              r = std::sqrt(x), dr = 0.5 / r;
              break;
            case Op::abs:
              r = std::fabs(x), dr = x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0);
              break;
            case Op::square:
              r = x * x, dr = 2.0 * x;
              break;
            case Op::cube:
              r = x * x * x, dr = 3.0 * x * x;
              break;
            case Op::inv:
              r = 1.0 / x, dr = -r * r;
              break;
            default:
              r = -x, dr = -1.0;
              break;
          }
          if (absorbs_nonfinite(node.op) && !std::isfinite(x)) return false;
          a[i] = r;
          d[i] = dr;
        }
        for (int k = 0; k < K; ++k) {
          double* t = a + std::size_t(k + 1) * batch_rows;
          for (int i = 0; i < n; ++i) t[i] *= d[i];
        }
        continue;
      }
      double* a = work_.data() + std::size_t(sp - 2) * stride;
      const double* b = work_.data() + std::size_t(sp - 1) * stride;
      double da[batch_rows], db[batch_rows];
      for (int i = 0; i < n; ++i) {
        const double x = a[i], y = b[i];
        if (absorbs_nonfinite(node.op) && !(std::isfinite(x) && std::isfinite(y))) return false;
        double r;
        switch (node.op) {
          case Op::add:
            r = x + y, da[i] = 1.0, db[i] = 1.0;
            break;
          case Op::sub:
            r = x - y, da[i] = 1.0, db[i] = -1.0;
            break;
          case Op::mul:
            r = x * y, da[i] = y, db[i] = x;
            break;
          case Op::div:
            r = x / y, da[i] = 1.0 / y, db[i] = -r / y;
            break;
          default:  // pow: d/da = b a^(b-1); d/db = a^b log a (only used where b has a tangent)
            r = std::pow(x, y), da[i] = y * std::pow(x, y - 1.0), db[i] = r * std::log(x);
            break;
        }
        a[i] = r;
      }
      for (int k = 0; k < K; ++k) {
        double* ta = a + std::size_t(k + 1) * batch_rows;
        const double* tb = b + std::size_t(k + 1) * batch_rows;
        if (node.op == Op::pow) {
          // A constant exponent's tangent is zero where the base is negative; log(a) is NaN
          // there, so skip the term instead of multiplying NaN by zero.
          for (int i = 0; i < n; ++i) ta[i] = da[i] * ta[i] + (tb[i] != 0.0 ? db[i] * tb[i] : 0.0);
        } else {
          for (int i = 0; i < n; ++i) ta[i] = da[i] * ta[i] + db[i] * tb[i];
        }
      }
      --sp;
    }
    const double* v = work_.data();
    if (any_nonfinite(v, n)) return false;
    std::copy(v, v + n, out + start);
    for (int k = 0; k < K; ++k) {
      const double* t = v + std::size_t(k + 1) * batch_rows;
      if (any_nonfinite(t, n)) return false;
      std::copy(t, t + n, jac + std::size_t(k) * rows + start);
    }
  }
  return true;
}

double evaluate_reference(const Expression& e, const std::vector<double>& row) {
  std::vector<double> st;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const Node& n : e.nodes) {
    double r;
    if (n.op == Op::constant) {
      r = n.value;
    } else if (n.op == Op::variable) {
      r = row.at(n.feature);
    } else if (arity(n.op) == 2) {
      const double b = st.back();
      st.pop_back();
      const double a = st.back();
      st.pop_back();
      r = apply_scalar(n.op, a, b);
    } else {
      const double a = st.back();
      st.pop_back();
      r = apply_scalar(n.op, a, 0.0);
    }
    if (!std::isfinite(r)) return nan;
    st.push_back(r);
  }
  return st.size() == 1 ? st.back() : nan;
}

}  // namespace phyflow::sr
