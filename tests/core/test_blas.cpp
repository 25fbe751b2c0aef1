// The BLAS kernel check (blas.hpp): OpenBLAS's core names by vector level, and the
// OPENBLAS_CORETYPE that fits a CPU where OpenBLAS chose kernels below it.
#include <gtest/gtest.h>

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

TEST(BlasKernels, CpuLevelIsKnownOnX86) {
#if defined(__x86_64__)
  EXPECT_GE(phyflow::blas::cpu_level(), VectorLevel::sse);
#else
  EXPECT_EQ(phyflow::blas::cpu_level(), VectorLevel::unknown);
#endif
}
}  // namespace
