// Island search over MPI ranks and OpenMP threads (see search.hpp).
//
// One generation of an island is `population` births: a tournament winner is mutated (or two
// winners crossed over), the child is simplified, sometimes gets its constants fitted by LM
// on a fixed subsample, is scored on the training rows and replaces the oldest member
// (regularised evolution, Real et al. 2019, as in PySR). Every `migration_interval`
// generations each island's best go to the rank's pool and the rank's pool to the next rank
// on the ring; islands then replace random members with pool entries. Ranks agree on
// stopping once per generation (one MPI_Allreduce carrying rank 0's clock decision and the
// best loss), so all ranks stop at the same generation and write complete results.
#include "phyflow/sr/search.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <sstream>

#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/progress.hpp"
#include "phyflow/core/signals.hpp"
#include "phyflow/sr/constant_fit.hpp"
#include "phyflow/sr/simplify.hpp"
#include "phyflow/sr/variation.hpp"

namespace phyflow::sr {

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

struct Individual {
  Expression expr;
  double loss = inf;
  int complexity = 0;
  std::uint64_t birth = 0;
  int origin_rank = 0;  ///< rank where the lineage began (kept through mutation)
};

/// Best individual per complexity.
class HallOfFame {
 public:
  explicit HallOfFame(int max_complexity) : slots_(std::size_t(max_complexity) + 1) {}
  void insert(const Individual& ind) {
    if (!std::isfinite(ind.loss) || ind.complexity < 1 || ind.complexity >= int(slots_.size()))
      return;
    auto& s = slots_[std::size_t(ind.complexity)];
    if (!s || ind.loss < s->loss || (ind.loss == s->loss && structurally_less(ind.expr, s->expr)))
      s = ind;
  }
  /// Whether `ind` (by its loss as given) would take or beat its complexity's slot.
  bool would_improve(const Individual& ind) const {
    if (!std::isfinite(ind.loss) || ind.complexity < 1 || ind.complexity >= int(slots_.size()))
      return false;
    const auto& s = slots_[std::size_t(ind.complexity)];
    return !s || ind.loss <= s->loss;
  }
  std::vector<Individual> members() const {
    std::vector<Individual> m;
    for (const auto& s : slots_)
      if (s) m.push_back(*s);
    return m;
  }
  double best_loss() const {
    double b = inf;
    for (const auto& s : slots_)
      if (s) b = std::min(b, s->loss);
    return b;
  }
  const std::vector<std::optional<Individual>>& slots() const { return slots_; }

 private:
  std::vector<std::optional<Individual>> slots_;
};

struct Island {
  int id = 0;  ///< global island index: rank * islands + local index
  std::vector<Individual> pop;
  HallOfFame hof{1};
  Evaluator ev;
  std::uint64_t births = 0, evaluations = 0;
};

// ---- serialisation of individuals for MPI (doubles: loss, complexity, origin, n, nodes) ----

void pack(const Individual& ind, std::vector<double>& buf) {
  buf.push_back(ind.loss);
  buf.push_back(double(ind.complexity));
  buf.push_back(double(ind.origin_rank));
  buf.push_back(double(ind.expr.size()));
  for (const Node& n : ind.expr.nodes) {
    buf.push_back(double(int(n.op)));
    buf.push_back(double(n.feature));
    buf.push_back(n.value);
  }
}

std::vector<Individual> unpack(const std::vector<double>& buf) {
  std::vector<Individual> out;
  std::size_t i = 0;
  while (i + 4 <= buf.size()) {
    Individual ind;
    ind.loss = buf[i];
    ind.complexity = int(buf[i + 1]);
    ind.origin_rank = int(buf[i + 2]);
    const std::size_t n = std::size_t(buf[i + 3]);
    i += 4;
    for (std::size_t k = 0; k < n; ++k, i += 3)
      ind.expr.nodes.push_back(Node{Op(int(buf[i])), std::uint16_t(buf[i + 1]), buf[i + 2]});
    out.push_back(std::move(ind));
  }
  return out;
}

class IslandSearch {
 public:
  IslandSearch(const Dataset& data, const SearchOptions& o, MPI_Comm comm)
      : o_(o),
        comm_(comm),
        grammar_(o.operators, int(data.features()), o.max_complexity, o.weights) {
    MPI_Comm_rank(comm, &rank_);
    MPI_Comm_size(comm, &size_);
    split_rows(data);
    double mean = 0.0, wsum = 0.0, sq = 0.0;
    for (std::size_t r = 0; r < train_.rows(); ++r) {
      const double w = train_.w.empty() ? 1.0 : train_.w[r];
      mean += w * train_.y[r];
      sq += w * train_.y[r] * train_.y[r];
      wsum += w;
    }
    mean /= wsum;
    y_var_ = std::max(sq / wsum - mean * mean, 1e-300);
    y_sq_ = sq / wsum;
  }

  SearchResult run();

 private:
  void split_rows(const Dataset& data) {
    std::vector<std::size_t> train, val;
    const rng::Stream s(o_.seed, rng::purpose("sr-validation"));
    for (std::size_t r = 0; r < data.rows(); ++r) {
      const rng::Words w = s(r, 0);
      (o_.validation_fraction > 0.0 && rng::uniform53(w.w[0], w.w[1]) < o_.validation_fraction
           ? val
           : train)
          .push_back(r);
    }
    if (train.empty()) std::swap(train, val);
    if (val.empty()) {
      train_ = data;
    } else {
      train_ = data.subset(train);
      validation_ = data.subset(val);
    }
    batched_ = o_.batch_rows > 0 && std::size_t(o_.batch_rows) < train_.rows();
    // The LM subsample: a fixed pseudo-random choice of training rows.
    if (int(train_.rows()) > o_.lm_rows) {
      std::vector<std::pair<std::uint32_t, std::size_t>> keyed;
      const rng::Stream ks(o_.seed, rng::purpose("sr-lm-rows"));
      for (std::size_t r = 0; r < train_.rows(); ++r) keyed.push_back({ks(r, 0).w[0], r});
      std::sort(keyed.begin(), keyed.end());
      std::vector<std::size_t> rows;
      for (int k = 0; k < o_.lm_rows; ++k) rows.push_back(keyed[std::size_t(k)].second);
      std::sort(rows.begin(), rows.end());
      lm_data_ = train_.subset(rows);
      lm_subsample_ = true;
    }
  }

  const Dataset& lm_data() const { return lm_subsample_ ? lm_data_ : train_; }

  double fitness(const Individual& ind) const {
    return ind.loss / y_var_ + o_.parsimony * double(ind.complexity);
  }
  bool fitter(const Individual& a, const Individual& b) const {
    const double fa = fitness(a), fb = fitness(b);
    if (fa != fb) return fa < fb;
    return structurally_less(a.expr, b.expr);
  }

  /// Simplifies, maybe fits constants, and scores a new expression.
  Individual score(Island& isl, Expression e, int origin, Draws& d, bool fit,
                   const Dataset* rows = nullptr) {
    Individual ind;
    ind.expr = simplify(e);
    if (!ind.expr.valid()) ind.expr = std::move(e);
    ind.complexity = ind.expr.complexity(o_.weights);
    ind.origin_rank = origin;
    if (fit && ind.expr.constant_count() > 0 && d.chance(o_.optimize_probability)) {
      fit_constants(ind.expr, lm_data(), isl.ev, o_.lm_iterations);
    }
    ind.loss = isl.ev.loss(ind.expr, rows ? *rows : train_);
    ++isl.evaluations;
    return ind;
  }

  void init_island(Island& isl) {
    isl.hof = HallOfFame(o_.max_complexity);
    Draws d(o_.seed, "sr-init", std::uint64_t(isl.id), 0);
    for (int i = 0; i < o_.population; ++i) {
      Individual ind = score(isl, random_expression(grammar_, d, 1 + d.below(3)), rank_, d, true);
      ind.birth = isl.births++;
      isl.hof.insert(ind);
      isl.pop.push_back(std::move(ind));
    }
  }

  std::size_t tournament(const Island& isl, Draws& d) const {
    std::size_t best = std::size_t(d.below(int(isl.pop.size())));
    for (int k = 1; k < o_.tournament; ++k) {
      const std::size_t c = std::size_t(d.below(int(isl.pop.size())));
      if (fitter(isl.pop[c], isl.pop[best])) best = c;
    }
    return best;
  }

  void replace_oldest(Island& isl, Individual child) {
    std::size_t oldest = 0;
    for (std::size_t i = 1; i < isl.pop.size(); ++i)
      if (isl.pop[i].birth < isl.pop[oldest].birth) oldest = i;
    child.birth = isl.births++;
    if (batched_ && isl.hof.would_improve(child)) {
      // Scored on a batch: the hall of fame compares losses on all training rows.
      Individual full = child;
      full.loss = isl.ev.loss(full.expr, train_);
      isl.hof.insert(full);
    } else if (!batched_) {
      isl.hof.insert(child);
    }
    isl.pop[oldest] = std::move(child);
  }

  void evolve(Island& isl, int generation) {
    Draws d(o_.seed, "sr-evolve", std::uint64_t(isl.id), std::uint64_t(generation));
    // Batching (PySR's batching): this generation's children are scored on batch_rows rows
    // drawn with replacement from (seed, island, generation).
    Dataset batch;
    const Dataset* rows = nullptr;
    if (batched_) {
      Draws b(o_.seed, "sr-batch", std::uint64_t(isl.id), std::uint64_t(generation));
      std::vector<std::size_t> pick(std::size_t(o_.batch_rows));
      for (std::size_t& r : pick) r = std::size_t(b.below(int(train_.rows())));
      batch = train_.subset(pick);
      rows = &batch;
    }
    // Relative frequencies of the mutations (point, subtree, hoist, insert, delete, constant).
    static const int weight[] = {3, 1, 1, 3, 2, 3};
    const int total = std::accumulate(std::begin(weight), std::end(weight), 0);
    int born = 0;
    while (born < o_.population) {
      if (d.chance(o_.crossover_probability)) {
        const Individual& a = isl.pop[tournament(isl, d)];
        const Individual& b = isl.pop[tournament(isl, d)];
        auto children = crossover(a.expr, b.expr, grammar_, d);
        const int oa = a.origin_rank, ob = b.origin_rank;
        Individual ca = score(isl, std::move(children.first), oa, d, true, rows);
        Individual cb = score(isl, std::move(children.second), ob, d, true, rows);
        replace_oldest(isl, std::move(ca));
        replace_oldest(isl, std::move(cb));
        born += 2;
      } else {
        const Individual& parent = isl.pop[tournament(isl, d)];
        int pick = d.below(total), kind = 0;
        while (pick >= weight[kind]) pick -= weight[kind++];
        Expression child = mutate(parent.expr, Mutation(kind), grammar_, d);
        const int origin = parent.origin_rank;
        replace_oldest(isl, score(isl, std::move(child), origin, d, true, rows));
        born += 1;
      }
    }
  }

  /// Each island's `migrants` fittest, in island order.
  std::vector<Individual> emigrants(const std::vector<Island>& islands) const {
    std::vector<Individual> pool;
    for (const Island& isl : islands) {
      std::vector<std::size_t> idx(isl.pop.size());
      std::iota(idx.begin(), idx.end(), 0);
      const std::size_t m = std::min<std::size_t>(std::size_t(o_.migrants), idx.size());
      std::partial_sort(
          idx.begin(), idx.begin() + long(m), idx.end(),
          [&](std::size_t a, std::size_t b) { return fitter(isl.pop[a], isl.pop[b]); });
      for (std::size_t k = 0; k < m; ++k) pool.push_back(isl.pop[idx[k]]);
    }
    return pool;
  }

  /// Sends `pool` to the next rank of the ring and returns what the previous rank sent.
  std::vector<Individual> ring_exchange(const std::vector<Individual>& pool, int generation) {
    if (size_ == 1) return {};
    std::vector<double> out;
    for (const Individual& ind : pool) pack(ind, out);
    int next = (rank_ + 1) % size_, prev = (rank_ + size_ - 1) % size_;
    if (o_.topology == Topology::random) {
      // A random ring: every rank draws the same permutation (Fisher-Yates from Philox).
      std::vector<int> perm(static_cast<std::size_t>(size_));
      std::iota(perm.begin(), perm.end(), 0);
      Draws d(o_.seed, "sr-topology", 0, std::uint64_t(generation));
      for (int i = size_ - 1; i > 0; --i)
        std::swap(perm[std::size_t(i)], perm[std::size_t(d.below(i + 1))]);
      const int pos = int(std::find(perm.begin(), perm.end(), rank_) - perm.begin());
      next = perm[std::size_t((pos + 1) % size_)];
      prev = perm[std::size_t((pos + size_ - 1) % size_)];
    }
    long long n_out = (long long)out.size(), n_in = 0;
    MPI_Sendrecv(&n_out, 1, MPI_LONG_LONG, next, 71, &n_in, 1, MPI_LONG_LONG, prev, 71, comm_,
                 MPI_STATUS_IGNORE);
    std::vector<double> in(static_cast<std::size_t>(n_in));
    check_mpi(MPI_Sendrecv(out.data(), int(n_out), MPI_DOUBLE, next, 72, in.data(), int(n_in),
                           MPI_DOUBLE, prev, 72, comm_, MPI_STATUS_IGNORE),
              "MPI_Sendrecv");
    return unpack(in);
  }

  void migrate(std::vector<Island>& islands, HallOfFame& rank_hof, int generation) {
    const std::vector<Individual> local = emigrants(islands);
    const std::vector<Individual> foreign = ring_exchange(local, generation);
    migrants_received_ += foreign.size();
    for (const Island& isl : islands)
      for (const Individual& ind : isl.hof.members()) rank_hof.insert(ind);
    for (const Individual& ind : foreign) rank_hof.insert(ind);
    const std::vector<Individual> hof = rank_hof.members();
    const int per_island = std::min(o_.migrants, o_.population);
    for (Island& isl : islands) {
      Draws d(o_.seed, "sr-migrate", std::uint64_t(isl.id), std::uint64_t(generation));
      for (int k = 0; k < per_island; ++k) {
        // Alternate between the neighbour rank's migrants, the other islands' and the hall
        // of fame, so every source reaches every island.
        const Individual* src = nullptr;
        const int which = k % 3;
        if (which == 0 && !foreign.empty()) {
          src = &foreign[std::size_t(d.below(int(foreign.size())))];
          ++migrants_inserted_;
        }
        if (!src && which <= 1 && islands.size() > 1) {
          const std::size_t j = std::size_t(d.below(int(local.size())));
          if (j / std::size_t(std::max(1, std::min(o_.migrants, o_.population))) !=
              std::size_t(&isl - islands.data()))
            src = &local[j];
        }
        if (!src && !hof.empty()) src = &hof[std::size_t(d.below(int(hof.size())))];
        if (!src) continue;
        Individual m = *src;
        m.birth = isl.births++;
        isl.pop[std::size_t(d.below(int(isl.pop.size())))] = std::move(m);
      }
    }
  }

  /// Every rank's hall of fame, merged in rank order (the same on every rank).
  HallOfFame global_hof(const HallOfFame& rank_hof) {
    std::vector<double> mine;
    for (const Individual& ind : rank_hof.members()) pack(ind, mine);
    int n = int(mine.size());
    std::vector<int> counts(static_cast<std::size_t>(size_)),
        displs(static_cast<std::size_t>(size_));
    check_mpi(MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, comm_), "MPI_Allgather");
    int total = 0;
    for (int r = 0; r < size_; ++r) displs[std::size_t(r)] = total, total += counts[std::size_t(r)];
    std::vector<double> all(static_cast<std::size_t>(total));
    check_mpi(MPI_Allgatherv(mine.data(), n, MPI_DOUBLE, all.data(), counts.data(), displs.data(),
                             MPI_DOUBLE, comm_),
              "MPI_Allgatherv");
    HallOfFame g(o_.max_complexity);
    for (const Individual& ind : unpack(all)) g.insert(ind);
    return g;
  }

  std::string progress_text(const HallOfFame& hof) const {
    std::ostringstream s;
    s.precision(3);
    for (const auto& slot : hof.slots())
      if (slot) s << " " << slot->complexity << ":" << slot->loss;
    return s.str();
  }

  SearchOptions o_;
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  Grammar grammar_;
  Dataset train_, validation_, lm_data_;
  bool lm_subsample_ = false;
  bool batched_ = false;  ///< children scored on batches of o_.batch_rows rows
  double y_var_ = 1.0, y_sq_ = 1.0;
  std::uint64_t migrants_received_ = 0, migrants_inserted_ = 0;
};

SearchResult IslandSearch::run() {
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<Island> islands(std::size_t(o_.islands));
  for (int i = 0; i < o_.islands; ++i) islands[std::size_t(i)].id = rank_ * o_.islands + i;
  const int threads = o_.threads > 0 ? o_.threads : omp_get_max_threads();

#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int i = 0; i < o_.islands; ++i) init_island(islands[std::size_t(i)]);

  HallOfFame rank_hof(o_.max_complexity);
  SearchResult res;
  res.stopped_by = "generations";
  double last_print = 0.0;
  int g = 0;
  while (g < o_.generations) {
    ++g;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int i = 0; i < o_.islands; ++i) evolve(islands[std::size_t(i)], g);
    if (g % o_.migration_interval == 0) migrate(islands, rank_hof, g);
    for (const Island& isl : islands)
      for (const Individual& ind : isl.hof.members()) rank_hof.insert(ind);

    // Stop decision, one reduction: -2 if a stop signal (SIGTERM/SIGUSR1, installed by the
    // caller) reached any rank, -1 if rank 0's clock passed the limit; and the best loss.
    double v[2] = {signals::stop_requested()                                             ? -2.0
                   : rank_ == 0 && o_.time_limit_s > 0.0 && elapsed() >= o_.time_limit_s ? -1.0
                                                                                         : 0.0,
                   rank_hof.best_loss()};
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_DOUBLE, MPI_MIN, comm_), "MPI_Allreduce");
    const bool by_signal = v[0] <= -2.0, by_time = v[0] < 0.0 && !by_signal;
    const bool by_loss = o_.loss_threshold > 0.0 && v[1] <= o_.loss_threshold;
    const bool last = by_signal || by_time || by_loss || g == o_.generations;
    if (rank_ == 0 && o_.progress_interval_s > 0.0 &&
        (last || elapsed() - last_print >= o_.progress_interval_s)) {
      last_print = elapsed();
      std::ostringstream line;
      line.precision(3);
      line << "sr: generation " << g << "/" << o_.generations << ", "
           << double(g) / std::max(elapsed(), 1e-9) << " generations/s, best loss by complexity"
           << progress_text(rank_hof) << " (rank 0)";
      log::info(line.str());
    }
    if (by_signal || by_time || by_loss) {
      res.stopped_by = by_signal ? "signal" : by_time ? "time_limit" : "loss_threshold";
      break;
    }
  }
  res.generations = g;
  // (Also covers generations = 0: the initial populations' halls of fame.)
  for (const Island& isl : islands)
    for (const Individual& ind : isl.hof.members()) rank_hof.insert(ind);

  // Final front: the global hall of fame, simplified and refitted on all training rows.
  const HallOfFame all = global_hof(rank_hof);
  Evaluator ev;
  HallOfFame refit(o_.max_complexity);
  // Losses below this are round-off: every such equation is exact (see choose_best).
  const double exact = 1e-28 * y_sq_;
  for (Individual ind : all.members()) {
    ind.expr = simplify(ind.expr);
    if (ind.expr.constant_count() > 0) fit_constants(ind.expr, train_, ev, 50);
    ind.expr = simplify(ind.expr);
    if (ind.expr.constant_count() > 0) snap_constants(ind.expr, train_, ev, exact);
    prune_exact(ind.expr, train_, ev, exact, o_.weights);
    if (ind.expr.constant_count() > 0) snap_constants(ind.expr, train_, ev, exact);
    ind.complexity = ind.expr.complexity(o_.weights);
    ind.loss = ev.loss(ind.expr, train_);
    refit.insert(ind);
  }
  double lowest = inf;
  for (const Individual& ind : refit.members()) {
    if (!(ind.loss < lowest)) continue;
    lowest = ind.loss;
    Equation eq;
    eq.expression = ind.expr;
    eq.complexity = ind.complexity;
    eq.loss = ind.loss;
    eq.validation_loss = validation_.rows() > 0 ? ev.loss(ind.expr, validation_)
                                                : std::numeric_limits<double>::quiet_NaN();
    eq.equation = to_infix(ind.expr, train_.names);
    eq.latex = to_latex(ind.expr, train_.names);
    eq.cpp = to_cpp(ind.expr, train_.names);
    res.pareto.push_back(std::move(eq));
  }
  if (res.pareto.empty())
    throw runtime_error(
        "sr: no expression could be evaluated on the data (every candidate "
        "produced NaN or inf); check the operators and the data ranges");
  // Round-off makes an exact fit's loss about (1e-16 |y|)^2; below 1e-28 <y^2> every loss
  // counts as exact, so that two exact forms score by complexity alone.
  res.best = choose_best(res.pareto, exact);

  std::uint64_t counts[2] = {0, 0};
  for (const Island& isl : islands) {
    counts[0] += isl.evaluations;
    counts[1] += isl.ev.node_evaluations;
    for (const Individual& ind : isl.pop) res.foreign_lineage += ind.origin_rank != rank_;
  }
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_UINT64_T, MPI_SUM, comm_), "MPI_Allreduce");
  res.evaluations = counts[0];
  res.node_evaluations = counts[1];
  res.migrants_received = migrants_received_;
  res.migrants_inserted = migrants_inserted_;
  res.train_rows = train_.rows();
  res.validation_rows = validation_.rows();
  res.seconds = elapsed();
  return res;
}

}  // namespace

std::size_t choose_best(std::vector<Equation>& pareto, double floor) {
  if (pareto.empty()) return 0;
  double lowest = inf;
  for (std::size_t i = 0; i < pareto.size(); ++i) {
    lowest = std::min(lowest, pareto[i].loss);
    pareto[i].score = 0.0;
    if (i == 0) continue;
    const double l1 = std::log(std::max(pareto[i].loss, floor));
    const double l0 = std::log(std::max(pareto[i - 1].loss, floor));
    pareto[i].score = -(l1 - l0) / double(pareto[i].complexity - pareto[i - 1].complexity);
  }
  std::size_t best = pareto.size() - 1;
  double best_score = -inf;
  for (std::size_t i = 0; i < pareto.size(); ++i)
    if (pareto[i].loss <= 1.5 * std::max(lowest, floor) && pareto[i].score > best_score) {
      best = i;
      best_score = pareto[i].score;
    }
  return best;
}

SearchResult search(const Dataset& data, const SearchOptions& options, MPI_Comm comm) {
  if (data.rows() == 0) throw input_error("sr: the data set has no rows");
  if (data.features() == 0) throw input_error("sr: the data set has no feature columns");
  if (data.features() > 65535) throw input_error("sr: more than 65535 feature columns");
  for (const auto& col : data.x)
    if (col.size() != data.rows()) throw input_error("sr: feature columns of unequal length");
  if (!data.w.empty() && data.w.size() != data.rows())
    throw input_error("sr: the weights column has a different length than the target");
  if (options.operators.empty()) throw input_error("sr: no operators given");
  if (options.population < 2 || options.islands < 1 || options.tournament < 1 ||
      options.migration_interval < 1 || options.max_complexity < 1 || options.generations < 0)
    throw input_error(
        "sr: population >= 2, islands, tournament, migration interval and "
        "max complexity >= 1 are required");
  bool constant = true;
  for (double v : data.y) constant = constant && v == data.y.front();
  if (constant)
    throw input_error("sr: the target '" + data.target + "' is constant (" +
                      format_number(data.y.front()) + "); there is nothing to regress");
  return IslandSearch(data, options, comm).run();
}

}  // namespace phyflow::sr
