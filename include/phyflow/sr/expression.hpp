// Expressions of the symbolic-regression engine (DESIGN.md §9): a flat array of nodes in
// postfix order (Operon's linear encoding), no pointer tree. A node is an operator code plus a
// column index (variables) or a value (constants). Printing gives sympy-readable infix over
// the column names (`**` for powers), LaTeX and a C++ expression.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace phyflow::sr {

/// Operator codes. `constant` and `variable` are the leaves; the order of the rest is the
/// order of the names in op_name().
enum class Op : std::uint8_t {
  constant,
  variable,
  add,
  sub,
  mul,
  div,
  pow,
  exp,
  log,
  sin,
  cos,
  tan,
  tanh,
  sqrt,
  abs,
  square,
  cube,
  inv,
  neg,
};
constexpr int op_count = int(Op::neg) + 1;

struct Node {
  Op op = Op::constant;
  std::uint16_t feature = 0;  ///< column index of a variable
  double value = 0.0;         ///< value of a constant
  static Node constant(double v) { return Node{Op::constant, 0, v}; }
  static Node variable(int f) { return Node{Op::variable, std::uint16_t(f), 0.0}; }
  static Node op_node(Op o) { return Node{o, 0, 0.0}; }
};
bool operator==(const Node& a, const Node& b);

/// 0 for leaves, 1 for unary, 2 for binary operators.
int arity(Op op);
/// The deck name of an operator ("add", "sin", ...); "const"/"var" for the leaves.
const char* op_name(Op op);
/// The operator named `name` (a deck name); false if there is none.
bool parse_op(const std::string& name, Op& out);
/// Every operator name a deck may list, comma-separated (for error messages).
std::string operator_names();

/// Per-operator complexity weights (PySR's complexity_of_operators); node count by default.
struct ComplexityWeights {
  int of[op_count];
  ComplexityWeights() {
    for (int& w : of) w = 1;
  }
};

/// A postfix expression. Valid when every operator finds its operands and one value remains.
struct Expression {
  std::vector<Node> nodes;

  std::size_t size() const { return nodes.size(); }
  int complexity(const ComplexityWeights& w = ComplexityWeights()) const;
  int constant_count() const;
  /// Values of the constants, in node order (the parameters LM fits).
  std::vector<double> constants() const;
  void set_constants(const std::vector<double>& c);
  /// Largest number of simultaneously live values during postfix evaluation.
  int stack_depth() const;
  bool valid() const;
  bool operator==(const Expression& o) const { return nodes == o.nodes; }
};

/// size[i]: node count of the subtree whose root is node i (it spans [i - size[i] + 1, i]).
std::vector<int> subtree_sizes(const Expression& e);

/// Sympy-readable infix: `x1*cos(x2 - 3.2)`, `r**2`, `1/(x)`; names[f] names column f.
std::string to_infix(const Expression& e, const std::vector<std::string>& names);
/// LaTeX: `x_{1} \cos{\left(x_{2} - 3.2 \right)}`-style.
std::string to_latex(const Expression& e, const std::vector<std::string>& names);
/// A C++ expression over variables named after the columns (std:: functions).
std::string to_cpp(const Expression& e, const std::vector<std::string>& names);
/// The shortest decimal text that reads back to exactly `v`.
std::string format_number(double v);

}  // namespace phyflow::sr
