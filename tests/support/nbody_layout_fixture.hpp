// A small HDF5 file in the N-body output layout (/data (ns, nt, n, 2*dim+2) = x, v, q, m per
// body, /accel (ns, nt, n, dim), root attributes as workflow: nbody writes them) with known,
// reproducible values, for the tests of `phyflow export --npy`. Velocities are multiples of
// 1/4 (so the percentile bounds of the pruning rule tie with data values), accelerations are
// irregular (so the bounds interpolate), and a few components are far-out outliers.
#pragma once

#include <mpi.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "phyflow/io/output_file.hpp"

namespace phyflow::testing {

enum class NbodyFixtureKind {
  complete,        ///< a committed file with matching /data and /accel
  mismatched_nt,   ///< /accel has one time step fewer than /data
  no_accel,        ///< /accel missing
  partial,         ///< complete contents, but left as PATH.partial (never committed)
  other_workflow,  ///< workflow attribute "ising"
};

struct NbodyFixtureShape {
  std::uint64_t ns = 6, nt = 9, n = 3, dim = 2;
};

/// A uniform number in [-1, 1) from the indices (splitmix64 finaliser): the same on every
/// machine, no library RNG involved.
inline double fixture_uniform(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d,
                              std::uint64_t salt) {
  std::uint64_t z = (((a * 1000003u + b) * 1000003u + c) * 1000003u + d) * 31u + salt;
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0;
}

inline std::vector<double> fixture_data(const NbodyFixtureShape& s) {
  const std::uint64_t F = 2 * s.dim + 2;
  std::vector<double> data(s.ns * s.nt * s.n * F);
  for (std::uint64_t i = 0; i < s.ns; ++i)
    for (std::uint64_t t = 0; t < s.nt; ++t)
      for (std::uint64_t b = 0; b < s.n; ++b)
        for (std::uint64_t c = 0; c < F; ++c) {
          const double u = fixture_uniform(i, t, b, c, 1);
          double x = 3.0 * u;                                              // positions
          if (c >= s.dim && c < 2 * s.dim) x = std::round(8.0 * u) / 4.0;  // velocities, ties
          if (c == 2 * s.dim) x = u < 0 ? -1.0 : 1.0;                      // charge
          if (c == 2 * s.dim + 1) x = std::exp(u);                         // mass
          data[((i * s.nt + t) * s.n + b) * F + c] = x;
        }
  // Velocity outliers: one frame with a huge component, one with a large negative one.
  auto v = [&](std::uint64_t i, std::uint64_t t, std::uint64_t b, std::uint64_t k) -> double& {
    return data[((i * s.nt + t) * s.n + b) * F + s.dim + k];
  };
  v(2 % s.ns, 3 % s.nt, 1 % s.n, 0) = 40.0;
  v(4 % s.ns, 8 % s.nt, 0, s.dim - 1) = -35.5;
  v(0, 5 % s.nt, 2 % s.n, 0) = 12.25;
  return data;
}

inline std::vector<double> fixture_accel(const NbodyFixtureShape& s, std::uint64_t nt) {
  std::vector<double> accel(s.ns * nt * s.n * s.dim);
  for (std::uint64_t i = 0; i < s.ns; ++i)
    for (std::uint64_t t = 0; t < nt; ++t)
      for (std::uint64_t b = 0; b < s.n; ++b)
        for (std::uint64_t c = 0; c < s.dim; ++c)
          accel[((i * nt + t) * s.n + b) * s.dim + c] = 2.0 * fixture_uniform(i, t, b, c, 2);
  accel[((5 % s.ns) * nt + 0) * s.n * s.dim] = -90.0;  // acceleration outliers
  accel[((1 % s.ns) * nt + 6 % nt) * s.n * s.dim + s.dim - 1] = 77.0;
  return accel;
}

/// Writes the fixture collectively over `comm` (all ranks call it).
inline void write_nbody_fixture(MPI_Comm comm, const std::string& path, NbodyFixtureKind kind,
                                const NbodyFixtureShape& s = {}) {
  const std::uint64_t F = 2 * s.dim + 2;
  io::OutputFile out = io::OutputFile::create(comm, path, true);
  const std::string deck = "workflow: nbody\nseed: 7\n";
  out.write_provenance(
      {kind == NbodyFixtureKind::other_workflow ? "ising" : "nbody", deck, deck, 7});
  out.set_attribute("/", "law", std::string("spring"));
  out.set_attribute("/", "dt", 0.01);
  out.set_attribute("/", "ns", static_cast<std::int64_t>(s.ns));
  out.set_attribute("/", "nt", static_cast<std::int64_t>(s.nt));
  out.set_attribute("/", "n", static_cast<std::int64_t>(s.n));
  out.set_attribute("/", "dims", static_cast<std::int64_t>(s.dim));
  const auto data = fixture_data(s);
  out.write_array("/data", data.data(), {s.ns, s.nt, s.n, F}, "x, v, q, m per body",
                  "simulation units");
  if (kind != NbodyFixtureKind::no_accel) {
    const std::uint64_t nt = kind == NbodyFixtureKind::mismatched_nt ? s.nt - 1 : s.nt;
    const auto accel = fixture_accel(s, nt);
    out.write_array("/accel", accel.data(), {s.ns, nt, s.n, s.dim}, "acceleration per body",
                    "simulation units");
  }
  if (kind == NbodyFixtureKind::partial)
    out.close();
  else
    out.commit();
}

}  // namespace phyflow::testing
