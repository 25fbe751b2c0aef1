// Symbolic-regression deck keys shared by the sr and distill workflows (sr_keys.hpp).
#include "sr_keys.hpp"

#include "phyflow/core/error.hpp"

#include <algorithm>

namespace phyflow::workflows {

namespace {

std::vector<std::string> operator_choices() {
  std::vector<std::string> ops;
  for (int i = int(sr::Op::add); i < sr::op_count; ++i) ops.push_back(sr::op_name(sr::Op(i)));
  return ops;
}

std::string leaf_or_op_name(int i) {
  return i == int(sr::Op::constant)   ? "constant"
         : i == int(sr::Op::variable) ? "variable"
                                      : sr::op_name(sr::Op(i));
}

}  // namespace

void add_sr_search_keys(config::Schema& s, const std::string& operators_key,
                        const std::string& p, const std::string& complexity_prefix) {
  s.string_list(operators_key, std::vector<std::string>{"add", "sub", "mul", "div"},
                operator_choices(), "operators expressions may use");
  s.integer(p + "generations", 100, 0, 1e9,
            "generations (each island: population births per generation)");
  s.integer(p + "max_complexity", 30, 1, 1000, "largest complexity (node count) of an equation");
  s.real(p + "time_limit_s", 0.0, 0.0, std::nullopt,
         "stop after this many seconds (all ranks at the same generation, results complete); 0: none");
  s.real(p + "loss_threshold", 0.0, 0.0, std::nullopt,
         "stop once the best training loss (weighted MSE) is at or below this; 0: never");
  s.integer(p + "islands", 4, 1, 4096, "populations per MPI rank (OpenMP threads evolve them)");
  s.integer(p + "population", 64, 2, 1e6, "individuals per island");
  s.integer(p + "tournament", 6, 1, 1e6, "tournament size of the selection");
  s.real(p + "parsimony", 1e-3, 0.0, std::nullopt,
         "fitness = loss / var(target) + parsimony * complexity");
  s.real(p + "crossover_probability", 0.1, 0.0, 1.0, "chance that a birth is a crossover");
  s.real(p + "optimize_probability", 0.25, 0.0, 1.0,
         "chance that a child's constants are fitted by Levenberg-Marquardt");
  s.integer(p + "lm_iterations", 8, 0, 1000, "Levenberg-Marquardt steps per fit during the search");
  s.integer(p + "lm_rows", 256, 1, 1e9, "rows of the subsample constants are fitted on during the search");
  s.integer(p + "batch_rows", 0, 0, 1e9,
            "score children on this many rows drawn afresh each generation (0: all rows); the "
            "hall of fame and the front use all rows. For large data sets");
  s.integer(p + "migration_interval", 5, 1, 1e9, "generations between migrations");
  s.integer(p + "migrants", 4, 0, 1e6, "individuals each island sends and receives per migration");
  s.choice(p + "topology", "ring", {"ring", "random"},
           "where a rank's migrants go: the next rank, or the next in a random ring drawn "
           "afresh (from the seed) at every migration");
  s.integer(p + "threads", 0, 0, 4096, "OpenMP threads per rank (0: OMP_NUM_THREADS)");
  // Per-operator complexity (PySR's complexity_of_operators): node count by default.
  for (int i = 0; i < sr::op_count; ++i) {
    const std::string name = leaf_or_op_name(i);
    s.integer(complexity_prefix + name, 1, 1, 100, "complexity of one " + name + " node");
  }
}

sr::SearchOptions sr_search_options(const config::Deck& deck, const std::string& operators_key,
                                    const std::string& p, const std::string& complexity_prefix) {
  sr::SearchOptions o;
  o.operators.clear();
  for (const std::string& name : deck.string_list(operators_key)) {
    sr::Op op;
    if (!sr::parse_op(name, op))
      throw input_error("deck '" + deck.origin() + "': unknown operator '" + name + "' in " +
                        operators_key + " (known: " + sr::operator_names() + ")");
    if (std::find(o.operators.begin(), o.operators.end(), op) == o.operators.end())
      o.operators.push_back(op);
  }
  o.seed = std::uint64_t(deck.integer("seed"));
  o.generations = int(deck.integer(p + "generations"));
  o.max_complexity = int(deck.integer(p + "max_complexity"));
  o.time_limit_s = deck.real(p + "time_limit_s");
  o.loss_threshold = deck.real(p + "loss_threshold");
  o.islands = int(deck.integer(p + "islands"));
  o.population = int(deck.integer(p + "population"));
  o.tournament = int(deck.integer(p + "tournament"));
  o.parsimony = deck.real(p + "parsimony");
  o.crossover_probability = deck.real(p + "crossover_probability");
  o.optimize_probability = deck.real(p + "optimize_probability");
  o.lm_iterations = int(deck.integer(p + "lm_iterations"));
  o.lm_rows = int(deck.integer(p + "lm_rows"));
  o.migration_interval = int(deck.integer(p + "migration_interval"));
  o.batch_rows = int(deck.integer(p + "batch_rows"));
  o.migrants = int(deck.integer(p + "migrants"));
  o.threads = int(deck.integer(p + "threads"));
  o.topology = deck.string(p + "topology") == "random" ? sr::Topology::random : sr::Topology::ring;
  if (deck.has("progress.interval")) o.progress_interval_s = deck.real("progress.interval");
  for (int i = 0; i < sr::op_count; ++i)
    o.weights.of[i] = int(deck.integer(complexity_prefix + leaf_or_op_name(i)));
  return o;
}

}  // namespace phyflow::workflows
