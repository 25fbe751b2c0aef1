// Islands over MPI ranks: the search runs on 1, 2 and 4 ranks, individuals migrate along the
// ring (and their descendants live on), every rank gets the same result, a second run gives
// the same result, the thread count does not change it, and a time limit stops every rank
// at the same generation with a complete result.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>

#include "phyflow/sr/search.hpp"
#include "phyflow/sr/variation.hpp"

namespace sr = phyflow::sr;
using sr::Op;

namespace {

int rank_of() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int size_of() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

/// A law the search does not solve in a few generations, so islands keep evolving.
sr::Dataset hard_data() {
  sr::Dataset d;
  d.names = {"x", "y"};
  d.x.assign(2, {});
  sr::Draws draws(99, "test-islands", 0, 0);
  for (int r = 0; r < 200; ++r) {
    const double x = 4.0 * draws.uniform() - 2.0, y = 4.0 * draws.uniform() - 2.0;
    d.x[0].push_back(x);
    d.x[1].push_back(y);
    d.y.push_back(std::exp(-0.3 * x * x) * std::sin(1.7 * y) + 0.25 * x * y * y);
  }
  return d;
}

sr::SearchOptions island_options() {
  sr::SearchOptions o;
  o.operators = {Op::add, Op::sub, Op::mul, Op::div, Op::sin, Op::exp};
  o.seed = 5;
  o.generations = 12;
  o.islands = 2;
  o.population = 32;
  o.migration_interval = 3;
  o.migrants = 3;
  o.max_complexity = 25;
  o.threads = 1;
  return o;
}

/// The front as text, identical between runs only if every equation and loss is.
std::string fingerprint(const sr::SearchResult& r) {
  std::string s;
  char buf[64];
  for (const auto& e : r.pareto) {
    std::snprintf(buf, sizeof buf, " %d %.17g ", e.complexity, e.loss);
    s += buf + e.equation + ";";
  }
  return s + " best=" + std::to_string(r.best);
}

/// True when every rank holds the same string.
bool same_on_all_ranks(const std::string& s) {
  int n = int(s.size()), nmin = 0, nmax = 0;
  MPI_Allreduce(&n, &nmin, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&n, &nmax, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (nmin != nmax) return false;
  std::string root = s;
  MPI_Bcast(root.data(), n, MPI_CHAR, 0, MPI_COMM_WORLD);
  int same = root == s, all = 0;
  MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all == 1;
}

}  // namespace

TEST(SrIslands, RunMigrateAndAgreeAcrossRanks) {
  const sr::Dataset d = hard_data();
  const sr::SearchResult r = sr::search(d, island_options(), MPI_COMM_WORLD);
  EXPECT_EQ(r.generations, 12);
  EXPECT_EQ(r.stopped_by, "generations");
  ASSERT_FALSE(r.pareto.empty());
  EXPECT_TRUE(same_on_all_ranks(fingerprint(r))) << fingerprint(r);
  // Every child is counted once, over all ranks: initial populations plus 12 generations.
  EXPECT_GE(r.evaluations, std::uint64_t(size_of() * 2 * 32 * 13));
  if (size_of() == 1) {
    EXPECT_EQ(r.migrants_received, 0u);
    EXPECT_EQ(r.foreign_lineage, 0u);
  } else {
    // 4 migrations x 2 islands x 3 migrants from the previous rank on the ring ...
    EXPECT_EQ(r.migrants_received, 4u * 2u * 3u) << "rank " << rank_of();
    // ... of which every island takes one per migration (every third of its 3 slots).
    EXPECT_EQ(r.migrants_inserted, 4u * 2u) << "rank " << rank_of();
    // Migrants or their descendants live in the final populations (somewhere).
    unsigned long long foreign = r.foreign_lineage, total = 0;
    MPI_Allreduce(&foreign, &total, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    EXPECT_GT(total, 0u);
  }
}

TEST(SrIslands, MigrationChangesTheResultOnSeveralRanks) {
  if (size_of() == 1) GTEST_SKIP() << "needs at least 2 ranks";
  const sr::Dataset d = hard_data();
  sr::SearchOptions o = island_options();
  const std::string with = fingerprint(sr::search(d, o, MPI_COMM_WORLD));
  o.migrants = 0;
  const sr::SearchResult isolated = sr::search(d, o, MPI_COMM_WORLD);
  EXPECT_EQ(isolated.migrants_received, 0u);
  EXPECT_NE(with, fingerprint(isolated)) << "migration had no effect on the result";
}

TEST(SrIslands, DeterministicForSeedRanksAndThreads) {
  const sr::Dataset d = hard_data();
  sr::SearchOptions o = island_options();
  const std::string a = fingerprint(sr::search(d, o, MPI_COMM_WORLD));
  const std::string b = fingerprint(sr::search(d, o, MPI_COMM_WORLD));
  EXPECT_EQ(a, b);
  o.threads = 2;
  const std::string c = fingerprint(sr::search(d, o, MPI_COMM_WORLD));
  EXPECT_EQ(a, c) << "the thread count changed the result";
  o.seed = 6;
  const std::string other = fingerprint(sr::search(d, o, MPI_COMM_WORLD));
  EXPECT_NE(a, other) << "the seed did not change the result";
}

TEST(SrIslands, TimeLimitStopsEveryRankAtTheSameGeneration) {
  const sr::Dataset d = hard_data();
  sr::SearchOptions o = island_options();
  o.generations = 1000000;
  o.time_limit_s = 0.3;
  const sr::SearchResult r = sr::search(d, o, MPI_COMM_WORLD);
  EXPECT_EQ(r.stopped_by, "time_limit");
  EXPECT_LT(r.generations, 1000000);
  int gmin = 0, gmax = 0;
  MPI_Allreduce(&r.generations, &gmin, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&r.generations, &gmax, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  EXPECT_EQ(gmin, gmax);
  ASSERT_FALSE(r.pareto.empty());
  EXPECT_TRUE(same_on_all_ranks(fingerprint(r)));
}

TEST(SrIslands, RandomTopologyMigratesAndIsDeterministic) {
  const sr::Dataset d = hard_data();
  sr::SearchOptions o = island_options();
  o.topology = sr::Topology::random;
  const sr::SearchResult a = sr::search(d, o, MPI_COMM_WORLD);
  const sr::SearchResult b = sr::search(d, o, MPI_COMM_WORLD);
  EXPECT_EQ(fingerprint(a), fingerprint(b));
  EXPECT_TRUE(same_on_all_ranks(fingerprint(a)));
  // Every rank still receives from exactly one rank per migration.
  EXPECT_EQ(a.migrants_received, size_of() == 1 ? 0u : 4u * 2u * 3u);
  // On 4 ranks the random rings differ from the fixed one, and so does the result (on 2
  // ranks every ring is the fixed one).
  if (size_of() >= 4) {
    o.topology = sr::Topology::ring;
    EXPECT_NE(fingerprint(a), fingerprint(sr::search(d, o, MPI_COMM_WORLD)));
  }
}
