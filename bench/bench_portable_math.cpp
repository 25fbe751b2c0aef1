// phyflow's portable elementary functions (core/portable_math.hpp) against the C library's:
// throughput over 2^16 arguments per call of the benchmark, in the ranges phyflow uses them
// (exp of -dS <= 0, log of uniforms in (0, 1], sin/cos of 2 pi u, pow(x, -1/5)). A plain
// program (no MPI): docs/PERFORMANCE.md quotes it.
#include "phyflow/core/portable_math.hpp"

#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

namespace {

std::vector<double> arguments(double lo, double hi) {
  std::vector<double> x(1 << 16);
  double g = 0.0;
  for (double& v : x) {
    g += 0.6180339887498949;  // golden-ratio sequence: spread, and not sorted
    g -= std::floor(g);
    v = lo + (hi - lo) * g;
  }
  return x;
}

template <class F>
void run(benchmark::State& state, double lo, double hi, F f) {
  const std::vector<double> x = arguments(lo, hi);
  for (auto _ : state) {
    double sum = 0.0;
    for (double v : x) sum += f(v);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(x.size()));
}

void Exp_libm(benchmark::State& s) { run(s, -8.0, 0.0, [](double v) { return std::exp(v); }); }
void Exp_portable(benchmark::State& s) {
  run(s, -8.0, 0.0, [](double v) { return phyflow::pmath::exp(v); });
}
void Log_libm(benchmark::State& s) { run(s, 1e-9, 1.0, [](double v) { return std::log(v); }); }
void Log_portable(benchmark::State& s) {
  run(s, 1e-9, 1.0, [](double v) { return phyflow::pmath::log(v); });
}
void Cos2pi_libm(benchmark::State& s) {
  run(s, 0.0, 1.0, [](double v) { return std::cos(6.283185307179586 * v); });
}
void Cos2pi_portable(benchmark::State& s) {
  run(s, 0.0, 1.0, [](double v) { return phyflow::pmath::cos_2pi(v); });
}
void Pow_libm(benchmark::State& s) {
  run(s, 1e-4, 10.0, [](double v) { return std::pow(v, -0.2); });
}
void Pow_portable(benchmark::State& s) {
  run(s, 1e-4, 10.0, [](double v) { return phyflow::pmath::pow(v, -0.2); });
}

}  // namespace

BENCHMARK(Exp_libm);
BENCHMARK(Exp_portable);
BENCHMARK(Log_libm);
BENCHMARK(Log_portable);
BENCHMARK(Cos2pi_libm);
BENCHMARK(Cos2pi_portable);
BENCHMARK(Pow_libm);
BENCHMARK(Pow_portable);
BENCHMARK_MAIN();
