// The symbolic-regression search (DESIGN.md §9): islands of populations evolved by
// regularised evolution (tournament selection, mutation or crossover, the oldest member
// replaced), constants fitted by Levenberg-Marquardt, a hall of fame per complexity, and
// migration of the best individuals between islands of a rank and along a ring of MPI ranks.
// The result is the Pareto front (complexity vs loss) and a best equation chosen by PySR's
// score. Deterministic for a given seed, rank count and island count (the thread count
// does not matter: islands evolve independently between migrations, merged in a fixed order).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "phyflow/sr/evaluate.hpp"
#include "phyflow/sr/expression.hpp"

namespace phyflow::sr {

/// Which rank sends its migrants to which: a fixed ring (rank r -> r + 1), or a ring through
/// a fresh random permutation of the ranks at every migration (the same on every rank: drawn
/// from Philox by seed and generation).
enum class Topology { ring, random };

struct SearchOptions {
  std::vector<Op> operators = {Op::add, Op::sub, Op::mul, Op::div};
  std::uint64_t seed = 1;
  int generations = 100;
  int max_complexity = 30;
  double time_limit_s = 0.0;    ///< stop (every rank at the same generation) after this; 0: none
  double loss_threshold = 0.0;  ///< stop once the best training loss is <= this; 0: off
  int islands = 4;              ///< populations per rank
  int population = 64;          ///< individuals per island
  int tournament = 6;
  double parsimony = 1e-3;  ///< fitness = loss / var(y) + parsimony * complexity
  double crossover_probability = 0.1;
  double optimize_probability = 0.25;  ///< chance that a child's constants are fitted by LM
  int lm_iterations = 8;               ///< LM steps per fit inside the search (final fits: 50)
  int lm_rows = 256;                   ///< rows of the fixed subsample LM fits on inside the search
  /// Score children on this many rows drawn per island and generation (0: all training
  /// rows); the hall of fame and the final front always use all rows. For large data.
  int batch_rows = 0;
  int migration_interval = 5;  ///< generations between migrations
  int migrants = 4;            ///< individuals each island sends and receives per migration
  Topology topology = Topology::ring;
  double validation_fraction = 0.0;  ///< rows held out (chosen by Philox from the seed)
  ComplexityWeights weights;
  double progress_interval_s = 0.0;  ///< seconds between progress lines on rank 0; 0: none
  int threads = 0;                   ///< OpenMP threads per rank; 0: the OpenMP default
};

/// One equation of the result.
struct Equation {
  Expression expression;
  int complexity = 0;
  double loss = 0.0;             ///< weighted MSE on the training rows
  double validation_loss = 0.0;  ///< on the held-out rows (NaN without validation)
  double score = 0.0;            ///< -d log(loss) / d complexity against the previous front entry
  std::string equation, latex, cpp;
};

struct SearchResult {
  std::vector<Equation> pareto;  ///< increasing complexity, strictly decreasing loss
  std::size_t best = 0;          ///< index into pareto (PySR's "best" model selection)
  int generations = 0;           ///< generations run (the same on every rank)
  /// "generations", "time_limit", "loss_threshold" or "signal" (a stop signal reached some
  /// rank while the caller had phyflow::signals installed)
  std::string stopped_by;
  double seconds = 0.0;
  std::uint64_t evaluations = 0;        ///< children evaluated, all ranks
  std::uint64_t node_evaluations = 0;   ///< nodes x rows evaluated, all ranks
  std::uint64_t migrants_received = 0;  ///< individuals this rank received from its ring neighbour
  std::uint64_t migrants_inserted = 0;  ///< of those, how many replaced a member of an island here
  /// Individuals in this rank's final populations whose lineage began on another rank.
  std::uint64_t foreign_lineage = 0;
  std::size_t train_rows = 0, validation_rows = 0;
};

/// Collective over `comm`: every rank passes the same data and options and gets the same
/// result. Throws input_error for unusable options or data (no rows, no features, an empty
/// operator list, a constant target).
SearchResult search(const Dataset& data, const SearchOptions& options,
                    MPI_Comm comm = MPI_COMM_WORLD);

/// PySR's selection: the front entry with the highest score among those whose loss is within
/// 1.5x of the lowest. Also fills the scores. `floor` bounds losses below (exact fits).
std::size_t choose_best(std::vector<Equation>& pareto, double floor);

}  // namespace phyflow::sr
