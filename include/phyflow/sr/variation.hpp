// Variation operators of the search on postfix arrays: random expressions (grow method),
// mutations (point, subtree, hoist, insert, delete, constant perturbation) and subtree
// crossover. Random numbers come from Philox keyed by (seed, island, generation) and a draw
// counter (DESIGN.md §4), so an island's evolution depends on nothing but its key.
#pragma once

#include <cstdint>
#include <vector>

#include "phyflow/core/rng.hpp"
#include "phyflow/sr/expression.hpp"

namespace phyflow::sr {

/// A sequence of uniform draws from one Philox stream at a fixed (index, base step).
class Draws {
 public:
  Draws(std::uint64_t seed, const char* purpose, std::uint64_t index, std::uint64_t step)
      : stream_(seed, rng::purpose(purpose)), index_(index), step_(step << 24) {}
  double uniform();  ///< [0, 1)
  int below(int n);  ///< 0 .. n-1
  double normal();   ///< standard normal (Box-Muller)
  bool chance(double p) { return uniform() < p; }

 private:
  std::uint32_t word();
  rng::Stream stream_;
  std::uint64_t index_, step_;
  rng::Words buf_{};
  int left_ = 0;
};

/// What variation may build: the operators of the deck split by arity, the number of
/// columns, and the complexity bound.
struct Grammar {
  std::vector<Op> unary, binary;
  int features = 1;
  int max_complexity = 30;
  ComplexityWeights weights;
  /// Builds the grammar from a list of operators (leaves excluded).
  Grammar(const std::vector<Op>& operators, int features, int max_complexity,
          const ComplexityWeights& weights = ComplexityWeights());
};

enum class Mutation { point, subtree, hoist, insert, remove, constant, count };
const char* mutation_name(Mutation m);

/// A random expression of at most `max_depth` operator levels (grow method).
Expression random_expression(const Grammar& g, Draws& d, int max_depth);
/// A random leaf: a column (2/3) or a constant N(0, 1) (1/3).
Node random_leaf(const Grammar& g, Draws& d);
/// One mutation of `e`, chosen by `kind`; the result is valid and within max_complexity (if
/// no such variant is found in a few tries, `e` is returned unchanged).
Expression mutate(const Expression& e, Mutation kind, const Grammar& g, Draws& d);
/// Swaps a random subtree of `a` with one of `b`; children within max_complexity (the
/// parents themselves when no such pair is found in a few tries).
std::pair<Expression, Expression> crossover(const Expression& a, const Expression& b,
                                            const Grammar& g, Draws& d);

}  // namespace phyflow::sr
