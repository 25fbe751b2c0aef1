// GoogleTest main for phyflow tests: sets up phyflow::Runtime (MPI, PETSc, Kokkos), lets only
// rank 0 print, and fails every rank if any rank failed.
#include <gtest/gtest.h>

#include "phyflow/core/blas.hpp"
#include "phyflow/core/runtime.hpp"

int main(int argc, char** argv) {
  phyflow::blas::retune_kernels(argv);  // OpenBLAS kernels that fit the CPU (may restart)
  ::testing::InitGoogleTest(&argc, argv);
  phyflow::Runtime runtime(argc, argv);
  if (runtime.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int local = RUN_ALL_TESTS();
  int global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, runtime.comm());
  return global;
}
