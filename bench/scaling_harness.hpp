// Strong scaling of a training step at a fixed global batch, measured by interleaving inside
// one 2-rank job (bench_flow_scaling, bench_gnn_scaling): each round times a block of steps of
// a trainer on both ranks (MPI_COMM_WORLD, half the batch each), then a block of a trainer on
// rank 0 alone (MPI_COMM_SELF, the whole batch) and one at half the batch (for the fixed cost
// per step), while rank 1 waits (see rank_one_waits); and a block of both ranks training separate
// models at half the batch at once (no MPI between them), which splits the 2-rank loss into what
// the cores cost each other and what coupling them costs. The same blocks give the weak scaling
// (the batch per rank held at B/2): T1(B/2) / T2(B). On a VM whose speed drifts from second
// to second (docs/PERFORMANCE.md) separate 1-rank and 2-rank runs seconds apart differ by more
// than the effect measured; blocks a fraction of a second apart see the same machine. Prints
// each round's scaling T1(B) / (2 T2(B)), then the medians and quartiles of both scalings, and
// the median step times. Last, the same ratios from the median of every single step's time
// (rank 0's clock, all rounds pooled): a block's mean carries each stop of a VM's host in it
// (bench_cores: a vCPU stopped for 2-11 ms a few times a second on the 2-vCPU VM), a median of
// steps does not, on either side of a ratio.
#pragma once

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace phyflow::bench {

/// One optimisation step of a trainer (collective over the communicator it was made for).
using Step = std::function<void()>;
/// Makes a trainer on `comm` for the global batch `global_batch` (split evenly over comm's
/// ranks) and returns its step; the step owns the trainer.
using MakeStep = std::function<Step(MPI_Comm comm, std::int64_t global_batch)>;

struct ScalingArgs {
  std::int64_t batch = 64;  ///< global batch
  int block = 20;           ///< timed steps per block
  int rounds = 40;
};

namespace scaling_detail {

// Seconds per step of `steps` steps (collective over comm), after a few untimed ones: a core
// that slept while the other rank worked alone comes back slowly on a VM. Each step's own
// time is appended to `each` (a 2-rank step ends in a collective, so it includes the wait for
// the slower rank).
inline double time_block(const Step& step, MPI_Comm comm, int steps, std::vector<double>& each) {
  for (int i = 0; i < std::max(3, steps / 4); ++i) step();
  MPI_Barrier(comm);
  const double start = MPI_Wtime();
  double last = start;
  for (int i = 0; i < steps; ++i) {
    step();
    const double now = MPI_Wtime();
    each.push_back(now - last);
    last = now;
  }
  MPI_Barrier(comm);
  return (MPI_Wtime() - start) / steps;
}

// A barrier that sleeps while it waits: rank 1 waits out rank 0's single-rank blocks without
// spinning on its core (MPI_Barrier polls), as the other core idles in a separate 1-rank run.
inline void sleepy_barrier(MPI_Comm comm) {
  MPI_Request request;
  MPI_Ibarrier(comm, &request);
  int done = 0;
  while (MPI_Test(&request, &done, MPI_STATUS_IGNORE), !done) usleep(200);
}

// How rank 1 waits out rank 0's single-rank blocks. By default polling in MPI_Barrier, busy as a
// rank of a training job is between its steps; PHYFLOW_SCALING_REST=sleep sends it to sleep,
// idle as the other core of a 1-rank run is. Neither is exact on a VM: there a vCPU that slept
// ~0.3 s came back 6-13 % slower for the next few hundred ms, i.e. for the 2-rank block that
// follows, while a polling neighbour cost rank 0's blocks 0-2 % (bench_cores;
// docs/PERFORMANCE.md). On dedicated cores the two agree.
inline bool rank_one_sleeps() {
  const char* rest = std::getenv("PHYFLOW_SCALING_REST");
  return rest != nullptr && std::string(rest) == "sleep";
}
inline void rank_one_waits(MPI_Comm comm) {
  if (rank_one_sleeps())
    sleepy_barrier(comm);
  else
    MPI_Barrier(comm);
}

inline double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const auto i = std::size_t(pos);
  const double f = pos - double(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

}  // namespace scaling_detail

/// Reads [BATCH] [BLOCK] [ROUNDS] from argv[1..3] over `defaults`. On 2 ranks with valid
/// numbers returns 0; otherwise rank 0 prints one message naming `usage` and it returns 2.
inline int parse_scaling_args(int argc, char** argv, int rank, int ranks, const char* name,
                              const char* usage, ScalingArgs& a) {
  if (ranks != 2) {
    if (rank == 0) std::fprintf(stderr, "%s: run on 2 ranks (mpiexec -n 2)\n", name);
    return 2;
  }
  if (argc > 1) a.batch = std::atoll(argv[1]);
  if (argc > 2) a.block = std::atoi(argv[2]);
  if (argc > 3) a.rounds = std::atoi(argv[3]);
  if (a.batch < 2 || a.batch % 2 != 0 || a.block < 1 || a.rounds < 1) {
    if (rank == 0)
      std::fprintf(stderr,
                   "%s: BATCH must be even and >= 2, BLOCK and ROUNDS >= 1 (usage: %s)\n", name,
                   usage);
    return 2;
  }
  return 0;
}

/// The interleaved measurement (collective over MPI_COMM_WORLD, 2 ranks); rank 0 prints.
inline void run_scaling(int rank, const ScalingArgs& a, const MakeStep& make) {
  using namespace scaling_detail;
  const std::int64_t B = a.batch;
  const Step two = make(MPI_COMM_WORLD, B);
  // Each rank alone at half the batch, both at once: what the two cores give without coupling.
  const Step apart = make(MPI_COMM_SELF, B / 2);
  Step one, half;
  if (rank == 0) {
    one = make(MPI_COMM_SELF, B);
    half = make(MPI_COMM_SELF, B / 2);
  }
  std::vector<double> t1, t2, th, ta0, ta1, scaling, weak;
  std::vector<double> e1, e2, eh, ea, warm;  // every step's time (rank 0), rounds pooled
  for (int r = -1; r < a.rounds; ++r) {  // round -1 warms up
    const double s2 = time_block(two, MPI_COMM_WORLD, a.block, r < 0 ? warm : e2);
    MPI_Barrier(MPI_COMM_WORLD);
    const double own = time_block(apart, MPI_COMM_SELF, a.block, r < 0 ? warm : ea);
    double each_rank[2] = {0, 0};
    MPI_Gather(&own, 1, MPI_DOUBLE, each_rank, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    double s1 = 0, sh = 0;
    if (rank == 0) {
      s1 = time_block(one, MPI_COMM_SELF, a.block, r < 0 ? warm : e1);
      sh = time_block(half, MPI_COMM_SELF, a.block, r < 0 ? warm : eh);
    }
    rank_one_waits(MPI_COMM_WORLD);
    if (r < 0 || rank != 0) continue;
    t1.push_back(s1);
    t2.push_back(s2);
    th.push_back(sh);
    ta0.push_back(each_rank[0]);
    ta1.push_back(each_rank[1]);
    scaling.push_back(s1 / (2 * s2));
    weak.push_back(sh / s2);
    std::printf(
        "round %3d: T1(%lld) %.2f ms, T1(%lld) %.2f ms, T2(%lld) %.2f ms: scaling %.0f %%\n", r + 1,
        (long long)B, 1e3 * s1, (long long)(B / 2), 1e3 * sh, (long long)B, 1e3 * s2,
        100 * s1 / (2 * s2));
    std::fflush(stdout);
  }
  if (rank != 0) return;
  std::printf("\nrank 1 %s rank 0's single-rank blocks (PHYFLOW_SCALING_REST=%s)\n",
              rank_one_sleeps() ? "slept through" : "polled in a barrier through",
              rank_one_sleeps() ? "sleep" : "poll, the default; sleep");
  const double m1 = quantile(t1, 0.5), mh = quantile(th, 0.5), m2 = quantile(t2, 0.5);
  std::printf(
      "global batch %lld, %d rounds of %d steps: 2-rank scaling median %.1f %% "
      "(quartiles %.1f-%.1f %%)\n",
      (long long)B, a.rounds, a.block, 100 * quantile(scaling, 0.5), 100 * quantile(scaling, 0.25),
      100 * quantile(scaling, 0.75));
  std::printf(
      "weak scaling (%lld per rank on 1 and 2 ranks): T1(%lld) / T2(%lld) median %.1f %% "
      "(quartiles %.1f-%.1f %%)\n",
      (long long)(B / 2), (long long)(B / 2), (long long)B, 100 * quantile(weak, 0.5),
      100 * quantile(weak, 0.25), 100 * quantile(weak, 0.75));
  std::printf(
      "median step: 1 rank %.2f ms at %lld, %.2f ms at %lld (fixed cost 2 T(B/2) - "
      "T(B) = %.2f ms); 2 ranks %.2f ms\n",
      1e3 * m1, (long long)B, 1e3 * mh, (long long)(B / 2), 1e3 * (2 * mh - m1), 1e3 * m2);
  // Both ranks training their own models at B/2 at once, no MPI between them: rank 0's block
  // against rank 0's alone (same core, same batch) says whether the other core's work slows it;
  // rank 1's against rank 0's whether the two cores run at the same speed. (The slower of the
  // two blocks, printed here before, carries the noise of both: on a 2-vCPU VM it read 8-20 %
  // where neither rank's own median moved; docs/PERFORMANCE.md.)
  const double a0 = quantile(ta0, 0.5), a1 = quantile(ta1, 0.5);
  std::printf(
      "both ranks alone at %lld at once (no MPI between them): rank 0 %.2f ms (%+.0f %% against "
      "rank 0 alone), rank 1 %.2f ms (%+.0f %% against rank 0)\n",
      (long long)(B / 2), 1e3 * a0, 100 * (a0 / mh - 1), 1e3 * a1, 100 * (a1 / a0 - 1));
  // What caps the strong scaling T1(B) / 2 T2(B), one factor at a time (medians).
  std::printf(
      "strong scaling if coupling the ranks were free: T1(%lld) / 2 T1(%lld) = %.1f %% (the "
      "fixed cost); coupling them (the all-reduce, the gather, each step's wait for the slower "
      "rank) costs %.0f %% over the slower rank's block at once\n",
      (long long)B, (long long)(B / 2), 100 * m1 / (2 * mh), 100 * (m2 / std::max(a0, a1) - 1));
  // The same from the median single step (ea: rank 0's steps; no rank waits for the other in
  // that block).
  const double p1 = quantile(e1, 0.5), ph = quantile(eh, 0.5), p2 = quantile(e2, 0.5),
               pa = quantile(ea, 0.5);
  std::printf(
      "median single step (%zu steps each): 1 rank %.2f ms at %lld, %.2f ms at %lld; 2 ranks "
      "%.2f ms; rank 0 at %lld while both train apart %.2f ms: strong scaling T1(%lld) / 2 "
      "T2(%lld) = "
      "%.1f %%, weak %.1f %%; fixed-cost cap %.1f %%, the other core's work slows rank 0 by "
      "%.0f %%, coupling costs %.0f %%\n",
      e2.size(), 1e3 * p1, (long long)B, 1e3 * ph, (long long)(B / 2), 1e3 * p2, (long long)(B / 2),
      1e3 * pa, (long long)B, (long long)B, 100 * p1 / (2 * p2), 100 * ph / p2, 100 * p1 / (2 * ph),
      100 * (pa / ph - 1), 100 * (p2 / pa - 1));
}

}  // namespace phyflow::bench
