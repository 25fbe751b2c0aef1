// Exact, order-independent sums of doubles (DESIGN.md §4): each term is rounded once to the
// fixed-point grid 2^-40 (absolute error <= 2^-41 per term) and split into an integer part
// and a 40-bit fraction; the parts are summed as 64-bit integers, so the total is the same bit
// for bit whatever the order, the thread count or the rank count. Used for the phi^4 action,
// the HMC Hamiltonian (global accept/reject) and every phi^4 observable.
// Limits: |term| < 2^52; callers carry fractions into the integer part at least every 2^23
// terms (Phi4Field::sum does it per row) so that no 64-bit accumulator overflows. A term
// outside that range (or not finite: a diverged HMC trajectory) is not added but counted in
// `out_of_range`, and the sum's value() is then NaN, never a wrapped-around integer.
#pragma once

#include <Kokkos_Core.hpp>
#include <mpi.h>

#include "phyflow/core/kokkos_math.hpp"

#include <cstdint>
#include <limits>

namespace phyflow::lattice {

struct ExactSum {
  static constexpr int kFractionBits = 40;
  std::int64_t hi = 0;  ///< integer part
  std::int64_t lo = 0;  ///< fraction in units of 2^-40, normalised to [0, 2^40)
  std::int64_t out_of_range = 0;  ///< terms left out: |x| >= 2^52 or not finite

  /// Whether x can be summed exactly (false for NaN and infinities too).
  KOKKOS_INLINE_FUNCTION static bool in_range(double x) { return kmath::fabs(x) < 0x1.0p52; }
  /// Integer and fraction parts of an in-range x (callers check in_range first: converting
  /// a larger double to int64 is undefined).
  KOKKOS_INLINE_FUNCTION static std::int64_t high(double x) {
    return static_cast<std::int64_t>(kmath::floor(x));
  }
  KOKKOS_INLINE_FUNCTION static std::int64_t low(double x) {
    const double frac = x - kmath::floor(x);  // exact for |x| < 2^53
    return static_cast<std::int64_t>(kmath::floor(frac * 0x1.0p40 + 0.5));
  }
  static ExactSum from_parts(std::int64_t hi, std::int64_t lo, std::int64_t out_of_range = 0) {
    ExactSum s{hi, lo, out_of_range};
    s.normalise();
    return s;
  }
  void add(double x) {
    if (!in_range(x)) {
      ++out_of_range;
      return;
    }
    hi += high(x);
    lo += low(x);
  }
  /// Every term was summed exactly.
  bool exact() const { return out_of_range == 0; }
  void normalise() {
    hi += lo >> kFractionBits;  // arithmetic shift: floor division
    lo &= (std::int64_t{1} << kFractionBits) - 1;
  }
  ExactSum& operator+=(const ExactSum& o) {
    hi += o.hi;
    lo += o.lo;
    out_of_range += o.out_of_range;
    normalise();
    return *this;
  }
  friend ExactSum operator-(ExactSum a, const ExactSum& b) {
    a.hi -= b.hi;
    a.lo -= b.lo;
    a.out_of_range += b.out_of_range;
    a.normalise();
    return a;
  }
  /// The sum; NaN when a term was out of range.
  double value() const {
    if (!exact()) return std::numeric_limits<double>::quiet_NaN();
    return static_cast<double>(hi) + static_cast<double>(lo) * 0x1.0p-40;
  }
  /// The sum over the ranks of `comm` (integer all-reduce: exact).
  ExactSum allreduce(MPI_Comm comm) const {
    std::int64_t in[3] = {hi, lo, out_of_range}, out[3] = {0, 0, 0};
    MPI_Allreduce(in, out, 3, MPI_INT64_T, MPI_SUM, comm);
    return from_parts(out[0], out[1], out[2]);
  }
};

/// One Kokkos reduction of ExactSum's three parts (a custom reducer as Kokkos::Sum is
/// written, valid for Kokkos 3.x and 4.x): integer parts with carries, fraction remainders,
/// the out-of-range count, summed as integers.
struct ExactSumParts {
  std::int64_t hi, lo, out_of_range;
};

struct ExactSumReducer {
  using reducer = ExactSumReducer;
  using value_type = ExactSumParts;
  using result_view_type = Kokkos::View<value_type, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>;

  KOKKOS_INLINE_FUNCTION explicit ExactSumReducer(value_type& v) : value_(&v) {}
  KOKKOS_INLINE_FUNCTION void join(value_type& dest, const value_type& src) const {
    dest.hi += src.hi;
    dest.lo += src.lo;
    dest.out_of_range += src.out_of_range;
  }
#if KOKKOS_VERSION < 40000
  KOKKOS_INLINE_FUNCTION void join(volatile value_type& dest, const volatile value_type& src) const {
    dest.hi += src.hi;
    dest.lo += src.lo;
    dest.out_of_range += src.out_of_range;
  }
#endif
  KOKKOS_INLINE_FUNCTION void init(value_type& v) const { v.hi = v.lo = v.out_of_range = 0; }
  KOKKOS_INLINE_FUNCTION value_type& reference() const { return *value_.data(); }
  KOKKOS_INLINE_FUNCTION result_view_type view() const { return value_; }
  KOKKOS_INLINE_FUNCTION bool references_scalar() const { return true; }

 private:
  result_view_type value_;
};

}  // namespace phyflow::lattice
