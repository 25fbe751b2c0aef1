// export_nbody_npy (src/io/nbody_export.cpp) on a real N-body-layout HDF5 file: the seed's
// names, the arrays bit for bit, the pruning rule against an independent implementation (full
// sort, plain loops), independence of the slab size, and the input errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "../support/nbody_layout_fixture.hpp"
#include "io_test_support.hpp"
#include "phyflow/io/nbody_export.hpp"
#include "phyflow/io/npy.hpp"

namespace {

using phyflow::io::testing::error_message;
using phyflow::io::testing::TempDir;
using phyflow::testing::NbodyFixtureKind;
using phyflow::testing::NbodyFixtureShape;
namespace io = phyflow::io;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The values of a .npy file written by NpyWriter with this shape (header checked).
std::vector<double> npy_values(const std::string& path, const std::vector<std::uint64_t>& shape) {
  const std::string bytes = read_bytes(path);
  const std::string header = io::npy_header_f8(shape);
  EXPECT_EQ(bytes.substr(0, header.size()), header) << path;
  std::vector<double> values((bytes.size() - header.size()) / 8);
  std::memcpy(values.data(), bytes.data() + header.size(), values.size() * 8);  // x86/arm: LE
  return values;
}

/// np.percentile(v, p), written out plainly: full sort, NumPy's 'linear' formula.
double reference_percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double index = static_cast<double>(v.size() - 1) * (p / 100.0);
  const std::size_t i = static_cast<std::size_t>(std::floor(index));
  if (i + 1 >= v.size()) return v.back();
  const double g = index - std::floor(index), a = v[i], b = v[i + 1];
  return g >= 0.5 ? b - (b - a) * (1 - g) : a + (b - a) * g;
}

const std::string stem = "sim=spring_key=7_ns=6_n=3_dim=2_nt=9_dt=1e-02";

std::string dt_part(const std::string& name) { return name.substr(name.find("_dt=") + 1); }

TEST(NbodyExport, SeedNamesAndDtFormattedAsPython) {
  EXPECT_EQ(io::seed_npy_stem("spring", 1, 10000, 4, 2, 500, 0.01),
            "sim=spring_key=1_ns=10000_n=4_dim=2_nt=500_dt=1e-02");
  EXPECT_EQ(io::seed_npy_stem("r1", 2, 5, 8, 3, 1000, 5e-3),
            "sim=r1_key=2_ns=5_n=8_dim=3_nt=1000_dt=5e-03");
  // Python's "{:.0e}" rounds the binary value exactly: 0.0025 is slightly above, 0.015 below.
  EXPECT_EQ(dt_part(io::seed_npy_stem("x", 0, 1, 2, 2, 1, 0.0025)), "dt=3e-03");
  EXPECT_EQ(dt_part(io::seed_npy_stem("x", 0, 1, 2, 2, 1, 0.015)), "dt=1e-02");
  EXPECT_EQ(dt_part(io::seed_npy_stem("x", 0, 1, 2, 2, 1, 12.5)), "dt=1e+01");
}

TEST(NbodyExport, UnprunedIsTheDatasetsBitForBitWhateverTheSlabSize) {
  TempDir dir;
  const NbodyFixtureShape s;
  phyflow::testing::write_nbody_fixture(MPI_COMM_SELF, dir.file("run.h5"),
                                        NbodyFixtureKind::complete);
  std::string first_data, first_accel;
  // 1 frame per slab (slabs along time inside a simulation), 10 frames, and the default.
  for (std::uint64_t slab :
       {std::uint64_t(8), std::uint64_t(8 * 10 * 3 * 6), std::uint64_t(64) << 20}) {
    io::NbodyNpyExportOptions o;
    o.input = dir.file("run.h5");
    o.overwrite = true;
    o.slab_bytes = slab;
    const auto r = io::export_nbody_npy(o);
    EXPECT_EQ(r.data_path, dir.file(stem + ".npy"));
    EXPECT_EQ(r.accel_path, dir.file("accel_" + stem + ".npy"));
    EXPECT_EQ(r.frames, 54u);
    EXPECT_EQ(r.frames_kept, 54u);
    EXPECT_FALSE(io::testing::file_exists(r.data_path + ".partial"));
    EXPECT_EQ(npy_values(r.data_path, {6, 9, 3, 6}), phyflow::testing::fixture_data(s));
    EXPECT_EQ(npy_values(r.accel_path, {6, 9, 3, 2}), phyflow::testing::fixture_accel(s, 9));
    if (first_data.empty()) {
      first_data = read_bytes(r.data_path);
      first_accel = read_bytes(r.accel_path);
    }
    EXPECT_EQ(read_bytes(r.data_path), first_data);
    EXPECT_EQ(read_bytes(r.accel_path), first_accel);
  }
}

TEST(NbodyExport, PruningKeepsExactlyTheFramesStrictlyInsideBothBounds) {
  TempDir dir;
  const NbodyFixtureShape s;
  const std::uint64_t F = 2 * s.dim + 2;
  phyflow::testing::write_nbody_fixture(MPI_COMM_SELF, dir.file("run.h5"),
                                        NbodyFixtureKind::complete);
  const auto data = phyflow::testing::fixture_data(s);
  const auto accel = phyflow::testing::fixture_accel(s, s.nt);
  std::vector<double> v;
  for (std::size_t i = 0; i < data.size(); ++i)
    if (i % F >= s.dim && i % F < 2 * s.dim) v.push_back(data[i]);
  for (double P : {99.0, 97.5, 95.0}) {
    const double vlo = reference_percentile(v, 100 - P), vhi = reference_percentile(v, P);
    const double alo = reference_percentile(accel, 100 - P), ahi = reference_percentile(accel, P);
    // Expected output: time-major over the frames that pass.
    std::vector<double> want_data, want_accel;
    for (std::uint64_t t = 0; t < s.nt; ++t)
      for (std::uint64_t i = 0; i < s.ns; ++i) {
        const std::uint64_t f = i * s.nt + t;
        bool keep = true;
        for (std::uint64_t b = 0; b < s.n; ++b)
          for (std::uint64_t c = 0; c < s.dim; ++c) {
            const double x = data[(f * s.n + b) * F + s.dim + c],
                         a = accel[(f * s.n + b) * s.dim + c];
            keep = keep && x > vlo && x < vhi && a > alo && a < ahi;
          }
        if (!keep) continue;
        want_data.insert(want_data.end(), data.begin() + f * s.n * F,
                         data.begin() + (f + 1) * s.n * F);
        want_accel.insert(want_accel.end(), accel.begin() + f * s.n * s.dim,
                          accel.begin() + (f + 1) * s.n * s.dim);
      }
    const std::uint64_t kept = want_accel.size() / (s.n * s.dim);
    ASSERT_LT(kept, 54u) << "the fixture's outliers must be pruned at P = " << P;
    ASSERT_GT(kept, 0u);
    for (std::uint64_t slab :
         {std::uint64_t(8), std::uint64_t(8 * 10 * 3 * 6), std::uint64_t(64) << 20}) {
      io::NbodyNpyExportOptions o;
      o.input = dir.file("run.h5");
      o.out_dir = dir.path();
      o.prune = true;
      o.prune_percentile = P;
      o.overwrite = true;
      o.slab_bytes = slab;
      const auto r = io::export_nbody_npy(o);
      char suffix[32];
      std::snprintf(suffix, sizeof suffix, "_pruned=%g.npy", P);  // 99, 97.5, 95
      EXPECT_EQ(r.data_path, dir.file(stem + suffix));
      EXPECT_EQ(r.frames_kept, kept) << "P = " << P;
      EXPECT_EQ(r.velocity_lower, vlo);
      EXPECT_EQ(r.velocity_upper, vhi);
      EXPECT_EQ(r.accel_lower, alo);
      EXPECT_EQ(r.accel_upper, ahi);
      EXPECT_EQ(npy_values(r.data_path, {kept, 1, s.n, F}), want_data);
      EXPECT_EQ(npy_values(r.accel_path, {kept, 1, s.n, s.dim}), want_accel);
      EXPECT_NE(r.summary().find("pruned " + std::to_string(54 - kept) + " of 54 frames"),
                std::string::npos)
          << r.summary();
    }
  }
}

TEST(NbodyExport, ClearInputErrors) {
  TempDir dir;
  auto export_of = [&](const std::string& file, double P = 0, bool overwrite = false,
                       const std::string& out = "") {
    io::NbodyNpyExportOptions o;
    o.input = file;
    o.out_dir = out;
    o.prune = P != 0;
    o.prune_percentile = P;
    o.overwrite = overwrite;
    return error_message([&] { io::export_nbody_npy(o); });
  };
  auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
  };
  phyflow::testing::write_nbody_fixture(MPI_COMM_SELF, dir.file("bad_nt.h5"),
                                        NbodyFixtureKind::mismatched_nt);
  auto msg = export_of(dir.file("bad_nt.h5"));
  EXPECT_TRUE(has(msg, "mismatched shapes on export") && has(msg, "bad_nt.h5") &&
              has(msg, "[6, 9, 3, 6]") && has(msg, "[6, 8, 3, 2]"))
      << msg;
  phyflow::testing::write_nbody_fixture(MPI_COMM_SELF, dir.file("no_accel.h5"),
                                        NbodyFixtureKind::no_accel);
  msg = export_of(dir.file("no_accel.h5"));
  EXPECT_TRUE(has(msg, "no_accel.h5") && has(msg, "'/accel'")) << msg;
  phyflow::testing::write_nbody_fixture(MPI_COMM_SELF, dir.file("cut.h5"),
                                        NbodyFixtureKind::partial);
  msg = export_of(dir.file("cut.h5.partial"));
  EXPECT_TRUE(has(msg, "cut.h5.partial")) << msg;
  phyflow::testing::write_nbody_fixture(MPI_COMM_SELF, dir.file("ising.h5"),
                                        NbodyFixtureKind::other_workflow);
  msg = export_of(dir.file("ising.h5"));
  EXPECT_TRUE(has(msg, "workflow 'ising'")) << msg;

  phyflow::testing::write_nbody_fixture(MPI_COMM_SELF, dir.file("run.h5"),
                                        NbodyFixtureKind::complete);
  for (double P : {50.0, 100.0, 120.0, 10.0, std::nan("")}) {
    msg = export_of(dir.file("run.h5"), P);
    EXPECT_TRUE(has(msg, "--prune-percentile") && has(msg, "50 < P < 100")) << msg;
  }
  msg = export_of(dir.file("run.h5"), 0, false, dir.file("missing_dir"));
  EXPECT_TRUE(has(msg, "missing_dir") && has(msg, "--out")) << msg;

  io::NbodyNpyExportOptions o;
  o.input = dir.file("run.h5");
  const auto r = io::export_nbody_npy(o);
  const std::string before = read_bytes(r.accel_path);
  msg = export_of(dir.file("run.h5"));
  EXPECT_TRUE(has(msg, stem + ".npy' exists") && has(msg, "--overwrite")) << msg;
  // The refusal happens before anything is written.
  EXPECT_EQ(read_bytes(r.accel_path), before);
  EXPECT_FALSE(io::testing::file_exists(r.data_path + ".partial"));
}

}  // namespace
