// Whether two cores of this machine slow each other, and how often the machine stops a core:
// what a 2-rank scaling measurement on it can resolve (docs/PERFORMANCE.md, "Flows").
//
//   build/bench/bench_cores [SECONDS=4] [CPU_A=0] [CPU_B=1]
//
// Three loads, each run on CPU_A alone and then on both CPUs at once (a thread pinned to each):
// register-only arithmetic (8 independent multiply-add chains) and sweeps of a 1 MiB array (in
// a core's L2 on most CPUs), an 8 MiB one (a shared L3) and a 64 MiB one (main memory), as
// units of work per second. On two hyperthreads of one core the first slows by tens of per
// cent; on cores sharing an L3 or a saturated memory bus the others do.
// Then the stops: each thread reads the clock in a loop and records every gap over 50 us (an
// interrupt, or a VM's host running something else on that core), alone and both at once.
// A 2-rank training step waits for the slower rank every step, so each such stop on either
// core is paid by both.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

volatile double sink;  // keeps the loads' results alive

// Units of work per second: `unit` run again and again for `duration` seconds.
template <class Unit>
double rate(double duration, Unit unit) {
  long units = 0;
  const auto t0 = Clock::now();
  while (seconds_since(t0) < duration) {
    unit(units);
    ++units;
  }
  return double(units) / seconds_since(t0);
}

// A unit: 100 000 rounds of eight independent multiply-add chains, in registers.
double arithmetic(double duration) {
  double a[8] = {1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7};
  const double r = rate(duration, [&](long) {
    for (int i = 0; i < 100000; ++i)
      for (double& x : a) x = x * 0.9999999 + 1e-9;
  });
  sink = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
  return r;
}

// A unit: one sweep of `bytes` into eight independent sums (the loads, not the additions'
// latency, set the pace).
double sweep(double duration, std::size_t bytes) {
  std::vector<double> v(bytes / sizeof(double), 1.0);
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const double r = rate(duration, [&](long unit) {
    for (std::size_t i = 0; i + 8 <= v.size(); i += 8)
      for (int k = 0; k < 8; ++k) s[k] += v[i + std::size_t(k)];
    v[std::size_t(unit) % v.size()] += 1e-9;
  });
  sink = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
  return r;
}

struct Stops {
  long over_50us = 0, over_1ms = 0;
  double lost = 0, worst = 0, duration = 0;
};

Stops stops(double duration) {
  Stops r;
  const auto t0 = Clock::now();
  auto prev = t0;
  while (true) {
    const auto t = Clock::now();
    const double gap = std::chrono::duration<double>(t - prev).count();
    if (gap > 50e-6) {
      ++r.over_50us;
      if (gap > 1e-3) ++r.over_1ms;
      r.lost += gap;
      r.worst = std::max(r.worst, gap);
    }
    prev = t;
    r.duration = std::chrono::duration<double>(t - t0).count();
    if (r.duration > duration) break;
  }
  return r;
}

// Runs f on cpu (and, with both, on other at the same time); returns each thread's result.
template <class F>
std::vector<decltype(std::declval<F>()())> on_cpus(const std::vector<int>& cpus, F f) {
  std::vector<decltype(f())> out(cpus.size());
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < cpus.size(); ++i)
    threads.emplace_back([&, i] {
      if (!pin(cpus[i])) std::fprintf(stderr, "bench_cores: cannot pin a thread to CPU %d\n", cpus[i]);
      ++ready;
      while (ready.load() < int(cpus.size())) {
      }
      out[i] = f();
    });
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const double duration = argc > 1 ? std::atof(argv[1]) : 4.0;
  const int a = argc > 2 ? std::atoi(argv[2]) : 0, b = argc > 3 ? std::atoi(argv[3]) : 1;
  if (!(duration > 0) || a < 0 || b < 0 || a == b) {
    std::fprintf(stderr, "usage: bench_cores [SECONDS > 0] [CPU_A] [CPU_B] (two different CPUs)\n");
    return 2;
  }
  std::printf("CPUs %d and %d, %.1f s per measurement\n", a, b, duration);
  struct Load {
    const char* name;
    double (*run)(double);
  };
  const Load loads[] = {
      {"arithmetic (registers)", [](double d) { return arithmetic(d); }},
      {"sweep of 1 MiB (L2)", [](double d) { return sweep(d, std::size_t(1) << 20); }},
      {"sweep of 8 MiB (L3)", [](double d) { return sweep(d, std::size_t(8) << 20); }},
      {"sweep of 64 MiB (memory)", [](double d) { return sweep(d, std::size_t(64) << 20); }},
  };
  for (const auto& load : loads) {
    const double alone = on_cpus({a}, [&] { return load.run(duration); })[0];
    const auto both = on_cpus({a, b}, [&] { return load.run(duration); });
    std::printf("%-26s alone %9.1f /s; both at once %9.1f and %9.1f /s: %+.1f %% and %+.1f %% time "
                "per unit\n",
                load.name, alone, both[0], both[1], 100 * (alone / both[0] - 1),
                100 * (alone / both[1] - 1));
  }
  const auto print = [](const char* what, const Stops& s) {
    std::printf("%-26s %5ld gaps > 50 us (%3ld > 1 ms), %.2f %% of the time lost, worst %.2f ms\n",
                what, s.over_50us, s.over_1ms, 100 * s.lost / s.duration, 1e3 * s.worst);
  };
  print("stops, CPU A alone:", on_cpus({a}, [&] { return stops(duration); })[0]);
  const auto both = on_cpus({a, b}, [&] { return stops(duration); });
  print("stops, both: CPU A", both[0]);
  print("             CPU B", both[1]);
  return 0;
}
