// Exact, order-independent sums of doubles (DESIGN.md §4): each term is rounded once to the
// fixed-point grid 2^-40 (absolute error <= 2^-41 per term) and split into an integer part
// and a 40-bit fraction; the parts are summed as 64-bit integers, so the total is the same bit
// for bit whatever the order, the thread count or the rank count. Used for the phi^4 action,
// the HMC Hamiltonian (global accept/reject) and every phi^4 observable.
// Limits: |term| < 2^53; callers carry fractions into the integer part at least every 2^23
// terms (Phi4Field::sum does it per row) so that no 64-bit accumulator overflows.
#pragma once

#include <Kokkos_Core.hpp>
#include <mpi.h>

#include "phyflow/core/kokkos_math.hpp"

#include <cstdint>

namespace phyflow::lattice {

struct ExactSum {
  static constexpr int kFractionBits = 40;
  std::int64_t hi = 0;  ///< integer part
  std::int64_t lo = 0;  ///< fraction in units of 2^-40, normalised to [0, 2^40)

  KOKKOS_INLINE_FUNCTION static std::int64_t high(double x) {
    return static_cast<std::int64_t>(kmath::floor(x));
  }
  KOKKOS_INLINE_FUNCTION static std::int64_t low(double x) {
    const double frac = x - kmath::floor(x);  // exact for |x| < 2^53
    return static_cast<std::int64_t>(kmath::floor(frac * 0x1.0p40 + 0.5));
  }
  static ExactSum from_parts(std::int64_t hi, std::int64_t lo) {
    ExactSum s{hi, lo};
    s.normalise();
    return s;
  }
  void add(double x) {
    hi += high(x);
    lo += low(x);
  }
  void normalise() {
    hi += lo >> kFractionBits;  // arithmetic shift: floor division
    lo &= (std::int64_t{1} << kFractionBits) - 1;
  }
  ExactSum& operator+=(const ExactSum& o) {
    hi += o.hi;
    lo += o.lo;
    normalise();
    return *this;
  }
  friend ExactSum operator-(ExactSum a, const ExactSum& b) {
    a.hi -= b.hi;
    a.lo -= b.lo;
    a.normalise();
    return a;
  }
  double value() const { return static_cast<double>(hi) + static_cast<double>(lo) * 0x1.0p-40; }
  /// The sum over the ranks of `comm` (integer all-reduce: exact).
  ExactSum allreduce(MPI_Comm comm) const {
    std::int64_t in[2] = {hi, lo}, out[2] = {0, 0};
    MPI_Allreduce(in, out, 2, MPI_INT64_T, MPI_SUM, comm);
    return from_parts(out[0], out[1]);
  }
};

}  // namespace phyflow::lattice
