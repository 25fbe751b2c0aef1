// Symbolic-regression evaluation speed: the x1*cos(x2 - 3.2) on 100 rows
// (DynamicExpressions.jl, PySR's evaluator: about 607 ns; target <= 300 ns), and node
// evaluations per second on 10^4 rows for a fixed mix of 200 random expressions valid on the
// data (arithmetic only; with sin, cos, exp, log, sqrt), plus the loss (evaluation fused
// with the squared error). PHYFLOW_SIMD=generic|avx2 caps the code path.
//
//   build/bench/bench_sr_eval --benchmark_min_time=0.5s
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "phyflow/sr/evaluate.hpp"
#include "phyflow/sr/variation.hpp"

namespace {

namespace sr = phyflow::sr;
using sr::Node;
using sr::Op;

sr::Dataset uniform_data(int features, int rows) {
  sr::Dataset d;
  sr::Draws draws(1, "bench-data", 0, 0);
  d.x.assign(std::size_t(features), std::vector<double>(std::size_t(rows)));
  for (int f = 0; f < features; ++f) {
    d.names.push_back("x" + std::to_string(f + 1));
    for (int r = 0; r < rows; ++r)
      d.x[std::size_t(f)][std::size_t(r)] = 4.0 * draws.uniform() - 2.0;
  }
  d.y.assign(std::size_t(rows), 0.5);
  return d;
}

void BM_x1_cos_x2_minus_3_2(benchmark::State& state) {
  const sr::Dataset d = uniform_data(2, int(state.range(0)));
  sr::Expression e;
  e.nodes = {Node::variable(0),      Node::variable(1),      Node::constant(3.2),
             Node::op_node(Op::sub), Node::op_node(Op::cos), Node::op_node(Op::mul)};
  std::vector<double> out(d.rows());
  sr::Evaluator ev;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ev.evaluate(e, d, out.data()));
    benchmark::ClobberMemory();
  }
  state.counters["rows"] = double(d.rows());
}
BENCHMARK(BM_x1_cos_x2_minus_3_2)->Arg(100)->Arg(10000);

/// 200 random expressions of up to 4 operator levels over 5 columns, valid on every row of
/// `d` (an invalid one stops early and would inflate the rate).
std::vector<sr::Expression> mix(const std::vector<Op>& ops, const sr::Dataset& d) {
  sr::Grammar g(ops, 5, 40);
  sr::Draws draws(2, "bench-mix", 0, 0);
  sr::Evaluator ev;
  std::vector<double> out(d.rows());
  std::vector<sr::Expression> exprs;
  while (exprs.size() < 200) {
    sr::Expression e = sr::random_expression(g, draws, 4);
    if (e.size() >= 5 && ev.evaluate(e, d, out.data())) exprs.push_back(e);
  }
  return exprs;
}

void run_mix(benchmark::State& state, const std::vector<Op>& ops, bool loss) {
  const sr::Dataset d = uniform_data(5, 10000);
  const std::vector<sr::Expression> exprs = mix(ops, d);
  std::uint64_t nodes = 0;
  for (const auto& e : exprs) nodes += e.size();
  std::vector<double> out(d.rows());
  sr::Evaluator ev;
  for (auto _ : state) {
    for (const auto& e : exprs) {
      if (loss)
        benchmark::DoNotOptimize(ev.loss(e, d));
      else
        benchmark::DoNotOptimize(ev.evaluate(e, d, out.data()));
    }
  }
  state.counters["node_evals/s"] = benchmark::Counter(
      double(nodes) * double(d.rows()) * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["mean_nodes"] = double(nodes) / double(exprs.size());
}

void BM_mix_arithmetic(benchmark::State& state) {
  run_mix(state, {Op::add, Op::sub, Op::mul, Op::div, Op::square}, false);
}
void BM_mix_with_transcendentals(benchmark::State& state) {
  run_mix(state,
          {Op::add, Op::sub, Op::mul, Op::div, Op::sin, Op::cos, Op::exp, Op::log, Op::sqrt,
           Op::square},
          false);
}
void BM_mix_with_transcendentals_loss(benchmark::State& state) {
  run_mix(state,
          {Op::add, Op::sub, Op::mul, Op::div, Op::sin, Op::cos, Op::exp, Op::log, Op::sqrt,
           Op::square},
          true);
}
BENCHMARK(BM_mix_arithmetic)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_mix_with_transcendentals)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_mix_with_transcendentals_loss)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
