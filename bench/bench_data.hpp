// Synthetic training files for the benchmark programs: a training step's cost does not
// depend on the numbers, only on the shapes, so random values stand in for simulations.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "phyflow/io/output_file.hpp"

namespace phyflow::bench {

/// An N-body training file at `path` (the n-body workflow's /data and /accel layout) of at
/// least `frames` frames of n bodies in d dimensions: simulations of 16 frames, standard-normal
/// states (x, v, q, m per body) and accelerations. Written by the calling rank alone.
inline void write_random_nbody(const std::string& path, int n, int d, std::int64_t frames) {
  const int w = 2 * d + 2, nt = 16;
  const auto ns = std::uint64_t((frames + nt - 1) / nt);
  const auto u = [](int v) { return std::uint64_t(v); };
  std::mt19937 gen(2);
  std::normal_distribution<double> normal;
  std::vector<double> x(ns * u(nt * n * w)), a(ns * u(nt * n * d));
  for (auto& v : x) v = normal(gen);
  for (auto& v : a) v = normal(gen);
  auto out = io::OutputFile::create(MPI_COMM_SELF, path, true);
  out.write_array("/data", x.data(), {ns, u(nt), u(n), u(w)}, "x, v, q, m per body", "1");
  out.write_array("/accel", a.data(), {ns, u(nt), u(n), u(d)}, "accelerations", "1");
  out.commit();
}

}  // namespace phyflow::bench
