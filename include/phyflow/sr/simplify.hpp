// Algebraic simplification of postfix expressions: constant folding, neutral elements
// (x + 0, x*1, x/1, x**1), absorbing ones (x*0, 0/x), x - x and x/x, neg(neg x), merging of
// constants across one level of + and * ((x + 2) + 3 -> x + 5), constant factors of products
// and quotients moved outward so they merge ((2x)(3y) -> (xy)6), and a canonical operand order
// for + and * so that equivalent forms (x*y, y*x) become the same array and merge in the hall
// of fame. Values are preserved wherever the original expression is valid (up to rounding
// where constants merge); the result is never more complex than the input and uses no
// operator the input did not, except neg (for 0 - x, x*(-1) and x/(-1)).
#pragma once

#include "phyflow/sr/expression.hpp"

namespace phyflow::sr {

Expression simplify(const Expression& e);

/// Total order on expressions (node by node: operator, column, value), used for the
/// canonical operand order and to break ties deterministically.
bool structurally_less(const Expression& a, const Expression& b);

}  // namespace phyflow::sr
