// The BLAS kernel check (blas.hpp): OpenBLAS's core names by vector level, and the
// OPENBLAS_CORETYPE that fits a CPU where OpenBLAS chose kernels below it.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "phyflow/core/blas.hpp"

namespace {
using phyflow::blas::better_coretype;
using phyflow::blas::kernel_level;
using phyflow::blas::VectorLevel;

TEST(BlasKernels, LevelsOfOpenBlasCoreNames) {
  EXPECT_EQ(kernel_level("Prescott"), VectorLevel::sse);
  EXPECT_EQ(kernel_level("NEHALEM"), VectorLevel::sse);
  EXPECT_EQ(kernel_level("Sandybridge"), VectorLevel::avx);
  EXPECT_EQ(kernel_level("Haswell"), VectorLevel::avx2);
  EXPECT_EQ(kernel_level("Zen"), VectorLevel::avx2);
  EXPECT_EQ(kernel_level("SkylakeX"), VectorLevel::avx512);
  EXPECT_EQ(kernel_level("cooperlake"), VectorLevel::avx512);
  EXPECT_EQ(kernel_level("NeoverseN1"), VectorLevel::unknown);
  EXPECT_EQ(kernel_level(""), VectorLevel::unknown);
}

TEST(BlasKernels, BetterCoreTypeOnlyWhereTheChoiceIsBelowTheCpu) {
  // Debian 12's OpenBLAS 0.3.21 on Emerald Rapids (family 6, model 207).
  EXPECT_EQ(better_coretype("Prescott", VectorLevel::avx512), "SkylakeX");
  EXPECT_EQ(better_coretype("Haswell", VectorLevel::avx512), "SkylakeX");
  EXPECT_EQ(better_coretype("Prescott", VectorLevel::avx2), "Haswell");
  EXPECT_EQ(better_coretype("Core2", VectorLevel::avx), "Sandybridge");
  // A fitting (or wider) choice stands.
  EXPECT_EQ(better_coretype("SkylakeX", VectorLevel::avx512), "");
  EXPECT_EQ(better_coretype("CooperLake", VectorLevel::avx512), "");
  EXPECT_EQ(better_coretype("Zen", VectorLevel::avx2), "");
  EXPECT_EQ(better_coretype("Prescott", VectorLevel::sse), "");
  // Unknown names or CPUs: no advice.
  EXPECT_EQ(better_coretype("NeoverseN1", VectorLevel::avx512), "");
  EXPECT_EQ(better_coretype("Prescott", VectorLevel::unknown), "");
}

// The level from CPUID (and XCR0) against the flags Linux reports in /proc/cpuinfo, which it
// clears for state the OS does not save.
TEST(BlasKernels, CpuLevelAgreesWithProcCpuinfo) {
#if defined(__x86_64__)
  std::ifstream in("/proc/cpuinfo");
  if (!in) GTEST_SKIP() << "no /proc/cpuinfo";
  std::string line;
  std::set<std::string> flags;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line.substr(line.find(':') + 1));
      for (std::string w; words >> w;) flags.insert(w);
      break;
    }
  ASSERT_FALSE(flags.empty());
  const auto has = [&](const char* f) { return flags.count(f) > 0; };
  VectorLevel want = VectorLevel::sse;
  if (has("avx512f") && has("avx512bw") && has("avx512dq") && has("avx512vl"))
    want = VectorLevel::avx512;
  else if (has("avx2") && has("fma"))
    want = VectorLevel::avx2;
  else if (has("avx"))
    want = VectorLevel::avx;
  EXPECT_EQ(int(phyflow::blas::cpu_level()), int(want));
#else
  EXPECT_EQ(phyflow::blas::cpu_level(), VectorLevel::unknown);
#endif
}
}  // namespace
