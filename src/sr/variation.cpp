// Random expressions, mutations and crossover on postfix arrays (see variation.hpp). A
// subtree rooted at node i spans [i - size[i] + 1, i], so every operation is a splice of
// contiguous ranges: no tree is ever built.
#include "phyflow/sr/variation.hpp"

#include <cmath>

namespace phyflow::sr {

std::uint32_t Draws::word() {
  if (left_ == 0) {
    buf_ = stream_(index_, step_++);
    left_ = 4;
  }
  return buf_.w[--left_];
}

double Draws::uniform() {
  const std::uint32_t hi = word();
  return rng::uniform53(hi, word());
}

int Draws::below(int n) { return n <= 1 ? 0 : int(uniform() * double(n)) % n; }

double Draws::normal() {
  const double u = 1.0 - uniform();
  const double v = uniform();
  return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
}

Grammar::Grammar(const std::vector<Op>& operators, int features_, int max_complexity_,
                 const ComplexityWeights& weights_)
    : features(features_), max_complexity(max_complexity_), weights(weights_) {
  for (Op op : operators) (arity(op) == 2 ? binary : unary).push_back(op);
}

const char* mutation_name(Mutation m) {
  static const char* const names[] = {"point", "subtree", "hoist", "insert", "delete", "constant"};
  return names[int(m)];
}

Node random_leaf(const Grammar& g, Draws& d) {
  if (g.features > 0 && d.below(3) != 0) return Node::variable(d.below(g.features));
  return Node::constant(d.normal());
}

namespace {

void grow(const Grammar& g, Draws& d, int depth, std::vector<Node>& out) {
  const bool leaf = depth <= 0 || (g.unary.empty() && g.binary.empty()) || d.chance(0.3);
  if (leaf) {
    out.push_back(random_leaf(g, d));
    return;
  }
  // Binary operators twice as likely as unary ones: they carry the structure.
  const bool use_binary = !g.binary.empty() && (g.unary.empty() || d.below(3) != 0);
  if (use_binary) {
    const Op op = g.binary[std::size_t(d.below(int(g.binary.size())))];
    grow(g, d, depth - 1, out);
    grow(g, d, depth - 1, out);
    out.push_back(Node::op_node(op));
  } else {
    const Op op = g.unary[std::size_t(d.below(int(g.unary.size())))];
    grow(g, d, depth - 1, out);
    out.push_back(Node::op_node(op));
  }
}

bool fits(const Expression& e, const Grammar& g) {
  return !e.nodes.empty() && e.complexity(g.weights) <= g.max_complexity && e.valid();
}

/// e with the subtree ending at `end` (of `len` nodes) replaced by `repl`.
Expression splice(const Expression& e, int end, int len, const std::vector<Node>& repl) {
  Expression r;
  r.nodes.reserve(e.size() - std::size_t(len) + repl.size());
  r.nodes.insert(r.nodes.end(), e.nodes.begin(), e.nodes.begin() + (end - len + 1));
  r.nodes.insert(r.nodes.end(), repl.begin(), repl.end());
  r.nodes.insert(r.nodes.end(), e.nodes.begin() + end + 1, e.nodes.end());
  return r;
}

std::vector<Node> subtree(const Expression& e, int end, int len) {
  return std::vector<Node>(e.nodes.begin() + (end - len + 1), e.nodes.begin() + end + 1);
}

Expression try_mutate(const Expression& e, Mutation kind, const Grammar& g, Draws& d) {
  const std::vector<int> size = subtree_sizes(e);
  const int n = int(e.size());
  switch (kind) {
    case Mutation::point: {
      const int i = d.below(n);
      Expression r = e;
      Node& node = r.nodes[std::size_t(i)];
      const int k = arity(node.op);
      if (k == 0)
        node = random_leaf(g, d);
      else if (k == 1 && !g.unary.empty())
        node.op = g.unary[std::size_t(d.below(int(g.unary.size())))];
      else if (k == 2 && !g.binary.empty())
        node.op = g.binary[std::size_t(d.below(int(g.binary.size())))];
      return r;
    }
    case Mutation::subtree: {
      const int i = d.below(n);
      std::vector<Node> repl;
      grow(g, d, 1 + d.below(3), repl);
      return splice(e, i, size[std::size_t(i)], repl);
    }
    case Mutation::hoist: {
      // A subtree of a subtree replaces the outer one (shrinks the expression).
      const int i = d.below(n);
      const int len = size[std::size_t(i)];
      const int j = i - d.below(len);
      return splice(e, i, len, subtree(e, j, size[std::size_t(j)]));
    }
    case Mutation::insert: {
      const int i = d.below(n);
      std::vector<Node> s = subtree(e, i, size[std::size_t(i)]);
      if (!g.unary.empty() && (g.binary.empty() || d.below(3) == 0)) {
        s.push_back(Node::op_node(g.unary[std::size_t(d.below(int(g.unary.size())))]));
      } else if (!g.binary.empty()) {
        const Node leaf = random_leaf(g, d);
        if (d.below(2) == 0)
          s.push_back(leaf);
        else
          s.insert(s.begin(), leaf);
        s.push_back(Node::op_node(g.binary[std::size_t(d.below(int(g.binary.size())))]));
      }
      return splice(e, i, size[std::size_t(i)], s);
    }
    case Mutation::remove: {
      // An operator is replaced by one of its operands.
      std::vector<int> ops;
      for (int i = 0; i < n; ++i)
        if (arity(e.nodes[std::size_t(i)].op) > 0) ops.push_back(i);
      if (ops.empty()) return e;
      const int i = ops[std::size_t(d.below(int(ops.size())))];
      int child = i - 1;
      if (arity(e.nodes[std::size_t(i)].op) == 2 && d.below(2) == 0)
        child -= size[std::size_t(child)];
      return splice(e, i, size[std::size_t(i)], subtree(e, child, size[std::size_t(child)]));
    }
    default: {  // constant
      std::vector<int> cs;
      for (int i = 0; i < n; ++i)
        if (e.nodes[std::size_t(i)].op == Op::constant) cs.push_back(i);
      Expression r = e;
      if (cs.empty()) return try_mutate(e, Mutation::point, g, d);
      Node& c = r.nodes[std::size_t(cs[std::size_t(d.below(int(cs.size())))])];
      // Multiplicative steps explore all scales; a rare sign flip crosses zero.
      c.value *= std::exp(0.5 * d.normal());
      if (d.chance(0.1)) c.value = -c.value;
      return r;
    }
  }
}

}  // namespace

Expression random_expression(const Grammar& g, Draws& d, int max_depth) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    Expression e;
    grow(g, d, max_depth, e.nodes);
    if (fits(e, g)) return e;
  }
  Expression leaf;
  leaf.nodes.push_back(random_leaf(g, d));
  return leaf;
}

Expression mutate(const Expression& e, Mutation kind, const Grammar& g, Draws& d) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    Expression r = try_mutate(e, kind, g, d);
    if (fits(r, g)) return r;
  }
  return e;
}

std::pair<Expression, Expression> crossover(const Expression& a, const Expression& b,
                                            const Grammar& g, Draws& d) {
  const std::vector<int> sa = subtree_sizes(a), sb = subtree_sizes(b);
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int i = d.below(int(a.size())), j = d.below(int(b.size()));
    Expression ca = splice(a, i, sa[std::size_t(i)], subtree(b, j, sb[std::size_t(j)]));
    Expression cb = splice(b, j, sb[std::size_t(j)], subtree(a, i, sa[std::size_t(i)]));
    if (fits(ca, g) && fits(cb, g)) return {ca, cb};
  }
  return {a, b};
}

}  // namespace phyflow::sr
