// The .npy writer (src/io/npy.cpp) byte by byte against the NPY 1.0 format, and -- when
// /usr/bin/python3 with NumPy is installed -- read back by numpy.load, compared with numpy.save's
// bytes, and numpy_percentiles against np.percentile, all to the last bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

#include "io_test_support.hpp"
#include "phyflow/io/nbody_export.hpp"
#include "phyflow/io/npy.hpp"

namespace {

using phyflow::io::testing::error_message;
using phyflow::io::testing::TempDir;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string little_endian_bytes(const std::vector<double>& values) {
  std::string out;
  for (double v : values) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, 8);
    for (int i = 0; i < 8; ++i) out += static_cast<char>((bits >> (8 * i)) & 0xff);
  }
  return out;
}

std::string hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

constexpr const char* python = "/usr/bin/python3";

bool numpy_available() {
  const std::string command = std::string(python) + " -c 'import numpy' >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

/// Runs a Python script with arguments and returns its standard output (lines).
std::vector<std::string> run_python(const TempDir& dir, const std::string& script,
                                    const std::string& args) {
  const std::string path = dir.file("script.py");
  std::ofstream(path) << script;
  const std::string command = std::string(python) + " " + path + " " + args;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return {};
  std::string text;
  char buffer[4096];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) text.append(buffer, got);
  EXPECT_EQ(::pclose(pipe), 0) << "python failed: " << command << "\n" << text;
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

/// The header's dict text with padding stripped, checked for the format's framing.
std::string checked_dict(const std::string& header) {
  EXPECT_EQ(header.substr(0, 6), "\x93NUMPY");
  EXPECT_EQ(header[6], '\x01');  // version 1.0
  EXPECT_EQ(header[7], '\x00');
  const std::size_t len = static_cast<unsigned char>(header[8]) |
                          (static_cast<std::size_t>(static_cast<unsigned char>(header[9])) << 8);
  EXPECT_EQ(10 + len, header.size());
  EXPECT_EQ(header.size() % 64, 0u);
  EXPECT_EQ(header.back(), '\n');
  const std::string dict = header.substr(10, len - 1);
  return dict.substr(0, dict.find_last_not_of(' ') + 1);
}

TEST(NpyHeader, FramingDictAndPaddingAsNumpyWritesThem) {
  EXPECT_EQ(checked_dict(phyflow::io::npy_header_f8({3})),
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }");
  EXPECT_EQ(checked_dict(phyflow::io::npy_header_f8({2, 3})),
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }");
  EXPECT_EQ(checked_dict(phyflow::io::npy_header_f8({})),
            "{'descr': '<f8', 'fortran_order': False, 'shape': (), }");
  EXPECT_EQ(checked_dict(phyflow::io::npy_header_f8({10000, 500, 4, 6})),
            "{'descr': '<f8', 'fortran_order': False, 'shape': (10000, 500, 4, 6), }");
  EXPECT_EQ(phyflow::io::python_shape_tuple({0, 1, 8, 10}), "(0, 1, 8, 10)");
  // NumPy >= 1.24 leaves 21 - len(str(shape[0])) spaces after the dict for in-place growth:
  // (3,): 10 prefix bytes + 57 dict characters + 20 spaces + newline = 88, padded to 128.
  const std::string h = phyflow::io::npy_header_f8({3});
  const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
  EXPECT_EQ(h.size(), 128u);
  EXPECT_EQ(h.substr(10, dict.size() + 20), dict + std::string(20, ' '));
}

TEST(NpyWriter, HeaderThenLittleEndianValuesInCOrder) {
  TempDir dir;
  const std::vector<double> values{1.0, -0.0, 1.0 / 3.0, 6.02214076e23, -2.5e-310, 42.0};
  const std::string path = dir.file("a.npy");
  {
    phyflow::io::NpyWriter w(path, {2, 3});
    w.write(values.data(), 2);  // pieces of any size
    w.write(values.data() + 2, 4);
    EXPECT_EQ(w.written(), 6u);
    w.close();
  }
  const std::string bytes = read_bytes(path);
  const std::string header = phyflow::io::npy_header_f8({2, 3});
  ASSERT_EQ(bytes.size(), header.size() + 48);
  EXPECT_EQ(bytes.substr(0, header.size()), header);
  EXPECT_EQ(hex(bytes.substr(header.size())), hex(little_endian_bytes(values)));
  // 1.0 is 0x3ff0000000000000, stored least significant byte first.
  EXPECT_EQ(hex(bytes.substr(header.size(), 8)), "000000000000f03f");
}

TEST(NpyWriter, RefusesTooManyOrTooFewValues) {
  TempDir dir;
  const std::vector<double> four(4, 1.0);
  {
    phyflow::io::NpyWriter w(dir.file("b.npy"), {3});
    const auto msg =
        error_message([&] { w.write(four.data(), 4); }, phyflow::ExitCode::runtime_failure);
    EXPECT_NE(msg.find("b.npy"), std::string::npos) << msg;
  }
  {
    phyflow::io::NpyWriter w(dir.file("c.npy"), {3});
    w.write(four.data(), 2);
    const auto msg = error_message([&] { w.close(); }, phyflow::ExitCode::runtime_failure);
    EXPECT_NE(msg.find("2 of its 3 values"), std::string::npos) << msg;
  }
  const auto msg = error_message([&] { phyflow::io::NpyWriter(dir.file("no/such/dir.npy"), {1}); },
                                 phyflow::ExitCode::runtime_failure);
  EXPECT_NE(msg.find("no/such/dir.npy"), std::string::npos) << msg;
}

TEST(NpyWriter, NumpyLoadsTheExactValuesAndSaveWritesTheSameBytes) {
  if (!numpy_available()) GTEST_SKIP() << python << " with numpy is not installed";
  TempDir dir;
  std::vector<double> values;
  for (int i = 0; i < 2 * 3 * 4; ++i)
    values.push_back(std::ldexp(1.0 + i / 7.0, i - 12) * (i % 2 ? -1 : 1));
  values[5] = std::numeric_limits<double>::infinity();
  values[6] = std::numeric_limits<double>::denorm_min();
  values[7] = -0.0;
  const std::string ours = dir.file("ours.npy"), theirs = dir.file("theirs.npy");
  phyflow::io::write_npy(ours, values, {2, 3, 4});
  const auto out =
      run_python(dir,
                 "import sys, numpy as np\n"
                 "a = np.load(sys.argv[1])\n"
                 "print(a.dtype.str)\n"
                 "print(','.join(str(d) for d in a.shape))\n"
                 "print(a.flags['C_CONTIGUOUS'] and not np.isfortran(a))\n"
                 "print(a.tobytes().hex())\n"
                 "np.save(sys.argv[2], a)\n"
                 "print(tuple(int(x) for x in np.__version__.split('.')[:2]) >= (1, 24))\n",
                 ours + " " + theirs);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0], "<f8");
  EXPECT_EQ(out[1], "2,3,4");
  EXPECT_EQ(out[2], "True");
  EXPECT_EQ(out[3], hex(little_endian_bytes(values)));
  // NumPy 1.24 introduced the growth padding our header mimics; older versions pad less.
  if (out[4] == "True") EXPECT_EQ(hex(read_bytes(ours)), hex(read_bytes(theirs)));

  // A 1-D array and an empty one.
  phyflow::io::write_npy(ours, {0.5, 0.25, 0.125}, {3});
  phyflow::io::write_npy(theirs, {}, {0, 1, 3, 6});
  const auto more = run_python(dir,
                               "import sys, numpy as np\n"
                               "a = np.load(sys.argv[1]); b = np.load(sys.argv[2])\n"
                               "print(a.shape, a.tolist(), b.shape, b.dtype.str)\n",
                               ours + " " + theirs);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0], "(3,) [0.5, 0.25, 0.125] (0, 1, 3, 6) <f8");
}

TEST(NumpyPercentile, LinearInterpolationBetweenOrderStatistics) {
  std::vector<double> v{5, 1, 4, 2, 3};
  // Virtual index (5-1)*0.9 = 3.6: 4 + 0.6*(5-4), computed NumPy's way as 5 - 1*0.4.
  auto p = phyflow::io::numpy_percentiles(v, {90, 10, 50, 100, 0});
  EXPECT_EQ(p[0], 5.0 - 1.0 * (1.0 - (4.0 * 0.9 - 3.0)));
  EXPECT_EQ(p[1], 1.0 + 1.0 * (4.0 * 0.1));
  EXPECT_EQ(p[2], 3.0);
  EXPECT_EQ(p[3], 5.0);
  EXPECT_EQ(p[4], 1.0);
  std::vector<double> one{7.5};
  EXPECT_EQ(phyflow::io::numpy_percentiles(one, {99})[0], 7.5);
  std::vector<double> ties{2, 2, 2, 2, 1, 9, 9};
  EXPECT_EQ(phyflow::io::numpy_percentiles(ties, {99})[0], 9.0);
}

TEST(NumpyPercentile, BitwiseAsNumpyPercentile) {
  if (!numpy_available()) GTEST_SKIP() << python << " with numpy is not installed";
  TempDir dir;
  // Irregular values with ties, and several sizes so that the virtual index falls anywhere.
  for (std::size_t N : {2u, 7u, 100u, 1001u, 4096u}) {
    std::vector<double> values(N);
    for (std::size_t i = 0; i < N; ++i) {
      const double u = std::sin(1.0 + 7.3 * static_cast<double>(i)) * 1e3;
      values[i] = (i % 3 == 0) ? std::round(u / 50.0) * 50.0 : u;
    }
    phyflow::io::write_npy(dir.file("v.npy"), values, {N});
    const std::vector<double> percents{99, 1, 99.5, 100 - 99.5, 97.3, 100 - 97.3, 75, 25, 51};
    auto copy = values;
    const auto ours = phyflow::io::numpy_percentiles(copy, percents);
    const auto out =
        run_python(dir,
                   "import sys, numpy as np\n"
                   "v = np.load(sys.argv[1])\n"
                   "for p in (99, 100 - 99, 99.5, 100 - 99.5, 97.3, 100 - 97.3, 75, 25, 51):\n"
                   "    print(float(np.percentile(v, p)).hex())\n",
                   dir.file("v.npy"));
    ASSERT_EQ(out.size(), percents.size());
    for (std::size_t k = 0; k < percents.size(); ++k) {
      char text[64];
      std::snprintf(text, sizeof text, "%a", ours[k]);
      EXPECT_EQ(std::strtod(out[k].c_str(), nullptr), ours[k])
          << "N = " << N << ", P = " << percents[k] << ": numpy " << out[k] << ", ours " << text;
    }
  }
}

}  // namespace
