// Shared by the ml tests: small data files in phyflow's layouts (written by rank 0 with the
// io layer, read by every rank) and parameter comparisons.
#pragma once

#include "../io/io_test_support.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/ml/model.hpp"
#include "phyflow/nbody/force_laws.hpp"

#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <random>

namespace phyflow::ml::testing {

using io::testing::TempDir;
using io::testing::world_rank;
using io::testing::world_size;

/// /x (n, k) uniform in [-2, 2), /y (n, 1) = f(x); rank 0 writes it, every rank returns after.
inline void write_regression_file(const std::string& path, int n, int k, unsigned seed,
                                  const std::function<double(const double*)>& f) {
  if (world_rank() == 0) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> u(-2.0, 2.0);
    std::vector<double> x(std::size_t(n) * k), y(static_cast<std::size_t>(n));
    for (auto& v : x) v = u(gen);
    for (int i = 0; i < n; ++i) y[std::size_t(i)] = f(&x[std::size_t(i) * k]);
    auto out = io::OutputFile::create(MPI_COMM_SELF, path, true);
    out.write_array("/x", x.data(), {std::uint64_t(n), std::uint64_t(k)}, "inputs", "1");
    out.write_array("/y", y.data(), {std::uint64_t(n), 1}, "targets", "1");
    out.commit();
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

/// An Ising file with groups /t0 (beta0) and /t1 (beta1) of n random L x L configurations each,
/// with their exact energies H = -sum_<ij> s_i s_j (periodic).
inline void write_ising_file(const std::string& path, int n, int L, unsigned seed,
                             double beta0 = 0.3, double beta1 = 0.5) {
  if (world_rank() == 0) {
    std::mt19937_64 gen(seed);
    auto out = io::OutputFile::create(MPI_COMM_SELF, path, true);
    int g = 0;
    for (double beta : {beta0, beta1}) {
      std::vector<std::int8_t> s(std::size_t(n) * L * L);
      std::vector<double> e(static_cast<std::size_t>(n));
      for (auto& v : s) v = (gen() & 1) ? 1 : -1;
      for (int c = 0; c < n; ++c) {
        const std::int8_t* a = &s[std::size_t(c) * L * L];
        long sum = 0;
        for (int i = 0; i < L; ++i)
          for (int j = 0; j < L; ++j)
            sum += a[i * L + j] * (a[((i + 1) % L) * L + j] + a[i * L + (j + 1) % L]);
        e[std::size_t(c)] = -double(sum);
      }
      const std::string grp = "/t" + std::to_string(g++);
      out.create_group(grp);
      out.set_attribute(grp, "beta", beta);
      out.write_array(grp + "/spins", s.data(), {std::uint64_t(n), std::uint64_t(L), std::uint64_t(L)},
                      "spins", "1");
      out.write_array(grp + "/energy", e.data(), {std::uint64_t(n)}, "energy", "J");
    }
    out.commit();
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

/// An N-body file of ns simulations x nt frames of n bodies in d dimensions: every frame an
/// independent random state [x ~ N(0, 1), v ~ N(0, 1), q = sign N, m = exp N] with its exact
/// accelerations under `law` (the samples a graph network learns from; no time integration
/// is needed for that). Rank 0 writes it.
inline void write_nbody_file(const std::string& path, int ns, int nt, int n, int d, unsigned seed,
                             nbody::ForceLaw law = nbody::ForceLaw::spring) {
  if (world_rank() == 0) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> normal;
    const int w = 2 * d + 2;
    const std::size_t frames = std::size_t(ns) * nt;
    std::vector<double> data(frames * n * w), accel(frames * n * d);
    nbody::ForceLawSpec spec;
    spec.law = law;
    for (std::size_t f = 0; f < frames; ++f) {
      double* state = &data[f * n * w];
      for (int b = 0; b < n; ++b) {
        for (int k = 0; k < 2 * d; ++k) state[b * w + k] = normal(gen);
        state[b * w + 2 * d] = normal(gen) < 0 ? -1.0 : 1.0;
        state[b * w + 2 * d + 1] = std::exp(normal(gen));
      }
      nbody::accelerations(spec, d, n, state, &accel[f * n * d]);
    }
    auto out = io::OutputFile::create(MPI_COMM_SELF, path, true);
    const auto u = [](int v) { return std::uint64_t(v); };
    out.set_attribute("/", "law", std::string(nbody::law_name(law)));
    out.write_array("/data", data.data(), {u(ns), u(nt), u(n), u(w)}, "state [x, v, q, m]", "1");
    out.write_array("/accel", accel.data(), {u(ns), u(nt), u(n), u(d)}, "acceleration", "1");
    out.commit();
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

/// Largest |a - b| / max(|a|, |b|, floor) over every parameter of two models.
inline double max_relative_difference(Model& a, Model& b, double floor = 1e-3) {
  auto pa = a.parameters(), pb = b.parameters();
  double worst = 0;
  for (std::size_t k = 0; k < pa.size(); ++k) {
    const auto d = (pa[k] - pb[k]).abs();
    const auto scale = torch::maximum(pa[k].abs(), pb[k].abs()).clamp_min(floor);
    worst = std::max(worst, (d / scale).max().item<double>());
  }
  return worst;
}

}  // namespace phyflow::ml::testing
