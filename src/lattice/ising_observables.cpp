// Exact integer Ising sums by a Kokkos reduction over rows, then an int64 all-reduce.
#include "phyflow/lattice/ising_observables.hpp"

#include "phyflow/core/error.hpp"

#include <mpi.h>

namespace phyflow::lattice {

namespace {

template <int D>
IsingSums local_sums(const SpinField& field) {
  const CheckerboardLayout L = field.layout();
  const std::int8_t* s0 = field.colour(0).data();
  const std::int8_t* s1 = field.colour(1).data();
  IsingSums sums;
  // Every bond joins a colour-0 site to a colour-1 site: summing s_i * (its neighbour sum) over
  // colour 0 counts each bond once, periodic wrap-around included (via the ghosts).
  Kokkos::parallel_reduce(
      "ising_bond_sum", L.row_policy(),
      KOKKOS_LAMBDA(int i0, int i1, std::int64_t & acc) {
        const CheckerboardLayout::Row row = L.row(i0, i1);
        const int q = row.parity;  // colour 0
        int row_sum = 0;
        for (int h = 1; h <= L.half; ++h) {
          const std::int64_t i = row.base + h;
          row_sum += s0[i] * neighbour_sum<D>(s1, L.stride, i, q);
        }
        acc += row_sum;
      },
      sums.bond_sum);
  Kokkos::parallel_reduce(
      "ising_magnetization", L.row_policy(),
      KOKKOS_LAMBDA(int i0, int i1, std::int64_t & acc) {
        const CheckerboardLayout::Row row = L.row(i0, i1);
        int row_sum = 0;
        for (int h = 1; h <= L.half; ++h) row_sum += s0[row.base + h] + s1[row.base + h];
        acc += row_sum;
      },
      sums.magnetization);
  return sums;
}

}  // namespace

IsingSums local_ising_sums(const SpinField& field) {
  return field.dims() == 2 ? local_sums<2>(field) : local_sums<3>(field);
}

IsingSums ising_sums(const SpinField& field) {
  const IsingSums local = local_ising_sums(field);
  std::int64_t in[2] = {local.bond_sum, local.magnetization}, out[2] = {0, 0};
  check_mpi(MPI_Allreduce(in, out, 2, MPI_INT64_T, MPI_SUM, field.decomposition().comm()),
            "MPI_Allreduce");
  return IsingSums{out[0], out[1]};
}

}  // namespace phyflow::lattice
