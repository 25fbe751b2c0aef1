// Bottom-up rewriting of postfix expressions (see simplify.hpp). The walk keeps a stack of
// already simplified operand arrays; each operator looks at its operands' last nodes to
// decide which rule applies. Expressions are at most a few dozen nodes, so the copies are
// cheap.
#include "phyflow/sr/simplify.hpp"

#include <cmath>

#include "phyflow/sr/trig.hpp"

namespace phyflow::sr {

namespace {

using Piece = std::vector<Node>;

bool is_const(const Piece& p) { return p.size() == 1 && p[0].op == Op::constant; }
bool is_const(const Piece& p, double v) { return is_const(p) && p[0].value == v; }

double fold(Op op, double a, double b) {
  switch (op) {
    case Op::add:
      return a + b;
    case Op::sub:
      return a - b;
    case Op::mul:
      return a * b;
    case Op::div:
      return a / b;
    case Op::pow:
      return std::pow(a, b);
    case Op::exp:
      return std::exp(a);
    case Op::log:
      return std::log(a);
    case Op::sin:
      return trig::sin(a);
    case Op::cos:
      return trig::cos(a);
    case Op::tan:
      return std::tan(a);
    case Op::tanh:
      return std::tanh(a);
    case Op::sqrt:
      return std::sqrt(a);
    case Op::abs:
      return std::fabs(a);
    case Op::square:
      return a * a;
    case Op::cube:
      return a * a * a;
    case Op::inv:
      return 1.0 / a;
    default:
      return -a;
  }
}

bool node_less(const Node& a, const Node& b) {
  if (a.op != b.op) return a.op < b.op;
  if (a.op == Op::variable) return a.feature < b.feature;
  if (a.op == Op::constant) return a.value < b.value;
  return false;
}

bool piece_less(const Piece& a, const Piece& b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (node_less(a[i], b[i])) return true;
    if (node_less(b[i], a[i])) return false;
  }
  return a.size() < b.size();
}

Piece constant(double v) { return Piece{Node::constant(v)}; }

Piece join(const Piece& a, const Piece& b, Op op) {
  Piece r = a;
  r.insert(r.end(), b.begin(), b.end());
  r.push_back(Node::op_node(op));
  return r;
}

/// `p` is X op c (the constant as right operand): returns true and sets X and c.
bool split_const_right(const Piece& p, Op op, Piece& x, double& c) {
  if (p.size() < 3 || p.back().op != op || p[p.size() - 2].op != Op::constant) return false;
  x.assign(p.begin(), p.end() - 2);
  c = p[p.size() - 2].value;
  return true;
}

Piece unary(Op op, Piece a);

Piece binary(Op op, Piece a, Piece b) {
  if (is_const(a) && is_const(b)) {
    const double v = fold(op, a[0].value, b[0].value);
    if (std::isfinite(v)) return constant(v);
    return join(a, b, op);
  }
  Piece x;
  double c = 0.0;
  switch (op) {
    case Op::add:
    case Op::mul: {
      // Canonical order: constant operand on the right, otherwise the smaller array first.
      // Both operators commute exactly in IEEE arithmetic, so this changes no value.
      if (is_const(a) || (!is_const(b) && piece_less(b, a))) std::swap(a, b);
      const double neutral = op == Op::add ? 0.0 : 1.0;
      if (is_const(b, neutral)) return a;
      if (op == Op::mul && is_const(b, 0.0)) return constant(0.0);
      if (op == Op::mul && is_const(b, -1.0)) return unary(Op::neg, a);
      if (is_const(b) && split_const_right(a, op, x, c)) {
        const double v = fold(op, c, b[0].value);
        if (std::isfinite(v)) return binary(op, x, constant(v));
      }
      if (op == Op::mul && !is_const(b)) {
        // Constant factors move outward, (x c) y -> (x y) c, so that the factors of a product
        // meet and merge: (x c1)(y c2) -> (x y)(c1 c2). Only the rounding changes.
        Piece y;
        if (split_const_right(a, Op::mul, x, c))
          return binary(Op::mul, binary(Op::mul, x, b), constant(c));
        if (split_const_right(b, Op::mul, y, c))
          return binary(Op::mul, binary(Op::mul, a, y), constant(c));
      }
      if (op == Op::mul && a.size() > 1 && a.back().op == Op::neg) {
        // (-x) * c -> x * (-c) and (-x) * (y * c) -> x * (y * (-c)): the sign joins a constant.
        Piece inner(a.begin(), a.end() - 1), y;
        if (is_const(b)) return binary(Op::mul, inner, constant(-b[0].value));
        if (split_const_right(b, Op::mul, y, c))
          return binary(Op::mul, inner, binary(Op::mul, y, constant(-c)));
      }
      if (op == Op::add && is_const(b) && split_const_right(a, Op::sub, x, c)) {
        const double v = b[0].value - c;
        if (std::isfinite(v)) return binary(Op::add, x, constant(v));
      }
      return join(a, b, op);
    }
    case Op::sub:
      if (is_const(b, 0.0)) return a;
      if (a == b) return constant(0.0);
      // c1 - (x + c2) -> (c1 - c2) - x, and 0 - x -> -x (the one operator simplification may
      // introduce: it is cheaper than the subtraction and lets the sign join a constant).
      if (is_const(a) && split_const_right(b, Op::add, x, c)) {
        const double v = a[0].value - c;
        if (std::isfinite(v)) return binary(Op::sub, constant(v), x);
      }
      if (is_const(a, 0.0)) return unary(Op::neg, b);
      if (is_const(b) && split_const_right(a, Op::add, x, c)) {
        const double v = c - b[0].value;
        if (std::isfinite(v)) return binary(Op::add, x, constant(v));
      }
      return join(a, b, op);
    case Op::div:
      if (is_const(b, 1.0)) return a;
      if (a == b) return constant(1.0);
      if (is_const(a, 0.0)) return constant(0.0);
      if (is_const(b) && split_const_right(a, Op::mul, x, c)) {
        const double v = c / b[0].value;
        if (std::isfinite(v)) return binary(Op::mul, x, constant(v));
      }
      if (is_const(b, -1.0)) return unary(Op::neg, a);
      if (!is_const(b)) {
        // (x c) / y -> (x / y) c and x / (y c) -> (x / y) (1/c): factors move outward too.
        Piece y;
        if (split_const_right(a, Op::mul, x, c))
          return binary(Op::mul, binary(Op::div, x, b), constant(c));
        if (split_const_right(b, Op::mul, y, c) && std::isfinite(1.0 / c) && 1.0 / c != 0.0)
          return binary(Op::mul, binary(Op::div, a, y), constant(1.0 / c));
      }
      return join(a, b, op);
    default:  // pow
      if (is_const(b, 1.0)) return a;
      if (is_const(b, 0.0)) return constant(1.0);
      return join(a, b, op);
  }
}

Piece unary(Op op, Piece a) {
  if (is_const(a)) {
    const double v = fold(op, a[0].value, 0.0);
    if (std::isfinite(v)) return constant(v);
  }
  if (op == Op::neg && !a.empty() && a.back().op == Op::neg) {
    a.pop_back();
    return a;
  }
  a.push_back(Node::op_node(op));
  return a;
}

}  // namespace

bool structurally_less(const Expression& a, const Expression& b) {
  return piece_less(a.nodes, b.nodes);
}

Expression simplify(const Expression& e) {
  std::vector<Piece> st;
  for (const Node& n : e.nodes) {
    const int k = arity(n.op);
    if (k == 0) {
      st.push_back(Piece{n});
    } else if (k == 1) {
      Piece a = std::move(st.back());
      st.pop_back();
      st.push_back(unary(n.op, std::move(a)));
    } else {
      Piece b = std::move(st.back());
      st.pop_back();
      Piece a = std::move(st.back());
      st.pop_back();
      st.push_back(binary(n.op, std::move(a), std::move(b)));
    }
  }
  Expression r;
  if (st.size() == 1) r.nodes = std::move(st.back());
  return r;
}

}  // namespace phyflow::sr
