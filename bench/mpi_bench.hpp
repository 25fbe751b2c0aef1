// What the MPI benchmark programs share: min/max statistics over repetitions and running the
// registered benchmarks on every rank with only rank 0 reporting.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

namespace phyflow::bench {

/// Best and worst of the repetitions (--benchmark_repetitions=N): on a shared machine the
/// best time is the one least disturbed by other processes.
inline benchmark::internal::Benchmark* with_extremes(benchmark::internal::Benchmark* b) {
  return b
      ->ComputeStatistics(
          "min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); })
      ->ComputeStatistics("max", [](const std::vector<double>& v) {
        return *std::max_element(v.begin(), v.end());
      });
}

/// Runs the registered benchmarks on every rank (they synchronise inside); only `rank` 0
/// prints. Then benchmark::Shutdown().
inline void run_benchmarks(int rank) {
  class Silent : public benchmark::BenchmarkReporter {
   public:
    bool ReportContext(const Context&) override { return true; }
    void ReportRuns(const std::vector<Run>&) override {}
  };
  if (rank == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    Silent silent;
    benchmark::RunSpecifiedBenchmarks(&silent);
  }
  benchmark::Shutdown();
}

}  // namespace phyflow::bench
