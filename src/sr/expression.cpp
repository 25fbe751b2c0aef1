// Postfix expressions: operator table, structural queries and the three printers
// (sympy infix, LaTeX, C++), see expression.hpp.
#include "phyflow/sr/expression.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>

#include "phyflow/core/error.hpp"

namespace phyflow::sr {

namespace {
const char* const names_of_ops[op_count] = {"const", "var",    "add",  "sub", "mul", "div",  "pow",
                                            "exp",   "log",    "sin",  "cos", "tan", "tanh", "sqrt",
                                            "abs",   "square", "cube", "inv", "neg"};
}  // namespace

bool operator==(const Node& a, const Node& b) {
  if (a.op != b.op) return false;
  if (a.op == Op::variable) return a.feature == b.feature;
  if (a.op == Op::constant) return a.value == b.value || (a.value != a.value && b.value != b.value);
  return true;
}

int arity(Op op) {
  switch (op) {
    case Op::constant:
    case Op::variable:
      return 0;
    case Op::add:
    case Op::sub:
    case Op::mul:
    case Op::div:
    case Op::pow:
      return 2;
    default:
      return 1;
  }
}

const char* op_name(Op op) { return names_of_ops[int(op)]; }

bool parse_op(const std::string& name, Op& out) {
  for (int i = int(Op::add); i < op_count; ++i)
    if (name == names_of_ops[i]) {
      out = Op(i);
      return true;
    }
  return false;
}

std::string operator_names() {
  std::string s;
  for (int i = int(Op::add); i < op_count; ++i)
    s += (s.empty() ? "" : ", ") + std::string(names_of_ops[i]);
  return s;
}

int Expression::complexity(const ComplexityWeights& w) const {
  int c = 0;
  for (const Node& n : nodes) c += w.of[int(n.op)];
  return c;
}

int Expression::constant_count() const {
  int k = 0;
  for (const Node& n : nodes) k += n.op == Op::constant;
  return k;
}

std::vector<double> Expression::constants() const {
  std::vector<double> c;
  for (const Node& n : nodes)
    if (n.op == Op::constant) c.push_back(n.value);
  return c;
}

void Expression::set_constants(const std::vector<double>& c) {
  std::size_t k = 0;
  for (Node& n : nodes)
    if (n.op == Op::constant) n.value = c.at(k++);
}

int Expression::stack_depth() const {
  int depth = 0, most = 0;
  for (const Node& n : nodes) {
    depth += 1 - arity(n.op);
    most = std::max(most, depth);
  }
  return most;
}

bool Expression::valid() const {
  int depth = 0;
  for (const Node& n : nodes) {
    if (int(n.op) >= op_count) return false;
    depth -= arity(n.op);
    if (depth < 0) return false;
    ++depth;
  }
  return depth == 1;
}

std::vector<int> subtree_sizes(const Expression& e) {
  std::vector<int> size(e.size());
  for (std::size_t i = 0; i < e.size(); ++i) {
    int s = 1, child_end = int(i) - 1;
    for (int k = 0; k < arity(e.nodes[i].op); ++k) {
      s += size[std::size_t(child_end)];
      child_end -= size[std::size_t(child_end)];
    }
    size[i] = s;
  }
  return size;
}

std::string format_number(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  // "2" would be an integer in C++ (1/2 == 0) and in sympy an exact Integer: keep it a float.
  if (std::isfinite(v) && s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

namespace {

/// Text plus the binding strength of its outermost operator, so that parentheses appear only
/// where the structure needs them (sums 1, products 2, unary minus 3, powers 4, atoms 9).
struct Piece {
  std::string text;
  int prec;
};

enum class Style { sympy, latex, cpp };

std::string latex_name(const std::string& name) {
  // x1 -> x_{1}, m_2 -> m_{2}: the usual subscripts.
  std::size_t i = name.size();
  while (i > 0 && std::isdigit(static_cast<unsigned char>(name[i - 1]))) --i;
  if (i > 0 && i < name.size() && name[i - 1] != '_')
    return name.substr(0, i) + "_{" + name.substr(i) + "}";
  const std::size_t u = name.find('_');
  if (u != std::string::npos && u > 0 && u + 1 < name.size())
    return name.substr(0, u) + "_{" + name.substr(u + 1) + "}";
  return name;
}

std::string wrap(const Piece& p, bool paren, Style style) {
  if (!paren) return p.text;
  return style == Style::latex ? "\\left(" + p.text + "\\right)" : "(" + p.text + ")";
}

std::string print(const Expression& e, const std::vector<std::string>& names, Style style) {
  std::vector<Piece> st;
  for (const Node& n : e.nodes) {
    if (n.op == Op::constant) {
      std::string t = format_number(n.value);
      if (style == Style::latex) {
        const std::size_t ep = t.find('e');
        if (ep != std::string::npos) {
          const int ex = std::atoi(t.c_str() + ep + 1);
          t = t.substr(0, ep) + " \\cdot 10^{" + std::to_string(ex) + "}";
        }
      }
      st.push_back({t, n.value < 0 ? 3 : 9});
      continue;
    }
    if (n.op == Op::variable) {
      const std::string name =
          n.feature < names.size() ? names[n.feature] : "x" + std::to_string(n.feature);
      st.push_back({style == Style::latex ? latex_name(name) : name, 9});
      continue;
    }
    if (st.size() < std::size_t(arity(n.op)))
      throw runtime_error("sr: printing an invalid expression");
    if (arity(n.op) == 2) {
      const Piece b = st.back();
      st.pop_back();
      const Piece a = st.back();
      st.pop_back();
      Piece r;
      switch (n.op) {
        case Op::add:
        case Op::sub: {
          // a + (-2) prints as a - 2 and a - (-2) as a + 2: the same IEEE result.
          const Node& right = e.nodes[&n - e.nodes.data() - 1];
          const bool flip = right.op == Op::constant && right.value < 0;
          const bool plus = (n.op == Op::add) != flip;
          const Piece bb = flip ? Piece{b.text.substr(1), 9} : b;
          r = {wrap(a, a.prec < 1, style) + (plus ? " + " : " - ") +
                   wrap(bb, bb.prec <= 1 || bb.prec == 3, style),
               1};
          break;
        }
        case Op::mul: {
          const char* times = style == Style::latex ? " \\cdot " : "*";
          r = {wrap(a, a.prec < 2, style) + times + wrap(b, b.prec <= 3, style), 2};
          break;
        }
        case Op::div:
          if (style == Style::latex)
            r = {"\\frac{" + a.text + "}{" + b.text + "}", 9};
          else
            r = {wrap(a, a.prec < 2, style) + "/" + wrap(b, b.prec <= 3, style), 2};
          break;
        default:  // pow
          if (style == Style::latex)
            r = {"{" + wrap(a, a.prec <= 4, style) + "}^{" + b.text + "}", 4};
          else if (style == Style::cpp)
            r = {"std::pow(" + a.text + ", " + b.text + ")", 9};
          else
            r = {wrap(a, a.prec <= 4, style) + "**" + wrap(b, b.prec <= 4, style), 4};
          break;
      }
      st.push_back(r);
      continue;
    }
    const Piece a = st.back();
    st.pop_back();
    Piece r;
    const bool latex = style == Style::latex, cpp = style == Style::cpp;
    auto call = [&](const char* f) {
      if (latex) return Piece{std::string("\\") + f + "{\\left(" + a.text + " \\right)}", 9};
      return Piece{std::string(cpp ? "std::" : "") + f + "(" + a.text + ")", 9};
    };
    switch (n.op) {
      case Op::exp:
        r = latex ? Piece{"e^{" + a.text + "}", 4} : call("exp");
        break;
      case Op::log:
        r = call("log");
        break;
      case Op::sin:
        r = call("sin");
        break;
      case Op::cos:
        r = call("cos");
        break;
      case Op::tan:
        r = call("tan");
        break;
      case Op::tanh:
        r = call("tanh");
        break;
      case Op::sqrt:
        r = latex ? Piece{"\\sqrt{" + a.text + "}", 9} : call("sqrt");
        break;
      case Op::abs:
        r = latex ? Piece{"\\left|" + a.text + "\\right|", 9}
                  : Piece{std::string(cpp ? "std::fabs(" : "Abs(") + a.text + ")", 9};
        break;
      case Op::square:
      case Op::cube: {
        const char* p = n.op == Op::square ? "2" : "3";
        if (latex)
          r = {"{" + wrap(a, a.prec <= 4, style) + "}^{" + p + "}", 4};
        else if (cpp)
          r = n.op == Op::square ? Piece{"(" + a.text + ")*(" + a.text + ")", 2}
                                 : Piece{"(" + a.text + ")*(" + a.text + ")*(" + a.text + ")", 2};
        else
          r = {wrap(a, a.prec <= 4, style) + "**" + p, 4};
        break;
      }
      case Op::inv:
        r = latex ? Piece{"\\frac{1}{" + a.text + "}", 9}
                  : Piece{std::string(cpp ? "1.0/" : "1/") + wrap(a, a.prec <= 3, style), 2};
        break;
      default:  // neg
        r = {"-" + wrap(a, a.prec <= 3, style), 3};
        break;
    }
    st.push_back(r);
  }
  if (st.size() != 1) throw runtime_error("sr: printing an invalid expression");
  return st.back().text;
}

}  // namespace

std::string to_infix(const Expression& e, const std::vector<std::string>& names) {
  return print(e, names, Style::sympy);
}
std::string to_latex(const Expression& e, const std::vector<std::string>& names) {
  return print(e, names, Style::latex);
}
std::string to_cpp(const Expression& e, const std::vector<std::string>& names) {
  return print(e, names, Style::cpp);
}

}  // namespace phyflow::sr
